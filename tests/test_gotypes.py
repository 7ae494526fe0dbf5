"""uniflow's value model: Go's zero values, Go's number text, JSON numbers as doubles, and the lenient
decoding of spec fields (numbers and bools into string fields, durations)."""

from __future__ import annotations

import math

import pytest

from portflow.errors import SpecError
from portflow.gotypes import doubles, go_float, integral, truthy
from portflow.plugin import default_registries


@pytest.fixture(scope="module")
def scheme():
    return default_registries().scheme


@pytest.mark.parametrize(("value", "expected"), [
    (None, False), (False, False), (0, False), (0.0, False), ("", False),
    (True, True), (1, True), (-1, True), (0.5, True), ("0", True), ("false", True), (-0.0, True), (math.nan, True),
    ([], True), ({}, True), (b"", True), ([0], True), (ValueError("x"), True),
])
def test_truthy_is_not_gos_zero_value(value, expected):
    assert truthy(value) is expected


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1"), (2.5, "2.5"), (100000.0, "100000"), (1e6, "1e+06"), (1234567.0, "1.234567e+06"),
    (0.0001, "0.0001"), (0.00001, "1e-05"), (-3.25, "-3.25"), (1e21, "1e+21"), (0.1, "0.1"),
    (-0.0, "-0"), (math.inf, "+Inf"), (math.nan, "NaN"),
])
def test_go_float_is_fmt_sprint(value, text):
    assert go_float(value) == text


def test_doubles_makes_every_json_number_a_float():
    value = doubles({"a": [1, 2.5, {"b": 3}], "c": True, "d": None, "e": "7"})
    assert value == {"a": [1.0, 2.5, {"b": 3.0}], "c": True, "d": None, "e": "7"}
    assert type(value["a"][0]) is float and type(value["a"][2]["b"]) is float and value["c"] is True
    assert doubles(5) == 5.0 and type(doubles(5)) is float
    with pytest.raises(ValueError, match="out of range"):
        doubles([10 ** 400])


def test_integral_writes_whole_floats_as_ints_without_copying_when_nothing_changes():
    assert integral({"n": 2.0, "m": [1.5, 3.0], "s": "1.0"}) == {"n": 2, "m": [1.5, 3], "s": "1.0"}
    assert type(integral(2.0)) is int and integral(1e21) == 1e21
    same = {"a": [1, "x"], "b": 1.5}
    assert integral(same) is same


def test_integral_at_every_depth_and_on_the_edges_of_whole():
    inf, nan = float("inf"), float("nan")
    value = [1.0, (2.0, "a"), {"x": [3.0, {"y": -0.0}]}, inf, -inf, 1e21, -1e21, 9.99e20, -4.0, 0.5]
    out = integral(value)
    assert out[:3] == [1, [2, "a"], {"x": [3, {"y": 0}]}] and out[3:7] == [inf, -inf, 1e21, -1e21]
    assert [type(x) for x in out[3:]] == [float, float, float, float, int, int, float]
    assert out[7] == 999000000000000000000 and out[8] == -4
    assert type(out[2]["x"][1]["y"]) is int and value[0] == 1.0 and type(value[0]) is float  # no change in place
    assert integral([nan])[0] is not None and type(integral([nan])[0]) is float
    same = ("a", 1.5, [2.5])
    assert integral(same) is same


# -- numbers and bools into string fields (uniflow's lenient decoder) ------------------------------------

def test_a_number_decodes_into_a_string_field(scheme):
    spec = scheme.decode({"kind": "snippet", "name": "s", "language": "json", "code": 42})
    assert spec.code == "42"
    spec = scheme.decode({"kind": "snippet", "name": "s", "language": "json", "code": 1.5})
    assert spec.code == "1.5"
    spec = scheme.decode({"kind": "snippet", "name": "s", "language": "json", "code": 2.0})
    assert spec.code == "2"  # fmt.Sprint of a float64


def test_a_bool_decodes_into_a_string_field(scheme):
    spec = scheme.decode({"kind": "assert", "name": "a", "expect": True})
    assert spec.expect == "true"


def test_nested_string_fields_and_annotations_are_lenient_too(scheme):
    spec = scheme.decode({"kind": "switch", "name": "s", "annotations": {"version": 1.0},
                          "matches": [{"when": True, "port": "out[0]"}]})
    assert spec.annotations == {"version": "1"}
    assert spec.matches[0].when == "true"


def test_strings_still_decode_into_numbers(scheme):
    spec = scheme.decode({"kind": "listener", "name": "l", "protocol": "http", "port": "8000"})
    assert spec.port == 8000


def test_a_map_is_still_no_string(scheme):
    with pytest.raises(SpecError, match=r"spec 's' \(kind snippet\): code: expected str, got object"):
        scheme.decode({"kind": "snippet", "name": "s", "language": "json", "code": {"a": 1}})


# -- durations ---------------------------------------------------------------------------------------------

def test_a_yaml_number_is_milliseconds(scheme):
    assert scheme.decode({"kind": "sleep", "name": "z", "interval": 2000}).interval == pytest.approx(2.0)
    assert scheme.decode({"kind": "sleep", "name": "z", "interval": "150ms"}).interval == pytest.approx(0.15)


def test_a_duration_string_needs_a_unit_and_the_error_names_the_field(scheme):
    with pytest.raises(SpecError) as info:
        scheme.decode({"kind": "snippet", "name": "s", "language": "text", "code": "x", "timeout": "50"})
    assert str(info.value).startswith("spec 's' (kind snippet): timeout: invalid duration '50': missing unit")


def test_sleep_interval_is_required_as_in_uniflow(scheme):
    with pytest.raises(SpecError, match=r"spec 'z' \(kind sleep\): interval: required"):
        scheme.decode({"kind": "sleep", "name": "z"})
    with pytest.raises(SpecError, match=r"interval: expected a duration > 0s, got 0s"):
        scheme.decode({"kind": "sleep", "name": "z", "interval": 0})


def test_switch_matches_are_required_as_in_uniflow(scheme):
    with pytest.raises(SpecError, match=r"spec 's' \(kind switch\): matches: required"):
        scheme.decode({"kind": "switch", "name": "s"})


def test_json_answers_write_whole_floats_as_go_does():
    from portflow.plugins.net.mime import encode_json

    assert encode_json({"a": 1.0, "b": [2.5, 3.0], "c": "x.0"}) == b'{"a":1,"b":[2.5,3],"c":"x.0"}\n'
    assert encode_json(1e20) == b"100000000000000000000\n" and encode_json(12.0) == b"12\n"
    assert encode_json({"n": 1, "s": "1e5"}) == b'{"n":1,"s":"1e5"}\n'


def test_every_whole_float_go_writes_as_an_integer_is_found_in_the_encoded_text():
    """``may_hold_whole_float`` is the cheap scan that decides whether an answer is walked by ``integral``:
    it must find every whole float in (-1e21, 1e21), at every magnitude, alone or inside text."""
    import random

    import msgspec

    from portflow.plugins.net.mime import encode_json, may_hold_whole_float

    rng = random.Random(14)
    wholes = [0.0, -0.0, 1.0, -1.0, 1e15, 1e16, 9e20, 9.99e20, -9.99e20, 2.0**53, 2.0**60]
    for exponent in range(0, 21):
        for _ in range(40):
            wholes.append(float(round(rng.uniform(1, 10) * 10.0**exponent)) * rng.choice((1, -1)))
    for x in wholes:
        assert x.is_integer() and -1e21 < x < 1e21
        for data in (msgspec.json.encode(x), msgspec.json.encode({"k": "v", "n": [x]})):
            assert may_hold_whole_float(data), data
        assert encode_json({"n": x}) == b'{"n":%d}\n' % int(x)
    for x in (1e21, -1e22, 2.5, 1e-7, 123.456, float(2**70)):  # not written as integers: kept as they are
        assert encode_json([x]) == msgspec.json.encode([x]) + b"\n"
    assert not may_hold_whole_float(b'{"greeting":"hello ada","tags":["X","Y"],"n":42,"f":2.5}')
