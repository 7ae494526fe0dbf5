"""snippet: a program's return value is the output; what it raises goes to error (uniflow-semantics §8, §9)."""

from __future__ import annotations

import asyncio

import pytest

from portflow.config import RuntimeSettings
from portflow.errors import CompileError, FlowError, FlowTimeout, SpecError
from portflow.plugins.ctrl._support import with_timeout
from portflow.plugins.ctrl.snippet import SnippetNode


async def test_the_return_value_is_the_output(send, recorder):
    node = SnippetNode(lambda payload: {"echo": payload})
    sink = recorder()
    node.out_port.link(sink.in_port)
    assert await send(node, 1) == {"echo": 1}
    assert sink.seen == [{"echo": 1}]


async def test_a_coroutine_program(send):
    async def program(payload):
        await asyncio.sleep(0)
        return payload * 2

    assert await send(SnippetNode(program), 21) == 42


async def test_returning_null_outputs_null(send, recorder):
    node = SnippetNode(lambda payload: None)
    sink = recorder()
    node.out_port.link(sink.in_port)
    assert await send(node, "x") is None
    assert sink.seen == [None]


async def test_a_raised_error_goes_to_error(send, recorder):
    def program(payload):
        raise FlowError("nope")

    node = SnippetNode(program)
    handler = recorder(lambda e: f"handled {e}")
    node.error_port.link(handler.in_port)
    assert await send(node, 1) == "handled nope"


async def test_timeout_names_the_node(send):
    async def slow(payload):
        await asyncio.sleep(10)

    node = SnippetNode(with_timeout(slow, 0.02, "spec 'slow' (kind snippet)"))
    answer = await send(node, 1)
    assert isinstance(answer, FlowTimeout)
    assert str(answer) == "spec 'slow' (kind snippet): timeout after 20ms"


# -- through the codec, with the real languages -----------------------------------------------------

@pytest.mark.parametrize(("language", "code", "payload", "output"), [
    ("text", "pong", None, "pong"),
    ("json", '{"a": [1, 2]}', "ignored", {"a": [1, 2]}),
    ("yaml", "a: 1", None, {"a": 1}),
    ("cel", "self + 1", 41, 42),
    ("cel", "a + b", {"a": 1, "b": 2}, 3),
    ("javascript", "export default function (args) { return args.x * 2 }", {"x": 21}, 42),
    ("typescript", "export default function (args) { return args.x + 1 }", {"x": 1}, 2),
    ("typescript", "export default function (args: {x: number}): number { return args.x! + 1 }", {"x": 1}, 2),
    ("python", "self['x'] * 2", {"x": 21}, 42),
    ("python", "def main(self):\n    return [self, self]\n", 1, [1, 1]),
])
async def test_languages(build, send, language, code, payload, output):
    node = build({"kind": "snippet", "language": language, "code": code})
    assert await send(node, payload) == output


async def test_a_thrown_javascript_error_goes_to_error(build, send):
    node = build({"kind": "snippet", "language": "javascript",
                  "code": "export default function () { throw new Error('bad input') }"})
    answer = await send(node, 1)
    assert isinstance(answer, FlowError) and "bad input" in str(answer)


async def test_spec_timeout_bounds_the_program(build, send):
    node = build({"kind": "snippet", "name": "spin", "language": "javascript", "timeout": "50ms",
                  "code": "export default function () { while (true) {} }"})
    answer = await send(node, 1)
    assert isinstance(answer, FlowTimeout)
    assert "spec 'spin' (kind snippet)" in str(answer) and "timeout after 50ms" in str(answer)


@pytest.mark.parametrize(("language", "code"), [
    ("json", "{not json"),
    ("cel", "1 +"),
    ("javascript", "export default function ( {"),
    ("typescript", "export default function (a: ) { return a }"),
])
def test_code_that_does_not_compile_fails_the_spec_naming_the_field(build, language, code):
    with pytest.raises((CompileError, SpecError), match=r"^spec 'bad' \(kind snippet\): code: .+"):
        build({"kind": "snippet", "name": "bad", "language": language, "code": code})


def test_an_unknown_language_names_the_language_field(build):
    with pytest.raises(CompileError, match=r"^spec 'bad' \(kind snippet\): language: unknown language 'cobol'; known "
                                           r"languages: .*cel"):
        build({"kind": "snippet", "name": "bad", "language": "cobol", "code": "x"})


def test_language_and_code_are_required(build):
    with pytest.raises(SpecError, match=r"code: required"):
        build({"kind": "snippet", "language": "text"})
    with pytest.raises(SpecError, match=r"language: required"):
        build({"kind": "snippet", "code": "x"})


# -- how the codec maps a registry's answers, with a stand-in registry ------------------------------

class StandIn:
    """A languages registry with one language, ``py``: ``code`` is a Python expression over ``x``."""

    def __init__(self) -> None:
        self.timeouts: list = []

    def __contains__(self, name):
        return name == "py"

    def names(self):
        return ["py"]

    def compile(self, name, code, timeout=None):
        self.timeouts.append(timeout)
        try:
            compiled = compile(code, "<code>", "eval")
        except SyntaxError as exc:
            raise CompileError(f"{exc.msg} at line {exc.lineno}, column {exc.offset}") from None

        async def program(payload):
            if code == "timeout":
                raise FlowTimeout("timed out")
            return eval(compiled, {"x": payload})

        return program


def stand_in_context():
    from portflow.plugins.ctrl import register
    from portflow.scheme import Context, Scheme

    scheme = Scheme()
    register(scheme)
    return Context(scheme=scheme, languages=StandIn())


async def test_codec_runs_the_compiled_program_with_the_spec_timeout(send):
    ctx = stand_in_context()
    node = ctx.scheme.compile(ctx.scheme.decode({"kind": "snippet", "language": "py", "code": "x + 1",
                                                 "timeout": "2s"}), ctx)
    assert await send(node, 1) == 2
    assert ctx.languages.timeouts == [2.0]


def test_codec_names_the_field_and_keeps_the_compilers_position():
    ctx = stand_in_context()
    spec = ctx.scheme.decode({"kind": "snippet", "name": "s", "language": "py", "code": "x +"})
    with pytest.raises(CompileError, match=r"^spec 's' \(kind snippet\): code: invalid syntax at line 1, column"):
        ctx.scheme.compile(spec, ctx)


def test_codec_names_the_language_field_for_an_unknown_language():
    ctx = stand_in_context()
    spec = ctx.scheme.decode({"kind": "snippet", "name": "s", "language": "cobol", "code": "x"})
    with pytest.raises(CompileError, match=r"^spec 's' \(kind snippet\): language: unknown language 'cobol'; "
                                           r"known languages: py$"):
        ctx.scheme.compile(spec, ctx)


def test_expression_kinds_use_the_default_language_of_the_context():
    ctx = stand_in_context()
    ctx.settings = RuntimeSettings(language="py")
    node = ctx.scheme.compile(ctx.scheme.decode({"kind": "if", "when": "x > 1"}), ctx)
    assert node is not None
    ctx.settings = RuntimeSettings(language="cel")
    with pytest.raises(CompileError, match=r"^spec \(kind if\): language: unknown language 'cel' "
                                           r"\(the runtime's default language\)"):
        ctx.scheme.compile(ctx.scheme.decode({"kind": "if", "when": "x > 1"}), ctx)


async def test_a_languages_own_timeout_is_renamed_after_the_node(send):
    ctx = stand_in_context()
    node = ctx.scheme.compile(ctx.scheme.decode({"kind": "snippet", "name": "slow", "language": "py",
                                                 "code": "timeout"}), ctx)
    answer = await send(node, 1)
    assert isinstance(answer, FlowTimeout) and str(answer) == "spec 'slow' (kind snippet): timed out"


def test_no_registry_is_a_compile_error():
    from portflow.plugins.ctrl import register
    from portflow.scheme import Context, Scheme

    scheme = Scheme()
    register(scheme)
    with pytest.raises(CompileError, match="no languages are registered"):
        scheme.compile(scheme.decode({"kind": "snippet", "language": "text", "code": "x"}), Context(scheme))
