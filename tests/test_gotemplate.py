"""Go text/template, one test per construct; the expected texts are what Go's text/template prints."""

from __future__ import annotations

import pytest

from portflow.errors import TemplateError
from portflow.gotemplate import execute

DATA = {"PORT": "8000", "n": 3, "xs": [1, 2, 3], "m": {"b": 2, "a": 1}, "s": "héllo", "empty": "",
        "yes": True, "f": 1000000.0, "half": 0.5, "nested": {"db": {"host": "pg"}}, "none": None}


def run(template: str, data=DATA) -> str:
    return execute(template, data)


def test_fields_dot_and_missing_keys():
    assert run("{{ .PORT }} {{ .nested.db.host }}") == "8000 pg"
    assert run("{{ . }}", "secret") == "secret"
    assert run("{{ .missing }}|{{ .missing.deeper }}|{{ .none }}") == "<no value>|<no value>|<no value>"
    with pytest.raises(TemplateError, match="can't evaluate field x in type string"):
        run("{{ .s.x }}")


def test_values_print_as_go_prints_them():
    assert run("{{ .m }} {{ .xs }} {{ .yes }}") == "map[a:1 b:2] [1 2 3] true"
    assert run("{{ .f }} {{ .half }} {{ 1.0 }} {{ 123456.0 }} {{ 0.00001 }}") == "1e+06 0.5 1 123456 1e-05"


def test_literals():
    assert run('{{ "a\\tb" }}|{{ `raw\\n` }}|{{ 42 }}|{{ 0x1F }}|{{ -2 }}|{{ true }}|{{ \'a\' }}') == \
        "a\tb|raw\\n|42|31|-2|true|97"


def test_pipelines_pass_the_value_as_the_last_argument():
    assert run('{{ .s | printf "%q" }}') == '"héllo"'
    assert run('{{ .n | printf "%d-%d" 1 }}') == "1-3"
    assert run("{{ .xs | len | printf \"%03d\" }}") == "003"


def test_printf():
    assert run('{{ printf "%s:%d" .PORT .n }}') == "8000:3"
    assert run('{{ printf "%5.2f|%-4d|%x|%v|%t|%%" .half .n 255 .m .yes }}') == " 0.50|3   |ff|map[a:1 b:2]|true|%"
    assert run('{{ printf "%d %d" 1 }}') == "1 %!d(MISSING)"
    assert run('{{ printf "%d" 1 2 }}') == "1%!(EXTRA int=2)"
    assert run('{{ printf "%d" "x" }}') == "%!d(string=x)"


def test_print_and_println():
    assert run('{{ print 1 2 "a" 3 "b" "c" }}') == "1 2a3bc"
    assert run("{{ println 1 2 }}") == "1 2\n"


def test_if_else_if_else():
    template = "{{ if .empty }}a{{ else if eq .n 3 }}b{{ else }}c{{ end }}"
    assert run(template) == "b"
    assert run(template, {"empty": "x", "n": 3}) == "a"
    assert run(template, {"empty": "", "n": 4}) == "c"
    # Go's truth: empty collections and zero values are false
    assert run("{{ if .none }}1{{ end }}{{ if 0 }}2{{ end }}{{ if .e }}3{{ end }}{{ if .l }}4{{ end }}",
               {"e": {}, "l": [0]}) == "4"


def test_range_over_lists_maps_and_integers():
    assert run("{{ range .xs }}<{{ . }}>{{ end }}") == "<1><2><3>"
    assert run("{{ range $i, $x := .xs }}{{ $i }}={{ $x }} {{ end }}") == "0=1 1=2 2=3 "
    assert run("{{ range $k, $v := .m }}{{ $k }}{{ $v }}{{ end }}") == "a1b2"  # keys in order
    assert run("{{ range $v := .m }}{{ $v }}{{ end }}") == "12"
    assert run("{{ range 3 }}{{ . }}{{ end }}") == "012"
    assert run("{{ range .missing }}x{{ else }}empty{{ end }}") == "empty"


def test_break_and_continue():
    assert run("{{ range .xs }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ . }}{{ end }}") == "13"
    assert run("{{ range .xs }}{{ if eq . 2 }}{{ break }}{{ end }}{{ . }}{{ end }}") == "1"
    with pytest.raises(TemplateError, match="outside range"):
        run("{{ break }}")


def test_with_sets_dot():
    assert run("{{ with .nested.db }}{{ .host }}{{ end }}") == "pg"
    assert run("{{ with .missing }}x{{ else with .m }}{{ .a }}{{ else }}none{{ end }}") == "1"
    assert run("{{ with .missing }}x{{ else }}none{{ end }}") == "none"


def test_variables_are_scoped_to_their_block():
    assert run("{{ $v := .n }}{{ $v }}{{ $v = 5 }}{{ $v }}") == "35"
    assert run("{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}") == "21"
    assert run("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}") == "2"
    assert run("{{ with .nested }}{{ $.PORT }}{{ end }}") == "8000"
    with pytest.raises(TemplateError, match=r"undefined variable: \$y"):
        run("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}")


@pytest.mark.parametrize(("template", "out"), [
    ('{{ eq .PORT "8000" }}', "true"), ("{{ eq .n 1 2 3 }}", "true"), ('{{ eq .missing "x" }}', "false"),
    ("{{ ne .n 3 }}", "false"), ("{{ lt .n 4 }}", "true"), ("{{ le .n 3 }}", "true"),
    ('{{ gt "b" "a" }}', "true"), ("{{ ge .n 4 }}", "false"), ("{{ eq .half 0.5 }}", "true"),
])
def test_comparisons(template, out):
    assert run(template) == out


def test_comparison_of_different_types_is_an_error():
    with pytest.raises(TemplateError, match="incompatible types for comparison"):
        run('{{ lt .s 1 }}')
    with pytest.raises(TemplateError, match="incompatible types for comparison"):
        run('{{ eq .n "3" }}')


def test_and_or_not_short_circuit_and_answer_an_argument():
    assert run("{{ and .n .empty }}|{{ and .n .PORT }}|{{ or .empty .n }}|{{ or .empty .none }}|{{ not .empty }}") \
        == "|8000|3|<no value>|true"
    assert run("{{ or .n (index .xs 99) }}") == "3"  # the failing index is never evaluated


def test_len_and_index():
    assert run("{{ len .s }} {{ len .xs }} {{ len .m }}") == "6 3 2"  # bytes, as Go counts a string
    assert run('{{ index .xs 1 }} {{ index .m "b" }} {{ index .nested "db" "host" }} {{ index .m "z" }}') == \
        "2 2 pg <no value>"
    with pytest.raises(TemplateError, match="index out of range: 9"):
        run("{{ index .xs 9 }}")
    with pytest.raises(TemplateError, match="error calling len"):
        run("{{ len 3 }}")


def test_parentheses_and_fields_of_their_value():
    assert run('{{ (index .nested "db").host }}') == "pg"
    assert run("{{ printf \"%d\" (len .xs) }}") == "3"


def test_trimming_and_comments():
    assert run("a  {{- .n -}}  b") == "a3b"
    assert run("a {{/* a comment */}} b") == "a  b"
    assert run("a\n{{- /* trimmed */ -}}\nb") == "ab"
    assert run("{{-3}}") == "-3"  # no space after {{-: a negative number, not a trim marker


def test_braces_inside_strings():
    assert run('{{ "}}" }}{{ printf "{{%s}}" "x" }}') == "}}{{x}}"


@pytest.mark.parametrize(("template", "message"), [
    ("{{ nosuch }}", 'function "nosuch" not defined'),
    ("{{ if .a }}x", r"missing \{\{ end \}\}"),
    ("{{ end }}", r"unexpected \{\{ end \}\}"),
    ("{{ .a", "unclosed action"),
    ('{{ template "x" }}', "not supported"),
    ("{{ printf }}", "wrong number of args for printf"),
    ("{{ 3 4 }}", "non-function"),
    ("{{ }}", "empty action"),
])
def test_errors_name_the_template_and_the_problem(template, message):
    with pytest.raises(TemplateError, match=message):
        run(template)
