"""The debugger's commands, and ``portflow start --debug`` / ``test --debug`` driven for real: through a
pty (prompt_toolkit's prompt: completion, history) and through a pipe (commands read line by line)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import urllib.request
from pathlib import Path

import aiohttp
import pexpect
import pytest
from pexpect.popen_spawn import PopenSpawn

from portflow.cli.debug_prompt import Commands
from portflow.debugger import Debugger
from portflow.redact import secret_texts
from support.debugging import SLOW_AND_FAST, held

from .conftest import ROOT
from .test_start import free_port

PORTFLOW = str(Path(sys.executable).with_name("portflow"))
SECRET = "sk-live-0123456789"
TOKEN = "Bearer tok-abcdef-987654"

LEAKY = SLOW_AND_FAST.replace("code: slow answer", "code: 'slow {{ .KEY }}'\n  env:\n    KEY:\n      - name: api-key\n"
                                                   "        data: '{{ . }}'")
VALUES = f"- name: api-key\n  data: {SECRET}\n"


def commands_for(runtime, debugger: Debugger) -> Commands:
    async def secrets() -> list[str]:
        return [t for v in await runtime.store.values.find({}) for t in secret_texts(v.get("data"))]

    return Commands(debugger, secrets)


async def test_commands_show_uniflow_shapes_with_secrets_masked(flow):
    runtime = await flow(LEAKY, values=VALUES)
    url = runtime.table.lookup("default", "http").node.url
    debugger = Debugger(runtime.table).attach()
    commands = commands_for(runtime, debugger)
    try:
        text, quit = await commands.execute("b router out[0]")
        assert not quit and json.loads(text)["port"] == "out[0]"
        async with aiohttp.ClientSession() as client:
            slow = asyncio.ensure_future(client.get(f"{url}/slow", headers={"Authorization": TOKEN}))
            pause = await held(debugger)
            announced = await commands.announcement(pause)
            assert announced.startswith(f"breakpoint 1: process {pause.process.id} held at router out[0] -> slow in\n")
            frame = json.loads((await commands.execute("frm"))[0])
            assert frame["input"]["header"]["Authorization"] == ["***"] and TOKEN not in announced
            # The symbol's spec has the value bound into it; shown masked.
            shown, _ = await commands.execute("symbol")
            assert SECRET not in shown and "slow ***" in shown and json.loads(shown)["name"] == "slow"
            procs, _ = await commands.execute("procs")
            assert procs.splitlines()[0].split()[:2] == ["ID", "STATUS"] and pause.process.id in procs
            frames, _ = await commands.execute(f"frms {pause.process.id}")
            assert len(frames.splitlines()) == 3 and "tok-abcdef" not in frames
            assert json.loads((await commands.execute("proc"))[0])["id"] == pause.process.id
            assert (await commands.execute("c"))[0] == f"resumed process {pause.process.id}"
            async with await slow as resp:
                assert await resp.text() == f"slow {SECRET}"  # the flow itself sees the value
        # The symbols' specs have the value bound into them: every listing shows it masked.
        everything = "\n".join([(await commands.execute(c))[0] for c in ("sbs", "bps", "bp 1")])
        assert SECRET not in everything and "slow ***" in everything
        header, row = (line.split() for line in (await commands.execute("bps"))[0].splitlines())
        assert dict(zip(header, row, strict=True)) == {"ID": "1", "HITS": "1", "PORT": "out[0]", "SYMBOL": "router",
                                                       "SYMBOL_ID": runtime.table.lookup("default", "router").id}
        assert (await commands.execute("frame"))[0].startswith("nothing is held")
        assert (await commands.execute("d 7"))[0] == "error: breakpoint '7' not found ('breakpoints' lists them)"
        assert (await commands.execute("d 1"))[0] == "deleted breakpoint 1"
        assert (await commands.execute("bps"))[0] == "no breakpoints"
        assert (await commands.execute("sb nobody"))[0] == "error: symbol 'nobody' not found ('symbols' lists them)"
        assert (await commands.execute("jump"))[0] == "error: unknown command 'jump'; 'help' lists the commands"
        assert (await commands.execute("q")) == ("", True)
    finally:
        debugger.close()


async def test_completion_offers_commands_symbols_ports_and_ids(flow):
    runtime = await flow(SLOW_AND_FAST)
    debugger = Debugger(runtime.table).attach()
    commands = commands_for(runtime, debugger)
    try:
        assert list(commands.completions([], "break")) == ["break", "breakpoints", "breakpoint"]
        assert list(commands.completions(["b"], "")) == ["fast", "http", "router", "slow"]
        assert list(commands.completions(["break", "router"], "o")) == ["out[0]", "out[1]"]
        await commands.execute("break slow")
        assert list(commands.completions(["delete"], "")) == ["1"]
    finally:
        debugger.close()


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env.update(PORTFLOW_DATABASE_URL=f"sqlite:///{tmp_path / 'portflow.db'}", PROMPT_TOOLKIT_NO_CPR="1",
               TERM="xterm", COLUMNS="200", LINES="50")
    return env


def fetch(url: str, headers: dict[str, str] | None = None) -> str:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as resp:
        return resp.read().decode()


def test_start_debug_through_a_real_pty(tmp_path):
    port = free_port()
    specs = tmp_path / "flow.yaml"
    specs.write_text(SLOW_AND_FAST.replace("port: 0", f"port: {port}"))
    child = pexpect.spawn(PORTFLOW, ["start", "--from-specs", str(specs), "--debug"], cwd=str(tmp_path),
                          env=environment(tmp_path), encoding="utf-8", timeout=30, dimensions=(50, 200))
    try:
        child.expect_exact("'help' lists the commands")
        child.expect_exact("(debug)")
        child.send("b sl\t")  # completed to the symbol's name, drawn once done
        child.expect_exact("ow")
        child.send("\r")
        child.expect_exact('"symbol": "slow"')
        answers: dict[str, str] = {}
        request = threading.Thread(target=lambda: answers.update(slow=fetch(f"http://127.0.0.1:{port}/slow",
                                                                           {"Authorization": TOKEN})), daemon=True)
        request.start()
        child.expect(r"breakpoint 1: process (\S+) held at router out\[0\] -> slow in")
        process_id = child.match.group(1)
        # Held: another request flows past, answered at once.
        assert fetch(f"http://127.0.0.1:{port}/fast") == "fast answer"
        assert "slow" not in answers
        child.send("frame\r")
        child.expect_exact('"path": "/slow"')
        child.expect_exact('"Authorization": [')
        child.expect_exact('"***"')
        child.send("procs\r")
        child.expect_exact(process_id)
        child.send("c\r")
        child.expect_exact(f"resumed process {process_id}")
        request.join(timeout=30)
        assert answers == {"slow": "slow answer"}
        child.send("\x1b[A\r")  # history: the last command again
        child.expect_exact("nothing is held")
        # quit while a hop is held: it is let go, answered, and the runtime closes cleanly.
        again = threading.Thread(target=lambda: answers.update(again=fetch(f"http://127.0.0.1:{port}/slow")), daemon=True)
        again.start()
        child.expect_exact("held at router out[0] -> slow in")
        child.send("q\r")
        child.expect_exact("shutting down")
        child.expect(pexpect.EOF)
        again.join(timeout=30)
        assert answers["again"] == "slow answer"
        assert TOKEN not in child.before
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before


def test_start_debug_reads_commands_line_by_line_when_stdin_is_not_a_terminal(tmp_path):
    port = free_port()
    specs = tmp_path / "flow.yaml"
    specs.write_text(SLOW_AND_FAST.replace("port: 0", f"port: {port}"))
    child = PopenSpawn([PORTFLOW, "start", "--from-specs", str(specs), "--debug"], cwd=str(tmp_path),
                       env=environment(tmp_path), encoding="utf-8", timeout=30)
    child.expect_exact("'help' lists the commands")
    child.sendline("break fast")
    child.expect_exact('"symbol": "fast"')
    answers: dict[str, str] = {}
    request = threading.Thread(target=lambda: answers.update(fast=fetch(f"http://127.0.0.1:{port}/fast")), daemon=True)
    request.start()
    child.expect_exact("held at router out[1] -> fast in")
    child.sendline("delete")
    child.expect_exact("deleted breakpoint 1")
    request.join(timeout=30)
    assert answers == {"fast": "fast answer"}
    child.sendeof()  # the end of input is quit
    child.expect(pexpect.EOF)
    assert child.wait() == 0


def test_sigterm_stops_a_debugged_start_and_lets_held_hops_go(tmp_path):
    port = free_port()
    specs = tmp_path / "flow.yaml"
    specs.write_text(SLOW_AND_FAST.replace("port: 0", f"port: {port}"))
    child = PopenSpawn([PORTFLOW, "start", "--from-specs", str(specs), "--debug"], cwd=str(tmp_path),
                       env=environment(tmp_path), encoding="utf-8", timeout=30)
    child.expect_exact("'help' lists the commands")
    child.sendline("break")
    child.expect_exact('"hits": 0')
    answers: dict[str, str] = {}
    request = threading.Thread(target=lambda: answers.update(fast=fetch(f"http://127.0.0.1:{port}/fast")), daemon=True)
    request.start()
    child.expect_exact("held at http out -> router in")
    child.kill(signal.SIGTERM)
    child.expect(pexpect.EOF)
    request.join(timeout=30)
    assert answers == {"fast": "fast answer"}
    assert child.wait() == 0


def spawn_test_debug(tmp_path: Path) -> PopenSpawn:
    """``portflow test --debug`` on the hello example, through pipes, once its prompt is ready."""
    child = PopenSpawn([PORTFLOW, "test", "--from-specs", str(ROOT / "examples" / "hello_test.yaml"), "--debug"],
                       cwd=str(tmp_path), env=environment(tmp_path), encoding="utf-8", timeout=30)
    child.expect_exact("the tests run at 'continue'")
    return child


def test_test_debug_runs_the_tests_at_continue_and_stops_at_breakpoints(tmp_path):
    child = spawn_test_debug(tmp_path)
    child.sendline("break greet")
    child.expect_exact('"symbol": "greet"')
    child.sendline("continue")
    child.expect_exact("running the tests")
    child.expect_exact("held at request out -> greet in")
    child.expect_exact('"name": "portflow"')
    child.sendline("continue")
    child.expect(r"PASS\tdefault/hello\t")
    child.expect_exact("1 passed, 0 failed")
    child.expect(pexpect.EOF)
    assert child.wait() == 0


def test_quit_before_the_tests_ran_fails_the_run(tmp_path):
    child = spawn_test_debug(tmp_path)
    child.sendline("quit")
    child.expect(pexpect.EOF)
    assert child.wait() == 1
    assert "PASS" not in child.before


@pytest.mark.parametrize("workers", ["2", "auto"])
def test_debug_refuses_workers(cli, workers):
    result = cli("start", "--debug", "--workers", workers)
    assert result.exit_code == 2
    assert "the debugger runs one runtime: use it without --workers" in result.output
