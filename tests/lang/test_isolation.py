"""python-isolated is a boundary: known escapes fail, the child sees nothing of the engine's, forged
replies are refused, and replies are buffered linearly under a size limit."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from portflow.errors import CompileError, FlowError
from portflow.lang import _isolated

MARK = Path("/tmp/portflow-escape-mark")

ESCAPES = {
    "operator.attrgetter": "import operator\ndef main(self):\n    return operator.attrgetter('__class__.__base__')(self)",
    "format attribute walk": "def main(self):\n    return '{0.__class__.__base__}'.format(self)",
    "str.format_map": "def main(self):\n    return '{x.__class__}'.format_map({'x': self})",
    "string.Formatter": "import string\ndef main(self):\n    return string.Formatter().format('{0.__class__}', self)",
    "__subclasses__": "def main(self):\n    return type(self).mro()[-1].__subclasses__()",
    "gi_frame": "def main(self):\n    g = (x for x in [1])\n    return g.gi_frame.f_back.f_globals",
    "f_back via a generator": "def main(self):\n    def g():\n        yield 1\n    return g().gi_frame.f_back",
    "__import__": "def main(self):\n    return __import__('os').system('touch /tmp/portflow-escape-mark')",
    "importlib": "import importlib\ndef main(self):\n    return importlib.import_module('os')",
    "import os": "import os\ndef main(self):\n    return os.system('touch /tmp/portflow-escape-mark')",
    "__builtins__": "def main(self):\n    return __builtins__['open']('/tmp/portflow-escape-mark', 'w')",
    "getattr with a dunder": "def main(self):\n    return getattr(self, '__class__')",
    "functools.reduce(getattr)": "import functools\ndef main(self):\n    return functools.reduce(getattr, ['__class__'], self)",
    "open": "def main(self):\n    return open('/tmp/portflow-escape-mark', 'w')",
    "traceback frames": "def main(self):\n    try:\n        1 / 0\n    except Exception as e:\n        return e.__traceback__.tb_frame",
}


@pytest.mark.parametrize("name", sorted(ESCAPES))
async def test_known_escapes_fail(languages, name):
    MARK.unlink(missing_ok=True)
    with pytest.raises((CompileError, FlowError)):
        program = languages.compile("python-isolated", ESCAPES[name], timeout=5)
        await program(1)
    assert not MARK.exists()


def _probe_pool(body: str, max_reply: int = _isolated.MAX_REPLY) -> _isolated.Pool:
    """A pool whose children run the real ``serve`` (limits, uid drop) with ``body`` as the handler."""
    script = textwrap.dedent(body) + "\nfrom portflow.lang import _isolated\n_isolated.serve(run, 512 << 20)\n"
    return _isolated.Pool(1, [sys.executable, "-I", "-c", script], max_reply)


async def test_the_child_sees_no_environment_no_descriptors_and_no_privileges(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTFLOW_DATABASE_URL", "postgresql://secret@db/x")
    secret = tmp_path / "engine.db"
    secret.write_text("the engine's data")
    secret.chmod(0o600)
    pool = _probe_pool(f"""
        import os, resource
        def run(key, code, payload):
            try:
                os.fork()
                forked = True
            except OSError:
                forked = False
            try:
                with open('/tmp/portflow-escape-mark', 'w') as f:
                    f.write('x')
                wrote = True
            except OSError:
                wrote = False
            try:
                read = open({str(secret)!r}).read()
            except OSError:
                read = None
            return {{'env': dict(os.environ), 'uid': os.getuid(), 'gid': os.getgid(), 'groups': os.getgroups(),
                    'fds': sorted(int(f) for f in os.listdir('/proc/self/fd')), 'forked': forked,
                    'wrote': wrote, 'read': read, 'as': resource.getrlimit(resource.RLIMIT_AS)[0]}}
    """)
    MARK.unlink(missing_ok=True)
    seen = await pool.call("k", "", None, 10, "probe")
    assert set(seen["env"]) <= {"LC_CTYPE"}  # empty; Python itself sets LC_CTYPE (PEP 538)
    assert seen["fds"][:3] == [0, 1, 2] and len(seen["fds"]) <= 4  # the pipes, /dev/null, the listing itself
    assert seen["forked"] is False
    assert seen["as"] == 512 << 20
    if os.geteuid() == 0:
        assert (seen["uid"], seen["gid"], seen["groups"]) == (65534, 65534, [])
        assert seen["read"] is None
    assert seen["wrote"] is False  # RLIMIT_FSIZE=0: not a byte written


FORGERIES = {
    "a pickle": "import pickle, sys\ndef run(k, c, p):\n    data = pickle.dumps(('ok', 1))\n"
    "    sys.__stdout__.buffer.write(len(data).to_bytes(4, 'big') + data)\n    sys.__stdout__.buffer.flush()\n"
    "    return 1\n",
    "another request's id": "def run(k, c, p):\n    import sys\n    from portflow.lang import _isolated\n"
    "    data = _isolated._encode([999, True, 'forged'])\n"
    "    sys.__stdout__.buffer.write(_isolated._HEAD.pack(len(data)) + data)\n    sys.__stdout__.buffer.flush()\n"
    "    return 'real'\n",
    "an oversize length": "def run(k, c, p):\n    return 'x' * 2_000_000\n",
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
async def test_a_forged_reply_is_refused_and_the_child_replaced(name):
    pool = _probe_pool(FORGERIES[name], max_reply=1_000_000)
    with pytest.raises(FlowError, match="^probe: refused the subprocess's reply: "):
        await pool.call("k", "", None, 10, "probe")
    first = pool.idle
    assert first == []  # the child was killed, not put back


async def test_the_pipe_stays_in_step_after_a_refused_reply(languages):
    program = languages.compile("python-isolated", "self * 2", timeout=5)
    assert [await program(i) for i in range(5)] == [0, 2, 4, 6, 8]


async def test_a_large_reply_arrives_whole_and_an_oversize_one_is_refused(languages, monkeypatch):
    program = languages.compile("python-isolated", "'x' * self", timeout=20)
    assert len(await program(20_000_000)) == 20_000_000
    pool = _probe_pool("def run(k, c, p):\n    return 'x' * p\n", max_reply=5_000_000)
    assert len(await pool.call("k", "", 4_000_000, 10, "probe")) == 4_000_000
    with pytest.raises(FlowError, match="more than the limit of 5000000"):
        await pool.call("k", "", 6_000_000, 10, "probe")


async def test_the_allowed_modules_work_in_the_child(languages):
    code = "import datetime\ndef main(self):\n    return datetime.datetime.strptime(self, '%Y-%m-%d').year"
    assert await languages.compile("python-isolated", code, timeout=5)("2024-01-02") == 2024
    assert await languages.compile("python", code, timeout=5)("2024-01-02") == 2024
