"""Several machines, one PostgreSQL: two runtimes, each in its own network namespace (its own network
stack, joined to this one by a veth pair), share a database; a spec applied from a third process
reaches both.

The namespaces stand for machines: each runtime binds port 8000 on its own stack and reaches
PostgreSQL only over the veth link, through a TCP relay on this side (PostgreSQL itself listens on
loopback only here).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from support.proxy import Proxy

ROOT = Path(__file__).resolve().parents[2]
PING = ROOT / "examples" / "ping.yaml"


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


def netns_available() -> str | None:
    if shutil.which("ip") is None:
        return "the ip command is missing (iproute2)"
    probe = f"pfprobe{secrets.token_hex(3)}"
    try:
        sh("ip", "netns", "add", probe)
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"cannot create a network namespace: {getattr(exc, 'stderr', b'') or exc}"
    sh("ip", "netns", "del", probe)
    return None


@pytest.fixture
def machines():
    """Two network namespaces with a veth link each: [(name, host-side ip, namespace-side ip)]."""
    reason = netns_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set: the multi-machine test must run)", pytrace=False)
        pytest.skip(reason)
    tag = secrets.token_hex(2)
    subnet = 100 + secrets.randbelow(100)
    made = []
    try:
        for i in range(2):
            ns, host_if, ns_if = f"pf{tag}m{i}", f"pf{tag}h{i}", f"pf{tag}n{i}"
            host_ip, ns_ip = f"10.254.{subnet}.{4 * i + 1}", f"10.254.{subnet}.{4 * i + 2}"
            sh("ip", "netns", "add", ns)
            made.append(ns)
            sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
            sh("ip", "link", "set", ns_if, "netns", ns)
            sh("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
            sh("ip", "link", "set", host_if, "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield [(f"pf{tag}m{i}", f"10.254.{subnet}.{4 * i + 1}", f"10.254.{subnet}.{4 * i + 2}") for i in range(2)]
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return resp.read().decode()


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception as exc:  # noqa: BLE001 - poll until the deadline
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached in {timeout}s (last error: {last})")


def reset(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS portflow_specs, portflow_values, portflow_changelog, portflow_history")


async def test_a_spec_applied_anywhere_reaches_every_machine(machines, postgres_url, tmp_path):
    reset(postgres_url)
    parts = urllib.parse.urlsplit(postgres_url)
    relays = []
    runtimes: list[subprocess.Popen] = []
    env = {**os.environ, "PORTFLOW_DATABASE_URL": postgres_url}
    cli = [sys.executable, "-m", "portflow.cli.main"]
    try:
        # The "third machine": seeds the shared database.
        subprocess.run([*cli, "apply", "specs", "-f", str(PING)], env=env, check=True, timeout=60,
                       capture_output=True)
        for ns, host_ip, _ns_ip in machines:
            relay = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432, listen=host_ip)
            await relay.start()
            relays.append(relay)
            db = parts._replace(netloc=f"{parts.username or 'postgres'}@{host_ip}:{relay.port}").geturl()
            runtimes.append(subprocess.Popen(
                ["ip", "netns", "exec", ns, *cli, "start", "-e", "PORT=8000"],
                env={**os.environ, "PORTFLOW_DATABASE_URL": db}, cwd=tmp_path,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        urls = [f"http://{ns_ip}:8000/ping" for _, _, ns_ip in machines]
        for url in urls:
            await asyncio.to_thread(wait_for, lambda url=url: get(url) == "pong", 30, f"pong from {url}")

        changed = tmp_path / "changed.yaml"
        changed.write_text(PING.read_text().replace("code: pong", "code: pong from everywhere"))
        proc = await asyncio.create_subprocess_exec(*cli, "apply", "specs", "-f", str(changed), env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        for url in urls:
            await asyncio.to_thread(wait_for, lambda url=url: get(url) == "pong from everywhere", 10,
                                    f"the new spec at {url}")
    finally:
        for runtime in runtimes:
            runtime.terminate()
        for runtime in runtimes:
            try:
                out, _ = runtime.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                runtime.kill()
                out, _ = runtime.communicate()
            print(out.decode(errors="replace"))
        for relay in relays:
            await relay.stop()
