"""``admin.token`` as a template bound to a value of the namespace: served, rotated, never printed."""

from __future__ import annotations

import os
import re
import subprocess
import time

from .conftest import LOADED, PING, PORTFLOW
from .test_ui import request

TEMPLATE = '{{ index . "admin-token" }}'


def values_file(tmp_path, data: str):
    path = tmp_path / f"values-{data}.yaml"
    path.write_text(f"- name: admin-token\n  data: {data}\n")
    return path


def portflow(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env["PORTFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path / 'portflow.db'}"
    return subprocess.run([PORTFLOW, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def until_status(url: str, token: str, status: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := request(url, token)[0]) != status:
        assert time.monotonic() < deadline, f"{url} with that token still answers {got}, not {status}"
        time.sleep(0.05)


def test_a_template_token_is_bound_to_its_value_and_follows_a_rotation(start, tmp_path):
    s = start("--from-specs", str(PING), "--from-values", str(values_file(tmp_path, "first-s3cret")),
              "-e", "PORT=0", "--admin", "127.0.0.1:0", extra_env={"PORTFLOW_ADMIN_TOKEN": TEMPLATE})
    graph = f"{s.admin()}/ui/api/graph"
    s.wait_for(LOADED)
    assert request(graph)[0] == 401
    assert request(graph, TEMPLATE)[0] == 401  # the template itself is no token
    assert request(graph, "first-s3cret")[0] == 200
    applied = portflow(tmp_path, "apply", "values", "-f", str(values_file(tmp_path, "second-s3cret")))
    assert applied.returncode == 0, applied.stderr
    until_status(graph, "second-s3cret", 200)
    assert request(graph, "first-s3cret")[0] == 401
    # The value gone: every request is refused (never an open page), and it says so.
    deleted = portflow(tmp_path, "delete", "values", "--name", "admin-token")
    assert deleted.returncode == 0, deleted.stderr
    until_status(graph, "second-s3cret", 401)
    s.wait_for(re.compile("admin.token: the template binds no value"))
    assert "first-s3cret" not in s.output and "second-s3cret" not in s.output


def test_a_template_token_that_binds_nothing_fails_start_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env.update(PORTFLOW_DATABASE_URL=f"sqlite:///{tmp_path / 'portflow.db'}", PORTFLOW_ADMIN_TOKEN=TEMPLATE)
    run = subprocess.run([PORTFLOW, "start", "--from-specs", str(PING), "-e", "PORT=0", "--admin", "127.0.0.1:0"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: admin.token: the template binds no value of namespace 'default' "
                      "(apply the value it names, e.g. `portflow apply values`)"], run.stderr
    assert "Traceback" not in run.stderr


def test_workers_bind_a_template_token_too(start, tmp_path):
    s = start("--from-specs", str(PING), "--from-values", str(values_file(tmp_path, "w0rkers-s3cret")),
              "-e", "PORT=0", "--workers", "2", "--admin", "127.0.0.1:0",
              extra_env={"PORTFLOW_ADMIN_TOKEN": TEMPLATE})
    graph = f"{s.admin()}/ui/api/graph"
    until_status(graph, "w0rkers-s3cret", 200, timeout=60)
    assert request(graph, "wrong")[0] == 401
    assert "w0rkers-s3cret" not in s.output


def test_config_view_masks_a_text_token_and_shows_a_template(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    for token, shown in (("pl4in-s3cret", "***"), (TEMPLATE, TEMPLATE)):
        run = subprocess.run([PORTFLOW, "config", "view"], cwd=tmp_path, capture_output=True, text=True,
                             env={**env, "PORTFLOW_ADMIN_TOKEN": token}, timeout=60)
        assert run.returncode == 0, run.stderr
        row = next(line for line in run.stdout.splitlines() if line.startswith("admin.token"))
        assert shown in row and ("pl4in-s3cret" not in run.stdout)
