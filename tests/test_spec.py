import pytest

from portflow.errors import DocumentError, SpecError
from portflow.spec import dump_documents, parse_duration, read_documents, read_file, validate_meta


def test_reads_a_yaml_list():
    docs = read_documents("- kind: a\n  name: x\n- kind: b\n")
    assert [d["kind"] for d in docs] == ["a", "b"]


def test_reads_a_single_yaml_document():
    assert read_documents("kind: a\nname: x\n") == [{"kind": "a", "name": "x"}]


def test_reads_a_multi_document_yaml_stream():
    docs = read_documents("kind: a\n---\n- kind: b\n- kind: c\n---\n")
    assert [d["kind"] for d in docs] == ["a", "b", "c"]


def test_reads_json_list_and_object():
    assert read_documents('[{"kind": "a"}]', "f.json") == [{"kind": "a"}]
    assert read_documents('{"kind": "a"}') == [{"kind": "a"}]


def test_yaml_syntax_error_names_file_and_line():
    with pytest.raises(DocumentError) as info:
        read_documents("- kind: a\n- kind: [b\n  name: c\n", "flow.yaml")
    assert str(info.value).startswith("flow.yaml:")
    assert info.value.line is not None and info.value.line >= 2


def test_json_syntax_error_names_file_and_line():
    with pytest.raises(DocumentError) as info:
        read_documents('[{"kind": "a"},\n {"kind": }]', "flow.json")
    assert str(info.value).startswith("flow.json:2:")


def test_a_document_that_is_not_a_mapping_is_rejected():
    with pytest.raises(DocumentError, match="document 2 is a str"):
        read_documents("- kind: a\n- just text\n", "f.yaml")


def test_unreadable_file_is_one_line(tmp_path):
    with pytest.raises(DocumentError, match="missing.yaml"):
        read_file(tmp_path / "missing.yaml")


def test_dump_round_trips():
    docs = [{"kind": "a", "name": "x", "ports": {"out": [{"name": "y", "port": "in"}]}}]
    assert read_documents(dump_documents(docs, "yaml")) == docs
    assert read_documents(dump_documents(docs, "json"), "x.json") == docs


@pytest.mark.parametrize("text, seconds", [("2s", 2), ("150ms", 0.15), ("1m30s", 90), ("1h", 3600),
                                            (250, 0.25), ("0", 0), ("1.5s", 1.5), (1.9, 0.001)])
def test_durations(text, seconds):  # a number is whole milliseconds (Go truncates 1.9 to 1ms)
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["2 s", "s", "2x", True, [1], "50", "1.5", float("nan")])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_meta_problems_name_the_spec_and_the_field():
    with pytest.raises(SpecError) as info:
        validate_meta({"name": "r", "ports": {"out[x]": [{"name": "a", "port": "in"}], "out": [{"port": "in"}]}})
    text = str(info.value)
    assert text.startswith("spec 'r': ")
    assert "kind: required" in text
    assert "ports.out[x]" in text
    assert "ports.out[0]: name or id required" in text


def test_yaml_scalars_read_as_uniflows_yaml_library_reads_them():
    (doc,) = read_documents("kind: if\nname: no\nyes: on\nflag: true\nOFF: False\nclock: 1:30\n"
                            "big: 1e3\nday: 2001-12-14\nmode: 0o17\nn: 42\nx: .5\n")
    assert doc == {"kind": "if", "name": "no", "yes": "on", "flag": True, "OFF": False, "clock": "1:30",
                   "big": 1000.0, "day": "2001-12-14", "mode": 15, "n": 42, "x": 0.5}
