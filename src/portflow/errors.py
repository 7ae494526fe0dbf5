"""One exception tree for the whole engine.

::

    PortflowError                 everything portflow raises on purpose
    ├── UserError                 the user's mistake: fix the input and try again (CLI exit 1)
    │   ├── DocumentError         a YAML/JSON file that does not parse (FILE:LINE: message)
    │   ├── SpecError             a spec that does not validate: names the spec, its kind and the field
    │   ├── BindError             an env entry that names a value that does not exist
    │   ├── TemplateError         a {{ }} template that does not parse
    │   ├── CompileError          a snippet, expression or pattern that does not compile
    │   └── ConfigError           a bad setting or an unknown settings key
    ├── StoreError                the store failed (cannot open, lost connection, I/O)
    │   ├── ConflictError         a duplicate id, or a duplicate (namespace, name)
    │   └── NotFoundError         a document that should exist does not
    └── FlowError                 an error travelling as a packet payload (errors are data)
        ├── FlowTimeout           a node or snippet ran past its timeout
        └── DroppedPacket         a packet whose process ended before it was answered

A ``FlowError`` is what a node answers when its action fails; it travels through ports like any payload
and ends up at an ``error`` port, or upstream (a listener answers 500, a test fails). Programming errors
(bugs) are plain Python exceptions and are never caught silently.
"""

from __future__ import annotations


class PortflowError(Exception):
    """The root of every error portflow raises on purpose."""


class UserError(PortflowError):
    """The user's input is wrong. The message is one line, fit for a CLI user.

    ``subject`` names the spec the error is about (``spec 'x' (kind k)``), empty when it is about none;
    when set, the message starts with it. ``scheme.spec_error`` builds these for a spec's field.
    """

    subject: str = ""


class DocumentError(UserError):
    """A YAML or JSON document that does not parse."""

    def __init__(self, message: str, *, filename: str | None = None, line: int | None = None) -> None:
        self.filename = filename
        self.line = line
        where = filename or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


class SpecError(UserError):
    """A spec that fails validation. ``subject`` names it; ``problems`` holds one line per problem,
    each starting with the field path (``routes[2].path: must start with '/'``)."""

    def __init__(self, subject: str, problems: list[str] | str) -> None:
        self.subject = subject
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(f"{subject}: " + "; ".join(self.problems))


class BindError(UserError):
    """An env entry names a value that the store does not hold."""


class TemplateError(UserError):
    """A ``{{ }}`` template that does not parse."""


class CompileError(UserError):
    """Code, an expression or a pattern in a spec that does not compile. A language raises it with its
    own message; a codec names the spec with ``subject`` (the message then starts with it)."""

    def __init__(self, message: str, *, subject: str = "") -> None:
        self.subject = subject
        super().__init__(f"{subject}: {message}" if subject else message)


class ConfigError(UserError):
    """A bad setting: unknown key, wrong type, unreadable file."""


class StoreError(PortflowError):
    """The store failed: it cannot be opened, or an operation on it failed."""


class ConflictError(StoreError):
    """A document with the same id, or the same (namespace, name), already exists."""


class RevisionConflict(ConflictError):
    """A write expected a document at one revision, and the store holds another (``actual``; None: none)."""

    def __init__(self, message: str, ident: str = "", expected: int = 0, actual: int | None = None) -> None:
        super().__init__(message)
        self.ident = ident
        self.expected = expected
        self.actual = actual


class NotFoundError(StoreError):
    """A document that should exist does not."""


class FlowError(PortflowError):
    """An error travelling as a packet payload. Its text is its message."""


class FlowTimeout(FlowError):
    """A node or snippet ran past its ``timeout``."""


class DroppedPacket(FlowError):
    """A packet whose process ended before anybody answered it."""

    def __init__(self, message: str = "dropped packet") -> None:
        super().__init__(message)
