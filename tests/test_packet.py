from portflow.errors import FlowError
from portflow.packet import NONE, Packet, error, is_none, join


def test_join_of_nothing_is_none():
    assert join([]) is NONE


def test_join_of_one_is_itself():
    p = Packet({"a": 1})
    assert join([p]) is p


def test_join_drops_none_packets_and_keeps_null_payloads_in_order():
    assert join([Packet(1), NONE, Packet(None), Packet(3)]).payload == [1, None, 3]


def test_join_of_only_nones_is_none():
    assert join([NONE, NONE]) is NONE


def test_a_null_payload_is_an_answer_not_none():
    null = Packet(None)
    assert not is_none(null) and is_none(NONE) and is_none(None)
    assert join([NONE, null]) is null
    assert join([null, null]).payload == [None, None]


def test_join_leaves_a_single_survivor_unwrapped():
    assert join([NONE, Packet("x")]).payload == "x"


def test_join_with_errors_joins_their_messages():
    out = join([Packet(1), error("first"), error(FlowError("second"))])
    assert isinstance(out.payload, FlowError)
    assert str(out.payload) == "first\nsecond"


def test_error_packet_from_text():
    p = error("boom")
    assert p.is_error and str(p.payload) == "boom"
