"""The debugger's prompt (``start --debug``, ``test --debug``): uniflow's commands over a ``Debugger``.

On a terminal the prompt is prompt_toolkit's, on the runtime's own event loop (``prompt_async`` under
``patch_stdout``, so log lines and breakpoint hits print above the line being typed), with history and
completion of commands, symbol names, ports, breakpoint and process ids. When stdin is not a terminal
the commands are read line by line, without a prompt, and the answers printed (for scripts). End of
input, Ctrl-C and Ctrl-D at the prompt are ``quit``. Every answer is shown with the namespace's values
(its secrets) masked and credential headers hidden.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ..debugger import Debugger, Pause, port_names
from ..errors import PortflowError, UserError
from ..redact import redact, secret_texts
from .common import docs_table

__all__ = ["debugging", "Commands", "COMMANDS", "PROMPT"]

T = TypeVar("T")
PROMPT = "(debug) "


@dataclass(frozen=True)
class Command:
    name: str
    alias: str
    usage: str
    help: str


COMMANDS = [
    Command("break", "b", "break [SYMBOL [PORT]]", "stop hops: every hop, a symbol's, or one of its ports'"),
    Command("continue", "c", "continue", "resume the held hop (test --debug: the first one runs the tests)"),
    Command("delete", "d", "delete [BP-ID]", "delete a breakpoint (the current one by default); resumes its hops"),
    Command("breakpoints", "bps", "breakpoints", "list the breakpoints"),
    Command("breakpoint", "bp", "breakpoint [BP-ID]", "show a breakpoint (the current one by default)"),
    Command("symbols", "sbs", "symbols", "list the symbols (the namespace's specs)"),
    Command("symbol", "sb", "symbol [NAME|ID]", "show a symbol (the held hop's by default)"),
    Command("processes", "procs", "processes", "list the running processes"),
    Command("process", "proc", "process [ID]", "show a process (the held one by default)"),
    Command("frame", "frm", "frame", "show the held hop: the packet it carries"),
    Command("frames", "frms", "frames [PROC-ID]", "list a process's hops (the held one's by default)"),
    Command("help", "h", "help", "list the commands"),
    Command("quit", "q", "quit", "stop the debugger and the runtime"),
]
_BY_WORD = {word: c.name for c in COMMANDS for word in (c.name, c.alias)}

NOTHING_HELD = "nothing is held: set a breakpoint with 'break', then send a request"


def _json(value: Any) -> str:
    return json.dumps(value, indent=4, ensure_ascii=False, default=str)


class Commands:
    """Runs one command line and returns the text to print; every text goes through ``mask``."""

    def __init__(self, debugger: Debugger, secrets: Callable[[], Awaitable[list[str]]],
                 on_continue: Callable[[], bool] | None = None) -> None:
        self.debugger = debugger
        self.secrets = secrets
        #: Called by ``continue`` when nothing is held; returns whether it did something (started tests).
        self.on_continue = on_continue

    async def mask(self, text: str) -> str:
        return redact(text, await self.secrets())

    async def execute(self, line: str) -> tuple[str, bool]:
        """(text, quit) for one command line."""
        words = line.split()
        if not words:
            return "", False
        name = _BY_WORD.get(words[0])
        if name is None:
            return f"error: unknown command {words[0]!r}; 'help' lists the commands", False
        if name == "quit":
            return "", True
        try:
            text = await self.mask(getattr(self, "do_" + name)(words[1:]))
        except PortflowError as exc:  # a mistake in the command, or the store failing to give the values
            text = await self.mask(f"error: {exc}") if isinstance(exc, UserError) else f"error: {exc}"
        return text, False

    async def announcement(self, pause: Pause) -> str:
        """What a hop held by a breakpoint prints when it becomes the current one."""
        head = f"breakpoint {pause.breakpoint.id}: process {pause.process.id} held at {pause.where()}"
        return await self.mask(head + "\n" + _json(self.debugger.frame(pause)))

    # -- the commands -------------------------------------------------------------------------------
    def do_help(self, args: list[str]) -> str:
        usage, alias = max(len(c.usage) for c in COMMANDS), max(len(c.alias) for c in COMMANDS) + 2
        return "\n".join(f"{c.usage.ljust(usage)}  {f'({c.alias})'.ljust(alias)}  {c.help}" for c in COMMANDS)

    def do_break(self, args: list[str]) -> str:
        if not args:
            found = [self.debugger.add()]
        else:
            symbols = self._symbols(args[0])
            found = [self.debugger.add(sb, args[1] if len(args) > 1 else None) for sb in symbols]
        bps = [bp for bp, _ in found]
        if len(bps) == 1:
            return _json(bps[0].row())
        return docs_table([bp.row() for bp in bps])

    def do_continue(self, args: list[str]) -> str:
        pause = self.debugger.resume()
        if pause is not None:
            return f"resumed process {pause.process.id}"
        if self.on_continue is not None and self.on_continue():
            return "running the tests"
        return NOTHING_HELD

    def do_delete(self, args: list[str]) -> str:
        bp = self._breakpoint(args)
        self.debugger.remove(bp)
        return f"deleted breakpoint {bp.id}"

    def do_breakpoints(self, args: list[str]) -> str:
        rows = [bp.row() for bp in self.debugger.breakpoints]
        return docs_table(rows) if rows else "no breakpoints"

    def do_breakpoint(self, args: list[str]) -> str:
        return _json(self._breakpoint(args).row())

    def do_symbols(self, args: list[str]) -> str:
        rows = [sb.doc for sb in self.debugger.table]
        return docs_table(rows) if rows else "no symbols"

    def do_symbol(self, args: list[str]) -> str:
        if args:
            symbols = self._symbols(args[0])
        else:
            current = self.debugger.current
            if current is None or current.hop.symbol is None:
                return NOTHING_HELD
            symbols = [current.hop.symbol]
        return _json(symbols[0].doc) if len(symbols) == 1 else docs_table([sb.doc for sb in symbols])

    def do_processes(self, args: list[str]) -> str:
        rows = self.debugger.agent.process_rows()
        return docs_table(rows) if rows else "no processes"

    def do_process(self, args: list[str]) -> str:
        from ..plugins.system.agent import process_row

        return _json(process_row(self._process(args)))

    def do_frame(self, args: list[str]) -> str:
        frame = self.debugger.frame()
        return NOTHING_HELD if frame is None else _json(frame)

    def do_frames(self, args: list[str]) -> str:
        rows = self.debugger.agent.frame_rows(self._process(args).id)
        return docs_table(rows) if rows else "no frames"

    # -- arguments ----------------------------------------------------------------------------------
    def _symbols(self, key: str) -> list[Any]:
        symbols = self.debugger.find_symbols(key)
        if not symbols:
            raise UserError(f"symbol {key!r} not found ('symbols' lists them)")
        return symbols

    def _breakpoint(self, args: list[str]) -> Any:
        if not args:
            current = self.debugger.current
            if current is None:
                raise UserError("no current breakpoint: give its id ('breakpoints' lists them)")
            return current.breakpoint
        bp = self.debugger.get(int(args[0])) if args[0].isdigit() else None
        if bp is None:
            raise UserError(f"breakpoint {args[0]!r} not found ('breakpoints' lists them)")
        return bp

    def _process(self, args: list[str]) -> Any:
        if not args:
            current = self.debugger.current
            if current is None:
                raise UserError("no held process: give its id ('processes' lists them)")
            return current.process
        proc = self.debugger.process(args[0])
        if proc is None:
            raise UserError(f"process {args[0]!r} not found ('processes' lists them)")
        return proc

    # -- completion ---------------------------------------------------------------------------------
    def completions(self, words: list[str], current: str) -> Iterable[str]:
        """The words that may come next: ``words`` are the finished ones, ``current`` the one being typed."""
        if not words:
            return [c.name for c in COMMANDS if c.name.startswith(current)]
        name, index = _BY_WORD.get(words[0]), len(words)
        candidates: Iterable[str] = ()
        if name in ("break", "symbol") and index == 1:
            candidates = sorted({sb.name or sb.id for sb in self.debugger.table})
        elif name == "break" and index == 2:
            found = self.debugger.find_symbols(words[1])
            candidates = port_names(found[0]) if found else ()
        elif name in ("delete", "breakpoint") and index == 1:
            candidates = [str(bp.id) for bp in self.debugger.breakpoints]
        elif name in ("process", "frames") and index == 1:
            candidates = list(self.debugger.agent.processes)
        return [c for c in candidates if c.startswith(current)]


# -- running the prompt beside the work --------------------------------------------------------------
async def debugging(runtime: Any, work: Callable[[], Awaitable[T]], *,
                    hold: bool = False) -> tuple[bool, T | None]:
    """Serve the debugger's prompt over ``runtime`` while ``work`` runs; (quit, work's result or None).

    ``hold``: ``work`` starts only at the first ``continue`` (``test --debug``: set breakpoints first).
    ``quit`` cancels ``work``; ``work`` ending closes the prompt. Either way every held hop is resumed and
    the debugger unsubscribed before this returns, so the runtime can close cleanly.
    """
    debugger = Debugger(runtime.table).attach()
    go = asyncio.Event()
    if not hold:
        go.set()

    def start_work() -> bool:
        started = not go.is_set()
        go.set()
        return started

    async def secrets() -> list[str]:
        values = await runtime.store.values.find({"namespace": runtime.namespace})
        return [t for v in values for t in secret_texts(v.get("data"))]

    commands = Commands(debugger, secrets, on_continue=start_work if hold else None)
    banner = (f"debugging namespace {runtime.namespace!r}: {len(runtime.table)} symbol(s); "
              f"'help' lists the commands")
    if hold:
        banner += "; the tests run at 'continue'"

    async def working() -> T:
        await go.wait()
        return await work()

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    job = asyncio.ensure_future(working())
    prompt = asyncio.ensure_future(_interactive(commands, banner) if interactive else _scripted(commands, banner))
    try:
        await asyncio.wait({job, prompt}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        debugger.close()  # resume every held hop first, so what is cancelled next can unwind
        for task in (job, prompt):
            task.cancel()
        await asyncio.wait({job, prompt})
    if not prompt.cancelled() and prompt.exception() is not None:
        raise prompt.exception()  # type: ignore[misc]
    if job.cancelled():
        return True, None
    return False, job.result()


async def _announcing(commands: Commands, write: Callable[[str], None]) -> None:
    """Print each held hop when it becomes the current one."""
    debugger, shown = commands.debugger, None
    while True:
        await debugger.changed()
        current = debugger.current
        if current is not None and current is not shown:
            shown = current
            write(await commands.announcement(current))


async def _interactive(commands: Commands, banner: str) -> None:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import InMemoryHistory
    from prompt_toolkit.patch_stdout import patch_stdout

    session: PromptSession[str] = PromptSession(PROMPT, completer=_completer(commands), history=InMemoryHistory(),
                                                complete_while_typing=False)
    with patch_stdout(), _logs_above_the_prompt():
        print(banner)
        async with asyncio.TaskGroup() as group:
            announcer = group.create_task(_announcing(commands, print))
            try:
                while True:
                    try:
                        line = await session.prompt_async()
                    except (EOFError, KeyboardInterrupt):
                        return
                    text, quit = await commands.execute(line)
                    if text:
                        print(text)
                    if quit:
                        return
            finally:
                announcer.cancel()


async def _scripted(commands: Commands, banner: str) -> None:
    """Commands from a stdin that is not a terminal, one per line; the answers to stdout."""
    def write(text: str) -> None:
        print(text, flush=True)

    write(banner)
    lines = _stdin_lines()
    async with asyncio.TaskGroup() as group:
        announcer = group.create_task(_announcing(commands, write))
        try:
            while (line := await lines.get()) is not None:
                text, quit = await commands.execute(line)
                if text:
                    write(text)
                if quit:
                    return
        finally:
            announcer.cancel()


def _stdin_lines() -> asyncio.Queue[str | None]:
    """stdin's lines, then None at its end, read by a daemon thread (a blocked read never holds up the exit)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="portflow-debug-stdin", daemon=True).start()
    return queue


def _completer(commands: Commands) -> Any:
    from prompt_toolkit.completion import Completer, Completion

    class DebugCompleter(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterator[Completion]:
            text = document.text_before_cursor
            words = text.split()
            current = "" if not words or text[-1:].isspace() else words.pop()
            for word in commands.completions(words, current):
                yield Completion(word, start_position=-len(current))

    return DebugCompleter()


@contextlib.contextmanager
def _logs_above_the_prompt() -> Iterator[None]:
    """Point the log handlers that write to stderr at the patched stderr, so lines print above the prompt."""
    handlers = [h for h in logging.getLogger().handlers
                if isinstance(h, logging.StreamHandler) and h.stream in (sys.__stderr__, sys.__stdout__)]
    previous = [h.setStream(sys.stderr) for h in handlers]
    try:
        yield
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)
