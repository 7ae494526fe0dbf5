import pytest

from portflow.errors import TemplateError
from portflow.template import render, render_fields


@pytest.mark.parametrize("template, data, out", [
    ("{{ .PORT }}", {"PORT": "8000"}, "8000"),
    ("{{ . }}", "secret", "secret"),
    ("{{ .a.b }}", {"a": {"b": 1}}, "1"),
    ("{{.missing}}", {}, "<no value>"),
    ("x{{ .a }}y{{ .b }}", {"a": 1, "b": True}, "x1ytrue"),
    ("a {{- .x -}} b", {"x": 1}, "a1b"),
    ("plain", {}, "plain"),
])
def test_render(template, data, out):
    assert render(template, data) == out


def test_go_template_actions_render():
    assert render('{{ printf "%s:%d" .host .port }}', {"host": "db", "port": 5432}) == "db:5432"
    assert render("{{ if .tls }}https{{ else }}http{{ end }}://x", {"tls": False}) == "http://x"


def test_what_go_templates_do_not_have_is_an_error():
    with pytest.raises(TemplateError, match='function "nosuch" not defined'):
        render("{{ nosuch .x }}", {"x": 1})
    with pytest.raises(TemplateError, match="missing {{ end }}"):
        render("{{ if .x }}open", {"x": 1})


def test_render_fields_touches_strings_and_keys_only():
    value = {"{{ .k }}": ["{{ .v }}", 3, None, {"n": "{{ .v }}"}]}
    assert render_fields(value, {"k": "key", "v": "val"}) == {"key": ["val", 3, None, {"n": "val"}]}


def test_keep_type_returns_the_named_value_for_a_single_action():
    assert render_fields("{{ . }}", {"password": "x"}, keep_type=True) == {"password": "x"}
    assert render_fields("{{ .n }}", {"n": 5}, keep_type=True) == 5
    assert render_fields("n={{ .n }}", {"n": 5}, keep_type=True) == "n=5"
    assert render_fields("{{ .missing }}", {}, keep_type=True) == "<no value>"
