import pytest

from portflow.errors import SpecError
from portflow.node import OneToOne
from portflow.scheme import Context, Scheme
from portflow.spec import Duration, Spec


class ListenerSpec(Spec, kw_only=True):
    """Listens."""

    port: int
    host: str = ""
    timeout: Duration | None = None
    routes: list[dict[str, str]] = []


def scheme():
    s = Scheme()
    s.register("listener", ListenerSpec, lambda spec, ctx: OneToOne(), aliases=["http-listener"])
    return s


def test_decode_converts_strings_like_uniflow():
    spec = scheme().decode({"kind": "listener", "name": "l", "port": "8000", "timeout": "2s"})
    assert isinstance(spec, ListenerSpec)
    assert spec.port == 8000 and spec.timeout == 2.0


def test_decode_reports_every_problem_with_spec_kind_and_field():
    with pytest.raises(SpecError) as info:
        scheme().decode({"kind": "listener", "name": "l", "port": "<no value>", "timeout": "soon",
                         "routes": [{"path": 1}, "x"]})
    text = str(info.value)
    assert text.startswith("spec 'l' (kind listener): ")
    assert "port: expected int, got str" in text
    assert "timeout: invalid duration 'soon'" in text
    assert "routes[0][...]: expected str, got int" in text


def test_missing_required_field():
    with pytest.raises(SpecError, match=r"spec 'l' \(kind listener\): port: required"):
        scheme().decode({"kind": "listener", "name": "l"})


def test_unknown_kind_decodes_as_plain_spec():
    spec = scheme().decode({"kind": "mystery", "name": "m", "whatever": 1})
    assert type(spec) is Spec and spec.kind == "mystery"


def test_aliases_copy_and_unregister():
    s = scheme()
    assert s.kind("http-listener").name == "listener"
    other = s.copy()
    other.unregister("listener")
    assert "listener" in s and "listener" not in other and "http-listener" not in other


def test_compile_uses_the_codec():
    s = scheme()
    node = s.compile(s.decode({"kind": "listener", "port": 1}), Context(scheme=s))
    assert isinstance(node, OneToOne)


def test_json_schema_and_fields_come_from_the_declaration():
    s = scheme()
    schema = s.json_schema("listener")
    props = schema["$defs"]["ListenerSpec"]["properties"]
    assert props["port"]["type"] == "integer"
    assert "required" in schema["$defs"]["ListenerSpec"]
    fields = {f["name"]: f for f in s.fields("listener")}
    assert fields["port"] == {"name": "port", "type": "int", "required": True, "default": None,
                              "description": "", "constraints": ""}
    assert fields["timeout"]["type"] == "duration | null"
    assert "kind" not in fields


def test_spec_classes_must_subclass_spec():
    with pytest.raises(TypeError):
        Scheme().register("bad", dict, lambda s, c: None)  # type: ignore[arg-type]


def test_json_schema_with_a_duration_default():
    class SleepSpec(Spec, kw_only=True):
        interval: Duration = Duration(1.5)

    s = Scheme()
    s.register("sleep", SleepSpec, lambda spec, ctx: OneToOne())
    props = s.json_schema("sleep")["$defs"]["SleepSpec"]["properties"]
    assert props["interval"]["default"] == 1.5
    assert s.fields("sleep")[0]["default"] == 1.5


def test_annotated_fields_show_their_type():
    from typing import Annotated

    import msgspec

    class DescribedSpec(Spec, kw_only=True):
        size: Annotated[int, msgspec.Meta(description="how many")] = 1

    s = Scheme()
    s.register("described", DescribedSpec, lambda spec, ctx: OneToOne())
    assert s.fields("described")[0]["type"] == "int"
