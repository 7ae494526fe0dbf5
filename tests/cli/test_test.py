"""``portflow test``: PASS/FAIL lines, counts, exit status, JUnit XML, and the store left alone."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from .conftest import ROOT

LINE = re.compile(r"^(PASS|FAIL)\t(\S+)\t(\d+(\.\d+)?(µs|ms|s)|0s|\d+m[\d.]+s)$")

SUITE = """
- kind: test
  name: good
  ports:
    out[0]: [{name: two, port: in}]
    out[1]: [{name: is-two, port: in}]
- kind: test
  name: bad
  ports:
    out[0]: [{name: two, port: in}]
    out[1]: [{name: is-three, port: in}]
- kind: snippet
  name: two
  language: json
  code: "2"
- kind: assert
  name: is-two
  expect: self == 2
- kind: assert
  name: is-three
  expect: self == 3
"""


def results(stdout: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (PASS|FAIL, indented lines after it)."""
    out: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in stdout.splitlines():
        match = LINE.match(line)
        if match:
            current = match.group(2)
            out[current] = (match.group(1), [])
        elif line.startswith("    ") and current:
            out[current][1].append(line[4:])
    return out


def test_hello_example_passes(cli):
    result = cli("test", "--from-specs", str(ROOT / "examples" / "hello_test.yaml"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert LINE.match(lines[0]) and lines[0].startswith("PASS\tdefault/hello\t")
    assert lines[-1] == "1 passed, 0 failed"


def test_failures_print_the_error_indented_and_exit_1(cli):
    path = cli.write("suite.yaml", SUITE)
    result = cli("test", "--from-specs", path)
    assert result.exit_code == 1
    found = results(result.stdout)
    assert found["default/good"] == ("PASS", [])
    status, detail = found["default/bad"]
    assert status == "FAIL" and detail[0].startswith("assert failed: self == 3")
    assert result.stdout.splitlines()[-1] == "1 passed, 1 failed"


def test_regex_selects_by_namespace_and_name(cli):
    path = cli.write("suite.yaml", SUITE)
    result = cli("test", "oo", "--from-specs", path)
    assert result.exit_code == 0 and list(results(result.stdout)) == ["default/good"]
    none = cli("test", "^nothing$", "--from-specs", path)
    assert none.exit_code == 0 and none.stdout == "0 passed, 0 failed\n"
    assert "no tests matching '^nothing$'" in none.stderr
    assert cli("test", "(", "--from-specs", path).exit_code == 2


def test_namespace_flag(cli):
    path = cli.write("suite.yaml", SUITE)
    result = cli("test", "-n", "ci", "--from-specs", path)
    assert set(results(result.stdout)) == {"ci/good", "ci/bad"}


def test_never_writes_to_the_configured_store(cli):
    path = cli.write("suite.yaml", SUITE)
    cli("test", "--from-specs", path)
    assert cli.docs("specs") == [] and cli.docs("values") == []


def test_without_files_it_tests_the_namespace_as_stored(cli):
    path = cli.write("suite.yaml", SUITE)
    assert cli("apply", "specs", "-f", path).exit_code == 0
    before = cli.docs("specs")
    result = cli("test", "good")
    assert result.exit_code == 0 and list(results(result.stdout)) == ["default/good"]
    assert cli.docs("specs") == before


def test_a_spec_that_does_not_load_fails_the_run_naming_it(cli):
    path = cli.write("suite.yaml", SUITE + "- kind: snippet\n  name: broken\n  language: cel\n  code: 'self +'\n")
    result = cli("test", "--from-specs", path)
    assert result.exit_code == 1 and result.stdout == ""
    assert "spec 'broken' (kind snippet): code:" in result.stderr
    assert "Traceback" not in result.output


def test_an_invalid_document_fails_the_run_naming_the_field(cli):
    path = cli.write("suite.yaml", SUITE + "- kind: assert\n  name: no-expect\n")
    result = cli("test", "--from-specs", path)
    assert result.exit_code == 1
    assert "error: spec 'no-expect' (kind assert): expect: required" in result.stderr


def test_a_test_that_cannot_run_fails(cli):
    path = cli.write("suite.yaml", "- kind: test\n  name: lonely\n  ports:\n    out[0]: [{name: gone, port: in}]\n")
    result = cli("test", "--from-specs", path)
    assert result.exit_code == 1
    assert results(result.stdout)["default/lonely"] == ("FAIL", ["inactive: missing target out[0] -> gone"])


def test_values_and_environment(cli):
    specs = cli.write("suite.yaml", """
- kind: test
  name: templated
  ports:
    out[0]: [{name: word, port: in}]
    out[1]: [{name: check, port: in}]
- kind: snippet
  name: word
  language: text
  env:
    GREETING: {name: greeting, data: "{{ .word }}"}
    WHO: {data: "{{ .WHO }}"}
  code: "{{ .GREETING }}, {{ .WHO }}"
- kind: assert
  name: check
  expect: self == "hi, there"
""")
    values = cli.write("values.yaml", "- name: greeting\n  data: {word: hi}\n")
    result = cli("test", "--from-specs", specs, "--from-values", values, "-e", "WHO=there")
    assert result.exit_code == 0, result.output


def test_junit_report(cli):
    path = cli.write("suite.yaml", SUITE)
    cli("test", "--from-specs", path, "--junit", "report.xml")
    root = ET.parse(cli.workdir / "report.xml").getroot()
    assert root.tag == "testsuites" and root.get("tests") == "2" and root.get("failures") == "1"
    (suite,) = root
    cases = {case.get("name"): case for case in suite}
    assert suite.get("name") == "default" and set(cases) == {"good", "bad"}
    assert cases["good"].find("failure") is None
    failure = cases["bad"].find("failure")
    assert failure.get("message").startswith("assert failed: self == 3")


def test_unreadable_file(cli):
    result = cli("test", "--from-specs", "nope.yaml")
    assert result.exit_code == 1 and result.stderr == "error: nope.yaml: No such file or directory\n"


def test_timeout(cli):
    path = cli.write("slow.yaml", """
- kind: test
  name: slow
  ports:
    out[0]: [{name: nap, port: in}]
- kind: sleep
  name: nap
  interval: 2s
""")
    result = cli("test", "--from-specs", path, "--timeout", "100ms")
    assert result.exit_code == 1
    assert results(result.stdout)["default/slow"] == ("FAIL", ["timeout after 100ms"])
