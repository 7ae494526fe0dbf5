"""mask: values' data hidden in answers unless the request says ?show_data=true."""

from __future__ import annotations

from portflow.errors import FlowError
from portflow.node import OneToOne
from portflow.packet import Packet
from portflow.plugins.system.mask import Mask, mask_data, wants_data

from .conftest import send_to

VALUE = {"id": "1", "namespace": "default", "name": "db", "data": {"user": "u", "password": ["p", 1]}}
MASKED = {**VALUE, "data": {"user": "***", "password": ["***", "***"]}}


def answering(answer):
    mask = Mask()
    inner = OneToOne(lambda proc, pck: Packet(answer))
    mask.out_port.link(inner.in_port)
    return mask


def test_mask_data_keeps_shape():
    assert mask_data("secret") == "***" and mask_data(3) == "***"
    assert mask_data({"a": {"b": [1, 2]}}) == {"a": {"b": ["***", "***"]}}


async def test_masks_http_bodies_and_bare_documents():
    assert await send_to(answering({"status": 200, "body": [VALUE, VALUE]}), {}) == \
        {"status": 200, "body": [MASKED, MASKED]}
    assert await send_to(answering({"status": 201, "body": VALUE}), {"query": {}}) == {"status": 201, "body": MASKED}
    assert await send_to(answering(VALUE), None) == MASKED
    assert await send_to(answering([VALUE]), None) == [MASKED]


async def test_show_data_passes_the_answer_untouched():
    request = {"query": {"show_data": ["true"]}}
    assert wants_data(request) and wants_data({"query": {"show_data": [""]}})
    assert not wants_data({"query": {"show_data": ["false"]}}) and not wants_data({})
    assert await send_to(answering({"status": 200, "body": [VALUE]}), request) == {"status": 200, "body": [VALUE]}


async def test_other_answers_pass():
    for answer in ({"status": 404, "body": {"error": "no"}}, {"status": 200, "body": "text"}, "plain"):
        assert await send_to(answering(answer), {}) == answer
    error = await send_to(answering(FlowError("boom")), {})
    assert isinstance(error, FlowError)
    assert await send_to(Mask(), {"x": 1}) == {"x": 1}
