import pytest

from portflow.errors import CompileError


async def test_text_is_verbatim(languages):
    program = languages.compile("text", "héllo {{ .x }}\n")
    assert await program({"any": 1}) == "héllo {{ .x }}\n"


async def test_json_constant(languages):
    program = languages.compile("json", '{"a": [1, 2.5, null, "ü"]}')
    assert await program(None) == {"a": [1, 2.5, None, "ü"]}


def test_json_error_has_position(languages):
    with pytest.raises(CompileError, match=r"^json: Expecting property name .* at 2:3$"):
        languages.compile("json", '{"a": 1,\n  }')


async def test_yaml_constant(languages):
    program = languages.compile("yaml", "a: [1, two]\nb: {c: true}\nd: é")
    assert await program(1) == {"a": [1, "two"], "b": {"c": True}, "d": "é"}


def test_yaml_error_has_position(languages):
    with pytest.raises(CompileError, match=r"^yaml: .* at 2:2$"):
        languages.compile("yaml", "a: [1\nb: 2")
