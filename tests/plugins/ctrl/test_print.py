"""print (v0.12): Go-style formatting to stdout or a file (uniflow-semantics §12)."""

import pytest

from portflow.errors import FlowError
from portflow.plugins.ctrl import register
from portflow.plugins.ctrl._support import go_sprintf
from portflow.plugins.ctrl.print_ import PrintNode
from portflow.scheme import Context, Scheme


async def test_prints_to_stdout_and_outputs_bytes_written(send, capsys):
    node = PrintNode()
    assert await send(node, ["%s is %d years, %.1f%%\n", "Ada", 36, 99.5]) == len("Ada is 36 years, 99.5%\n")
    assert capsys.readouterr().out == "Ada is 36 years, 99.5%\n"


async def test_a_plain_string_is_the_format(send, capsys):
    assert await send(PrintNode(), "héllo\n") == len("héllo\n".encode())
    assert capsys.readouterr().out == "héllo\n"


async def test_writes_to_a_file_opened_on_load_and_closed_on_unload(send, tmp_path):
    path = tmp_path / "out.log"
    node = PrintNode(str(path))
    await node.load()
    await send(node, ["%v %v\n", {"a": 1}, [1, 2]])
    await send(node, "second\n")
    assert path.read_text() == "map[a:1] [1 2]\nsecond\n"
    await node.unload()
    answer = await send(node, "late\n")
    assert isinstance(answer, FlowError) and "not open" in str(answer)
    await node.load()  # appends
    await send(node, "third\n")
    await node.close()
    assert path.read_text().endswith("second\nthird\n")


async def test_load_fails_when_the_file_cannot_be_opened(tmp_path):
    node = PrintNode(str(tmp_path / "missing" / "dir" / "out.log"))
    with pytest.raises(OSError):
        await node.load()


async def test_bad_input_goes_to_error(send, recorder):
    node = PrintNode(label="spec 'log' (kind print)")
    handler = recorder()
    node.error_port.link(handler.in_port)
    await send(node, 42)
    (error,) = handler.seen
    assert str(error) == "spec 'log' (kind print): expected a format string or [format, args...], got int"


def test_codec_takes_the_filename(tmp_path):
    scheme = Scheme()
    register(scheme)
    node = scheme.compile(scheme.decode({"kind": "print", "filename": str(tmp_path / "x")}), Context(scheme))
    assert node.filename == str(tmp_path / "x")


@pytest.mark.parametrize(
    ("fmt", "args", "text"),
    [
        ("%5d|%-5s|%05.2f", [42, "ab", 3.14159], "   42|ab   |03.14"),
        ("%q %t %x %X %o %b %c", ["hi", True, 255, 255, 8, 5, 65], '"hi" true ff FF 10 101 A'),
        ("%v %v %v", [None, 1.0, 2.5], "<nil> 1 2.5"),
        ("%T %T %T", ["s", 1, {}], "string int map[string]interface {}"),
        ("%d", [], "%!d(MISSING)"),
        ("%d", ["x"], "%!d(string=x)"),
        ("a", [1], "a%!(EXTRA int=1)"),
        ("%e %g", [1234.5678, 0.000012], "1.234568e+03 1.2e-05"),
        ("100%%", [], "100%"),
    ],
)
def test_go_sprintf(fmt, args, text):
    assert go_sprintf(fmt, args) == text


async def test_stdout_hides_bound_values_and_is_one_json_line_per_print_in_json_mode(send, capsys):
    import json

    from portflow import logs

    logs.hide(["print-test-secret-42"])
    node = PrintNode(label="spec 'log' (kind print)", about={"namespace": "default", "spec": "log"})
    await send(node, ["token %s\n", "print-test-secret-42"])
    assert capsys.readouterr().out == "token ***\n"
    logs.setup(fmt="json")
    try:
        assert await send(node, ["hello %s\n", "print-test-secret-42"]) == len("hello print-test-secret-42\n")
        (line,) = capsys.readouterr().out.splitlines()
    finally:
        logs.setup()
    record = json.loads(line)
    assert record["message"] == "hello ***" and record["logger"] == "portflow.print"
    assert (record["namespace"], record["spec"], record["kind"], record["level"]) == ("default", "log", "print", "info")
