import datetime as dt

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
    t = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    assert await run(languages, "t + duration('1h')", {"t": t}) == t + dt.timedelta(hours=1)
    assert await run(languages, "t.getFullYear()", {"t": t}) == 2024
    assert await run(languages, "d", {"d": dt.timedelta(seconds=3)}) == dt.timedelta(seconds=3)
    assert await run(languages, "timestamp('2020-01-01T00:00:00Z')") == dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)


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
