"""sleep (alias wait): delay, then pass on unchanged (uniflow-semantics §8, §12)."""

import time

import pytest

from portflow.errors import SpecError
from portflow.plugins.ctrl import register
from portflow.plugins.ctrl.sleep import SleepNode
from portflow.scheme import Context, Scheme


async def test_waits_then_outputs_the_input(send, recorder):
    node = SleepNode(0.05)
    sink = recorder()
    node.out_port.link(sink.in_port)
    start = time.perf_counter()
    assert await send(node, {"a": 1}) == {"a": 1}
    assert time.perf_counter() - start >= 0.045
    assert sink.seen == [{"a": 1}]


@pytest.mark.parametrize(("kind", "interval", "seconds"), [("sleep", "150ms", 0.15), ("wait", 20, 0.02),
                                                           ("sleep", "1m30s", 90.0)])
def test_interval_is_a_duration_and_wait_is_an_alias(kind, interval, seconds):
    scheme = Scheme()
    register(scheme)
    node = scheme.compile(scheme.decode({"kind": kind, "interval": interval}), Context(scheme))
    assert isinstance(node, SleepNode) and node.interval == pytest.approx(seconds)


def test_bad_interval_names_the_field():
    scheme = Scheme()
    register(scheme)
    with pytest.raises(SpecError, match=r"spec 'nap' \(kind sleep\): interval: invalid duration 'soon'"):
        scheme.decode({"kind": "sleep", "name": "nap", "interval": "soon"})
