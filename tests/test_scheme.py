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
                         "routes": [{"path": [1]}, "x"]})
    text = str(info.value)
    assert text.startswith("spec 'l' (kind listener): ")
    assert "port: expected int, got str" in text
    assert "timeout: invalid duration 'soon'" in text
    assert "routes[0][...]: expected str, got array" in text


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


def test_registering_a_kind_twice_raises_naming_both_plugins():
    from portflow.scheme import DuplicateKind

    s = Scheme()
    s.register("sql", Spec, lambda spec, ctx: None, plugin="sql")
    with pytest.raises(DuplicateKind, match="kind 'sql' is registered twice: by plugin 'sql' and by plugin 'system'"):
        s.register("sql", Spec, lambda spec, ctx: None, plugin="system")
    with pytest.raises(DuplicateKind, match="kind 'sql'"):
        s.register("other", Spec, lambda spec, ctx: None, aliases=("sql",), plugin="x")


def test_the_installed_plugins_register_each_kind_once():
    from portflow.plugin import default_registries

    assert default_registries().problems == []


def test_a_plugin_that_extends_another_registers_after_it():
    from portflow.plugin import _ordered

    def system():
        pass

    system.after = ("sql",)

    def sql():
        pass

    assert list(_ordered({"aaa": system, "sql": sql, "zed": sql})) == ["sql", "zed", "aaa"]


# -- kinds declare what they check -------------------------------------------------------------------

from typing import Annotated  # noqa: E402

from msgspec import Meta  # noqa: E402

from portflow.errors import CompileError  # noqa: E402
from portflow.scheme import spec_error  # noqa: E402
from portflow.spec import NonNegativeDuration, PositiveDuration, format_duration  # noqa: E402


class BoundedSpec(Spec, kw_only=True):
    """Bounded."""

    port: Annotated[int, Meta(ge=1, le=65535, description="the TCP port")]
    wait: Annotated[PositiveDuration, Meta(description="how long")] = PositiveDuration(1.0)
    rest: Annotated[NonNegativeDuration | None, Meta(description="a pause")] = None


def bounded():
    s = Scheme()
    s.register("bounded", BoundedSpec, lambda spec, ctx: OneToOne())
    return s


def test_declared_bounds_are_checked_on_decode_naming_spec_kind_and_field():
    with pytest.raises(SpecError) as info:
        bounded().decode({"kind": "bounded", "name": "b", "port": 70000, "wait": "0s", "rest": "-1s"})
    assert str(info.value) == ("spec 'b' (kind bounded): port: expected int <= 65535, got 70000; "
                               "wait: expected a duration > 0s, got 0s; rest: expected a duration >= 0s, got -1s")
    spec = bounded().decode({"kind": "bounded", "port": "80", "wait": "150ms", "rest": 0})
    assert spec.wait == pytest.approx(0.15) and isinstance(spec.wait, PositiveDuration) and spec.rest == 0


def test_descriptions_and_bounds_reach_fields_and_schema():
    s = bounded()
    fields = {f["name"]: f for f in s.fields("bounded")}
    assert fields["port"]["description"] == "the TCP port" and fields["port"]["constraints"] == ">= 1, <= 65535"
    assert fields["wait"]["type"] == "duration" and fields["wait"]["constraints"] == "> 0s"
    assert fields["rest"]["constraints"] == ">= 0s" and fields["rest"]["default"] is None
    props = s.json_schema("bounded")["$defs"]["BoundedSpec"]["properties"]
    assert props["port"]["minimum"] == 1 and props["port"]["maximum"] == 65535
    assert props["wait"]["description"] == "how long"
    assert {"type": "number", "exclusiveMinimum": 0} in props["wait"]["anyOf"]


def test_spec_error_names_spec_kind_and_field_and_carries_the_subject():
    spec = scheme().decode({"kind": "listener", "name": "l", "port": 1})
    error = spec_error(spec, "routes[2].path", "must start with '/'")
    assert isinstance(error, SpecError) and error.subject == "spec 'l' (kind listener)"
    assert str(error) == "spec 'l' (kind listener): routes[2].path: must start with '/'"
    error = spec_error(spec, "code", "invalid syntax", error=CompileError)
    assert isinstance(error, CompileError) and str(error) == "spec 'l' (kind listener): code: invalid syntax"
    assert error.subject == "spec 'l' (kind listener)"


def test_every_error_out_of_compile_carries_the_subject():
    from portflow.errors import UserError

    def codec(spec, ctx):
        raise UserError("port: taken") if spec.port == 1 else CompileError("bad pattern")

    s = Scheme()
    s.register("listener", ListenerSpec, codec)
    for port, cls in ((1, SpecError), (2, CompileError)):
        with pytest.raises(cls) as info:
            s.compile(s.decode({"kind": "listener", "name": "l", "port": port}), Context(scheme=s))
        assert info.value.subject == "spec 'l' (kind listener)" and str(info.value).startswith("spec 'l' ")


def test_one_duration_formatter_writes_go_durations():
    assert [format_duration(x) for x in (0, 1e-7, 0.000812, 0.012345, 0.5, 1.5, 60, 90, 3723.25)] == [
        "0s", "100ns", "812µs", "12.345ms", "500ms", "1.5s", "1m0s", "1m30s", "1h2m3.25s"]
    assert format_duration(0.0123456789, 1e-6) == "12.346ms" and format_duration(-2) == "-2s"


def test_every_builtin_field_has_a_description():
    from portflow.plugin import default_registries

    registry = default_registries().scheme
    missing = [f"{k.name}.{f['name']}" for k in registry.kinds()
               if k.plugin in ("ctrl", "sql", "testing", "system", "net")
               for f in registry.fields(k.name, nested=True) if not f["description"]]
    assert not missing, f"fields without a description: {', '.join(missing)}"
