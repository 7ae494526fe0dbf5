import asyncio

import pytest

from portflow.errors import CompileError, FlowError, FlowTimeout
from support.loop import round_trips_while


async def test_expression_over_self(languages):
    assert await languages.compile("python", "self + 1")(1) == 2
    assert await languages.compile("python", 'self["x"] * 2')({"x": 21}) == 42


async def test_main_function(languages):
    code = ("import math\n\ndef main(self):\n    total = 0\n    for v in self:\n        total += v\n"
            "    return {'sum': total, 'root': math.sqrt(total)}\n")
    assert await languages.compile("python", code)([4, 5]) == {"sum": 9, "root": 3.0}


async def test_runtime_error_names_the_type(languages):
    with pytest.raises(FlowError) as e:
        await languages.compile("python", 'self["missing"]')({})
    assert str(e.value) == "KeyError: 'missing'"
    with pytest.raises(FlowError, match="^ZeroDivisionError: division by zero$"):
        await languages.compile("python", "1 / self")(0)


def test_syntax_error_has_position(languages):
    with pytest.raises(CompileError, match=r"^python: invalid syntax at 1:7$"):
        languages.compile("python", "self +")


def test_policy_errors(languages):
    with pytest.raises(CompileError, match="starts with \"_\""):
        languages.compile("python", "self.__class__")
    with pytest.raises(CompileError, match="import of 'os' is not allowed"):
        languages.compile("python", "import os\ndef main(self):\n    return 1")
    with pytest.raises(CompileError, match="define main"):
        languages.compile("python", "x = 1")


async def test_methods_of_payload_values_are_read_and_format_stays_closed(languages):
    code = 'def main(self):\n    return [self["s"].upper(), self["l"].index(2), sorted(self["m"].keys()), self["b"].hex()]'
    assert await languages.compile("python", code)({"s": "ab", "l": [1, 2], "m": {"y": 1, "x": 2}, "b": b"\x01"}) == [
        "AB", 1, ["x", "y"], "01"]
    for reach in ('"{0}".format(self)', '"{x}".format_map({"x": self})', "self.format(1)", "self.format_map({})"):
        with pytest.raises(FlowError, match="^NotImplementedError: Using the format.* methods of `str` is not safe$"):
            await languages.compile("python", reach)("{0}")
    with pytest.raises(FlowError, match="^AttributeError: 'str' object has no attribute 'nope'$"):
        await languages.compile("python", "self.nope")("x")
    with pytest.raises(FlowError, match="^AttributeError: 'list' object has no attribute 'upper'$"):
        await languages.compile("python", "self.upper()")([1])


async def test_module_copies_hide_their_imports(languages):
    program = languages.compile("python", "def main(self):\n    import json\n    return json.codecs")
    with pytest.raises(FlowError, match="has no attribute 'codecs'"):
        await program(None)


async def test_unsupported_return(languages):
    with pytest.raises(FlowError, match="^snippet returned a function, which cannot travel as a payload$"):
        await languages.compile("python", "lambda: 1")(None)
    with pytest.raises(FlowError, match="returned a set"):
        await languages.compile("python", "{1, 2}")(None)
    assert await languages.compile("python", "(self, 2)")(1) == [1, 2]


async def test_unicode(languages):
    assert await languages.compile("python", 'self + " ✓"')("Zoë") == "Zoë ✓"


async def test_timeout_keeps_the_loop_running(languages):
    program = languages.compile("python", "def main(self):\n    while True:\n        pass", timeout=2)
    task = asyncio.ensure_future(program(None))
    assert await round_trips_while(task) == 3  # the loop served a socket while the snippet spun
    with pytest.raises(FlowTimeout, match=r"^timeout after 2s$"):
        await task


async def test_fast_calls_stay_inline(languages):
    program = languages.compile("python", "self + 1", timeout=0.2)
    for i in range(1000):
        assert await program(i) == i + 1
    assert not program.demoted


async def test_a_spinning_program_is_demoted_and_others_are_not(languages):
    spin = languages.compile("python", "def main(self):\n    while self:\n        pass\n    return 0", timeout=0.1)
    quick = languages.compile("python", "self")
    for _ in range(3):
        with pytest.raises(FlowTimeout):
            await spin(1)
    assert spin.demoted
    assert await spin(0) == 0  # still answers on the worker
    assert await quick(5) == 5 and not quick.demoted


async def test_concurrent_spinning_calls(languages):
    spin = languages.compile("python", "def main(self):\n    while True:\n        pass", timeout=0.2)
    results = await asyncio.gather(*(spin(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, FlowTimeout) for r in results)


async def test_isolated(languages):
    program = languages.compile("python-isolated", "def main(self):\n    while self:\n        pass\n    return {'ok': 'ü'}", timeout=2)
    assert await program(0) == {"ok": "ü"}
    task = asyncio.ensure_future(program(1))
    assert await round_trips_while(task) == 3
    with pytest.raises(FlowTimeout, match=r"^timeout after 2s$"):
        await task
    assert await program(0) == {"ok": "ü"}  # a fresh subprocess
    with pytest.raises(FlowError, match="^KeyError: 'x'$"):
        await languages.compile("python-isolated", "self['x']")({})
    with pytest.raises(CompileError):
        languages.compile("python-isolated", "self +")
