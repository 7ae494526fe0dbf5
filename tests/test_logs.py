"""Access lines as the writer thread writes them: the exact text and JSON a user reads, for several methods,
statuses, sizes and paths with odd characters, in order with the other lines, secrets masked."""

from __future__ import annotations

import io
import json
import logging
import re
import time

import pytest

from portflow import logs

ABOUT = {"namespace": "default", "spec": "web", "kind": "listener"}
REQUESTS = [  # (method, path, status, size, seconds)
    ("GET", "/ping", 200, 4, 0.000412),
    ("POST", "/greet", 201, 1234, 0.0125),
    ("HEAD", "/caf\u00e9/\u2603", 404, 0, 1.5),
    ("DELETE", '/a "quoted" \\ path\t%20', 500, None, 0.0),
    ("PATCH", "/x/\u0001ctl", 499, 17, 12.345678),
]


@pytest.fixture
def written():
    """``setup``'s writer on a string stream; ``written()`` flushes and gives its lines."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()

    def lines(fmt: str) -> list[str]:
        logs.flush()
        return stream.getvalue().splitlines()

    def start(fmt: str) -> None:
        logs.setup("info", fmt, stream)

    lines.start = start  # type: ignore[attr-defined]
    yield lines
    logs.stop()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logs._state["format"] = "text"


def _text(method: str, path: str, status: int, size: int | None, seconds: float) -> str:
    return f"INFO    portflow.access: {method} {path} {status} {'-' if size is None else size}B {seconds * 1000:.2f}ms"


def test_text_access_lines_are_exact_and_in_order_with_other_lines(written):
    written.start("text")
    logs.access(*REQUESTS[0], ABOUT)
    logging.getLogger("portflow.test").warning("between %s", "them")
    for request in REQUESTS[1:]:
        logs.access(*request, ABOUT)
    lines = written("text")
    assert len(lines) == len(REQUESTS) + 1
    clock = re.compile(r"\d\d:\d\d:\d\d ")
    assert all(clock.match(line) for line in lines)
    shown = [line[9:] for line in lines]
    assert shown[0] == "INFO    portflow.access: GET /ping 200 4B 0.41ms"
    assert shown[1] == "WARNING portflow.test: between them"
    assert shown[2:] == [_text(*request) for request in REQUESTS[1:]]
    assert shown[4] == 'INFO    portflow.access: DELETE /a "quoted" \\ path\t%20 500 -B 0.00ms'
    assert shown[5] == "INFO    portflow.access: PATCH /x/\u0001ctl 499 17B 12345.68ms"


def test_text_access_lines_show_the_local_time_of_the_request(written):
    written.start("text")
    before = time.time()
    logs.access("GET", "/ping", 200, 4, 0.001, ABOUT)
    after = time.time()
    (line,) = written("text")
    shown = line[:8]
    assert shown in {time.strftime("%H:%M:%S", time.localtime(t)) for t in (before, after)}


def test_json_access_lines_are_exact(written):
    written.start("json")
    for request in REQUESTS:
        logs.access(*request, ABOUT)
    logs.access("GET", "/none", 204, 0, 0.002)  # no fields of a listener
    records = [json.loads(line) for line in written("json")]
    assert len(records) == len(REQUESTS) + 1
    for record, (method, path, status, size, seconds) in zip(records, REQUESTS, strict=False):
        ms = round(seconds * 1000, 3)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record.pop("time"))
        assert record == {
            "level": "info", "logger": "portflow.access",
            "message": f"{method} {path} {status} {'-' if size is None else size}B {ms:.2f}ms",
            **ABOUT, "method": method, "path": path, "status": status, "bytes": size, "duration_ms": ms,
        }
    assert records[-1]["message"] == "GET /none 204 0B 2.00ms" and "spec" not in records[-1]


def test_access_lines_are_scrubbed_of_secrets(written):
    logs.hide(["access-line-secret-7"])
    for fmt in ("text", "json"):
        written.start(fmt)
        logs.access("GET", "/token/access-line-secret-7", 200, 4, 0.001, ABOUT)
        (line,) = written(fmt)[-1:]
        assert "access-line-secret-7" not in line and "/token/***" in line


def test_an_access_line_that_does_not_format_loses_only_itself_and_hides_secrets(written):
    logs.hide(["broken-line-secret-9"])
    written.start("text")
    logs.access("GET", "/before", 200, 4, 0.001, ABOUT)
    logs.access("GET", "/token/broken-line-secret-9", 200, 4, "not a number", ABOUT)  # type: ignore[arg-type]
    logs.access("GET", "/after", 200, 4, 0.001, ABOUT)
    lines = written("text")
    assert [line[9:] for line in (lines[0], lines[2])] == [_text("GET", "/before", 200, 4, 0.001),
                                                          _text("GET", "/after", 200, 4, 0.001)]
    assert lines[1].startswith("unformattable log record: (") and "/token/***" in lines[1]
    assert "broken-line-secret-9" not in "\n".join(lines)
