import sys

import pytest

from portflow.errors import CompileError
from portflow.lang import Languages, builtin_languages
from portflow.lang.text import Constant


def test_builtin_names(languages):
    assert languages.names() == [
        "cel", "javascript", "json", "python", "python-isolated", "text", "typescript", "yaml",
    ]


def test_unknown_language_lists_known_ones(languages):
    with pytest.raises(CompileError) as e:
        languages.compile("cobol", "x")
    assert "unknown language 'cobol'" in str(e.value)
    assert "cel, javascript, json, python" in str(e.value)


def test_languages_load_lazily():
    languages = builtin_languages()
    assert not languages.loaded("cel") and not languages.loaded("javascript")
    languages.compile("text", "hi")
    assert languages.loaded("text") and not languages.loaded("cel")
    languages.compile("cel", "1")
    assert languages.loaded("cel")


def test_factory_called_once():
    calls = []

    class Lang:
        def compile(self, code, *, timeout=None):
            return Constant(code)

    def factory():
        calls.append(1)
        return Lang()

    languages = Languages()
    languages.register("x", factory, aliases=["ex"])
    languages.compile("x", "a")
    languages.compile("ex", "b")
    assert calls == [1]


def test_register_instance_and_class():
    class Lang:
        def compile(self, code, *, timeout=None):
            return Constant(code.upper())

    languages = Languages()
    languages.register("inst", Lang())
    languages.register("cls", Lang)  # a class is a factory
    assert languages.compile("inst", "a").value == "A"
    assert languages.compile("cls", "b").value == "B"


def test_copy_is_isolated(languages):
    other = languages.copy()
    other.register("upper", lambda: None, aliases=["up"])
    assert "upper" in other.names() and "upper" not in languages.names()
    assert "up" not in languages


def test_aliases(languages):
    assert languages.compile("js", "module.exports = () => 1") is not None
    assert "py" in languages and "yml" in languages


def test_heavy_modules_not_imported_by_the_registry():
    import subprocess

    code = (
        "import sys; from portflow.lang import builtin_languages; builtin_languages();"
        "print(any(m in sys.modules for m in ('quickjs', 'cel_expr_python', 'RestrictedPython')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
