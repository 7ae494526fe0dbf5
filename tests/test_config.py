import pytest

from portflow.config import load_settings
from portflow.errors import ConfigError


def test_precedence_defaults_file_env_flags(tmp_path):
    (tmp_path / ".portflow.toml").write_text('[runtime]\nnamespace = "file"\nlanguage = "javascript"\n'
                                             '[database]\nurl = "memory://file"\n')
    s = load_settings(cwd=tmp_path, environ={})
    assert s.namespace == "file" and s.database_url == "memory://file" and s["runtime.language"] == "javascript"
    s = load_settings(cwd=tmp_path, environ={"PORTFLOW_DATABASE_URL": "memory://env"})
    assert s.database_url == "memory://env" and s.namespace == "file"
    s = load_settings({"database.url": "memory://flag", "runtime.namespace": None}, cwd=tmp_path,
                      environ={"PORTFLOW_DATABASE_URL": "memory://env"})
    assert s.database_url == "memory://flag" and s.namespace == "file"


def test_default_store_is_sqlite_in_home(tmp_path):
    s = load_settings(cwd=tmp_path, environ={})
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith(".portflow/portflow.db")


def test_config_file_named_by_variable(tmp_path):
    path = tmp_path / "conf.toml"
    path.write_text('[listener]\nserver = "uvicorn"\n')
    assert load_settings(environ={"PORTFLOW_CONFIG": str(path)})["listener.server"] == "uvicorn"


def test_unknown_key_is_an_error_naming_it(tmp_path):
    (tmp_path / ".portflow.toml").write_text("[runtime]\nnamspace = 'x'\n")
    with pytest.raises(ConfigError, match="unknown setting 'runtime.namspace'"):
        load_settings(cwd=tmp_path, environ={})


def test_bad_choice_and_type(tmp_path):
    with pytest.raises(ConfigError, match="listener.server: expected one of granian, uvicorn"):
        load_settings({"listener.server": "gunicorn"}, cwd=tmp_path, environ={})
    with pytest.raises(ConfigError, match=r"\$PORTFLOW_RUNTIME_GRACE"):
        load_settings(cwd=tmp_path, environ={"PORTFLOW_RUNTIME_GRACE": "soon"})


def test_plugin_tables_are_kept(tmp_path):
    (tmp_path / ".portflow.toml").write_text("[plugins]\ndisable = ['sql']\n[plugins.ctrl]\nx = 1\n")
    s = load_settings(cwd=tmp_path, environ={})
    assert s["plugins.disable"] == ["sql"] and s.plugins == {"ctrl": {"x": 1}}


def test_missing_config_file_named_by_variable(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(environ={"PORTFLOW_CONFIG": str(tmp_path / "nope.toml")})


def test_list_settings_from_variables_and_logging(tmp_path):
    s = load_settings(cwd=tmp_path, environ={"PORTFLOW_PLUGINS_DISABLE": "sql, system",
                                             "PORTFLOW_LOGGING_FORMAT": "json"})
    assert s["plugins.disable"] == ["sql", "system"] and s["logging.format"] == "json"
    assert s.runtime_settings().plugins_disable == ("sql", "system")
    s = load_settings({"logging.level": "debug"}, cwd=tmp_path, environ={"PORTFLOW_LOGGING_LEVEL": "error"})
    assert s["logging.level"] == "debug"


def test_unknown_variable_is_an_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"\$PORTFLOW_RUNTIME_NAMSPACE: unknown setting 'runtime.namspace'"):
        load_settings(cwd=tmp_path, environ={"PORTFLOW_RUNTIME_NAMSPACE": "x"})


def test_environment_table_and_plugin_config_reach_the_runtime(tmp_path):
    (tmp_path / ".portflow.toml").write_text("[environment]\nPORT = '8000'\n[plugins.net]\nserver = 'uvicorn'\n")
    s = load_settings(cwd=tmp_path, environ={})
    assert s["environment"] == {"PORT": "8000"}
    assert s.runtime_settings().plugins_config == {"net": {"server": "uvicorn"}}
