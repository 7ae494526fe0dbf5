import datetime as dt
from collections.abc import Awaitable

import pytest

from portflow.errors import CompileError, FlowError


async def run(languages, code, payload=None):
    return await languages.compile("cel", code)(payload)


async def test_map_keys_are_variables(languages):
    assert await run(languages, "x + 1", {"x": 1}) == 2
    assert await run(languages, "self.x + y", {"x": 1, "y": 2}) == 3


async def test_self_for_non_maps(languages):
    assert await run(languages, "self * 2", 21) == 42
    assert await run(languages, "size(self)", "héllo") == 5
    assert await run(languages, "self", None) is None


async def test_results_are_plain_python(languages):
    result = await run(languages, "{'a': [1, b'x', null, 2.5, true], 'u': uint(3)}")
    assert result == {"a": [1, b"x", None, 2.5, True], "u": 3}
    assert type(result["a"][1]) is bytes


async def test_extensions(languages):
    assert await run(languages, "'héllo'.upperAscii()") == "HéLLO"
    assert await run(languages, "'a,b'.split(',')") == ["a", "b"]
    assert await run(languages, "math.greatest(1, 5, 3)") == 5
    assert await run(languages, "base64.encode(b'hi')") == "aGk="
    assert await run(languages, "base64.decode('aGk=')") == b"hi"
    assert await run(languages, "math // the namespace, then a comment\n . least([4, 2]) + 1") == 3
    assert await run(languages, "'math.greatest(1)'.upperAscii()") == "MATH.GREATEST(1)"


def test_only_an_expression_naming_math_or_base64_needs_those_extensions():
    from portflow.lang.cel import needs_all

    assert needs_all("math.abs(-1)") and needs_all("x.map(v, base64 . encode(v))") and needs_all("math // c\n.abs(1)")
    assert not needs_all("'math.abs(1)' + name.upperAscii()") and not needs_all("mathx.abs + b // math.abs")


async def test_lists_and_sets(languages):
    assert await run(languages, "lists.range(3)") == [0, 1, 2]
    assert await run(languages, "[[1], [2, [3]]].flatten()") == [1, 2, [3]]
    assert await run(languages, "[[1], [2, [3]]].flatten(2)") == [1, 2, 3]
    assert await run(languages, "[3, 1, 2].sort()") == [1, 2, 3]
    assert await run(languages, "[1, 2, 1].distinct()") == [1, 2]
    assert await run(languages, "[1, 2, 3].slice(1, 3)") == [2, 3]
    assert await run(languages, "sets.contains([1, 2, 3], [2, 3])") is True
    assert await run(languages, "sets.equivalent([1, 2], [2, 1, 1])") is True
    assert await run(languages, "sets.intersects([1], [2])") is False


async def test_datetime_in_and_out(languages):
    t = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert await run(languages, "t + duration('1h')", {"t": t}) == t + dt.timedelta(hours=1)
    assert await run(languages, "t.getFullYear()", {"t": t}) == 2024
    assert await run(languages, "d", {"d": dt.timedelta(seconds=3)}) == dt.timedelta(seconds=3)
    assert await run(languages, "timestamp('2020-01-01T00:00:00Z')") == dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


async def test_missing_key_error(languages):
    with pytest.raises(FlowError) as e:
        await run(languages, "self.z", {})
    assert str(e.value) == 'Key not found in map: "z"'


async def test_unknown_variable_and_runtime_errors(languages):
    with pytest.raises(FlowError, match='^no variable named "y"$'):
        await run(languages, "y", {"x": 1})
    with pytest.raises(FlowError, match="^divide by zero$"):
        await run(languages, "1 / 0")


def test_compile_error_has_position(languages):
    with pytest.raises(CompileError) as e:
        languages.compile("cel", "1 +")
    assert str(e.value).startswith("cel: Syntax error: ")
    assert str(e.value).endswith(" at 1:4")
    assert "\n" not in str(e.value)


async def test_unicode(languages):
    assert await run(languages, "name + ' ✓'", {"name": "Zoë"}) == "Zoë ✓"


async def test_range_is_capped(languages):
    with pytest.raises(FlowError, match="lists.range"):
        await run(languages, "lists.range(100000000)")


async def test_an_error_payload_reads_as_its_message(languages):
    from portflow.errors import FlowError

    program = languages.compile("cel", "'handled: ' + self")
    assert await program(FlowError("boom")) == "handled: boom"


def test_bounded_expressions_run_in_process_and_the_others_do_not(languages):
    from portflow.lang.cel import CelProgram, IsolatedCelProgram

    for code in ("x + 1", "size(self) > 2 && self.startsWith('a')", "'a.map(' + x", "lists.range(3)",
                 "self.exists(i, i > 1)", "body.tags.map(t, t.upperAscii())", "a.map(x, base64.encode(x))"):
        assert isinstance(languages.compile("cel", code), CelProgram), code
    for code in ("[1].map(x, x)", "'a'.replace('a', 'aa')", "cel.bind(a, 1, a)", "a.map(x, b)",
                 "a.map(x, a.map(y, y))", "a.map(x, lists.range(x))", "a.map(x, x).map(y, y)", "m.all(k, v, v)",
                 "r'\\\\' + [1].map(x, x) + 'a\\\\'", "[" + ", ".join(["x + 1"] * 40) + "]"):
        assert isinstance(languages.compile("cel", code), IsolatedCelProgram), code


async def test_a_comprehension_over_a_large_range_runs_in_the_child(languages):
    from portflow.lang import cel, cel_fast

    program = languages.compile("cel", "items.map(i, i * 2)", timeout=10)
    assert isinstance(program.fallback, cel.IsolatedCelProgram)
    small = list(range(cel.MAX_INLINE_RANGE))
    assert not isinstance(program.call({"items": small}), Awaitable)  # answered in-process, at once
    assert await program({"items": small}) == [i * 2 for i in small]
    # the Python fast path is linear: a larger range is answered in-process too ...
    larger = list(range(cel.MAX_INLINE_RANGE + 1))
    assert program.call({"items": larger}) == [i * 2 for i in larger]
    # ... up to its own budget; beyond it, and for a call it is unsure of, cel-cpp answers in the child
    assert cel_fast.MAX_FAST_ITERATIONS == cel.MAX_ITERATIONS
    assert len(program.call({"items": list(range(cel.MAX_ITERATIONS))})) == cel.MAX_ITERATIONS
    pending = program.call({"items": list(range(cel.MAX_ITERATIONS + 1))})
    assert isinstance(pending, Awaitable)  # the child's answer: its memory (cel-cpp's map is quadratic) or budget
    with pytest.raises(FlowError, match=r"^(MemoryError: std::bad_alloc|Iteration budget exceeded)$"):
        await pending
    pending = program.call({"items": [*larger, 0.5]})  # ``double * int`` has no overload: cel-cpp's error
    assert isinstance(pending, Awaitable)
    with pytest.raises(FlowError, match=r"^No matching overloads found: _\*_\(double, int64\)$"):
        await pending
    with pytest.raises(FlowError, match="no variable named|Key not found"):
        await program({"other": 1})


async def test_only_the_variables_read_are_passed_and_nothing_changes(languages):
    assert await run(languages, "body.n + 1", {"body": {"n": 1}, "header": {"X": ["y"]}}) == 2
    assert await run(languages, "self.body.n + size(self)", {"body": {"n": 1}, "z": 0}) == 3
    with pytest.raises(FlowError, match='^no variable named "y"$'):
        await run(languages, "x + y", {"x": 1})


async def test_comprehensions_keep_their_meaning(languages):
    assert await run(languages, "self.items.exists(i, i > 2)", {"items": [1, 2, 3]}) is True
    assert await run(languages, "items.map(i, i * 2)", {"items": [1, 2]}) == [2, 4]
    assert await run(languages, "self.filter(k, k != 'b')", {"a": 1, "b": 2}) == ["a"]
    with pytest.raises(FlowError, match="^no variable named \"y\"$"):
        await run(languages, "[1].map(x, y)", {})


def _children() -> set[int]:
    import os

    pid = os.getpid()
    return {int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(p) == pid}


def _ppid(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


async def test_a_huge_comprehension_is_stopped_at_its_timeout(languages):
    import asyncio
    import time

    from support.loop import round_trips_while

    huge = languages.compile("cel", "lists.range(1000000).map(x, lists.range(1000000).map(y, y)).size()", timeout=2)
    quick = languages.compile("cel", "x + 1")
    before = _children()
    task = asyncio.ensure_future(huge(None))
    trips = await round_trips_while(task)
    assert await quick({"x": 1}) == 2  # the engine answers meanwhile
    with pytest.raises(FlowError, match=r"^(timeout after 2s|MemoryError: std::bad_alloc)$") as caught:
        await task
    if caught.value.args[0].startswith("timeout"):
        assert trips == 3  # the loop served a socket while the comprehension ran
    busy = [pid for pid in _children() - before if _cpu(pid) is not None]
    cpu = {pid: _cpu(pid) for pid in busy}
    own = time.process_time()
    await asyncio.sleep(0.5)
    assert time.process_time() - own < 0.25  # no thread of ours keeps computing
    assert all(_cpu(pid) in (None, cpu[pid]) for pid in busy)  # nor a child


def _cpu(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[11]) + int(fields[12])
