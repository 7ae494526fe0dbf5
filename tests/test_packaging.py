"""The built wheel: installed into a fresh venv, it carries LICENSE and the examples, runs `portflow start`
of an example on a real socket, and names the extra to install for a part it lacks."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from cli.test_start import free_port, wait_for_pong

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=600)
    [built] = out.glob("portflow-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed (its default dependencies only: no extras)."""
    where = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=300)
    installed = subprocess.run([str(where / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True,
                               text=True, timeout=900, check=False)
    assert installed.returncode == 0, installed.stderr[-2000:]
    return where


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTFLOW_", "VIRTUAL_ENV", "PYTHON"))}
    env["PORTFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path / 'portflow.db'}"
    env["HOME"] = str(tmp_path)
    return env


def test_the_wheel_carries_the_license_and_the_examples(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {"portflow/examples/ping.yaml", "portflow/examples/system.yaml"} <= set(names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any("examples/plugin" in n for n in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Provides-Extra: postgres" in metadata and "Provides-Extra: all" in metadata


def test_the_license_is_apache_2():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]


def test_start_an_example_from_the_installed_wheel(venv, tmp_path):
    portflow = str(venv / "bin" / "portflow")
    env = clean_env(tmp_path)
    listed = subprocess.run([portflow, "examples"], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, check=False)
    assert listed.returncode == 0 and "ping" in listed.stdout, listed.stderr
    wrote = subprocess.run([portflow, "examples", "ping", "-o", "."], env=env, cwd=tmp_path, capture_output=True,
                           text=True, timeout=120, check=False)
    assert wrote.returncode == 0 and (tmp_path / "ping.yaml").exists(), wrote.stderr
    port = free_port()
    proc = subprocess.Popen([portflow, "start", "--from-specs", "ping.yaml", "-e", f"PORT={port}"], env=env,
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_pong(f"http://127.0.0.1:{port}/ping", proc)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_the_plain_install_draws_the_picture(venv, tmp_path):
    """igraph is a dependency, not an extra: `pip install portflow` lays out the SVG (and the /ui/ picture)."""
    drawn = subprocess.run([str(venv / "bin" / "portflow"), "graph", "-f", str(ROOT / "examples" / "ping.yaml"),
                            "-o", "svg"], env=clean_env(tmp_path), cwd=tmp_path, capture_output=True, text=True,
                           timeout=120, check=False)
    assert drawn.returncode == 0, drawn.stderr
    assert drawn.stdout.startswith("<svg") and ">pong<" in drawn.stdout


def test_a_missing_extra_is_one_line_naming_it(venv, tmp_path):
    env = clean_env(tmp_path)
    env["PORTFLOW_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:5432/postgres"
    result = subprocess.run([str(venv / "bin" / "portflow"), "get", "specs"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: the store postgresql://postgres@127.0.0.1:5432/postgres needs the "
                                     "'postgres' extra: pip install 'portflow[postgres]'")


def test_every_example_is_in_the_package():
    """src/portflow/examples links each examples/*.yaml (a new example needs its link there)."""
    shipped = sorted(p.name for p in (ROOT / "src" / "portflow" / "examples").glob("*.yaml"))
    assert shipped == sorted(p.name for p in (ROOT / "examples").glob("*.yaml"))
    for name in shipped:
        assert (ROOT / "src" / "portflow" / "examples" / name).read_text() == (ROOT / "examples" / name).read_text()


def test_a_sql_driver_without_its_extra_is_refused_naming_it(venv, tmp_path):
    spec = "- kind: sql\n  name: q\n  driver: postgres\n  source: postgresql://db/x\n"
    result = subprocess.run([str(venv / "bin" / "portflow"), "apply", "-f", "-"], input=spec, env=clean_env(tmp_path),
                            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "the sql driver 'postgres' needs the 'postgres' extra: pip install 'portflow[postgres]'" in result.stderr


def test_extras_name_what_they_install(monkeypatch):
    from portflow import extras
    from portflow.plugins.sql.drivers import default_drivers

    assert extras.missing("postgres") == [] and extras.missing("mysql") == []  # `make install` installs [all]
    monkeypatch.setitem(extras.EXTRAS, "mysql", ("portflow_no_such_module",))
    with pytest.raises(extras.MissingExtra, match=r"^the mysql driver needs the 'mysql' extra: pip install 'portflow\[mysql\]'$"):
        extras.require("mysql", "the mysql driver")
    driver = default_drivers().get("mariadb")
    with pytest.raises(ValueError, match=r"needs the 'mysql' extra"):
        driver.check("mysql://db/x")
