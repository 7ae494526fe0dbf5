"""hash: the node built directly, and the spec through the scheme."""

from __future__ import annotations

import base64
import hashlib

import pytest

from portflow import Context, FlowError, SpecError
from portflow_example.hash_ import HashNode


@pytest.mark.parametrize("algorithm", ["sha256", "sha1", "md5"])
async def test_hashes_text_as_utf8_in_hex(algorithm, send):
    node = HashNode(algorithm)
    assert await send(node, "héllo") == hashlib.new(algorithm, "héllo".encode()).hexdigest()


async def test_hashes_bytes_and_writes_base64(send):
    node = HashNode("sha1", "base64")
    assert await send(node, b"hello") == base64.b64encode(hashlib.sha1(b"hello").digest()).decode()
    assert await send(node, b"hello") == "qvTGHdzF6KLavt4PO0gs2a6pQ00="


async def test_other_payloads_are_errors_travelling_as_data(send):
    answer = await send(HashNode(), {"body": "hello"})
    assert isinstance(answer, FlowError)
    assert str(answer) == "hash: expected text or bytes, got dict"


def test_an_unknown_algorithm_is_a_programming_error_when_built_directly():
    with pytest.raises(ValueError, match="unknown algorithm 'crc32'"):
        HashNode("crc32")


def test_spec_defaults_to_sha256_hex(scheme):
    node = scheme.compile(scheme.decode({"kind": "hash"}), Context(scheme))
    assert isinstance(node, HashNode)
    assert (node.algorithm, node.encoding) == ("sha256", "hex")


def test_an_unknown_algorithm_in_a_spec_names_the_field(scheme):
    with pytest.raises(SpecError) as caught:
        scheme.decode({"kind": "hash", "name": "etag", "algorithm": "crc32", "encoding": "hex"})
    assert str(caught.value) == "spec 'etag' (kind hash): algorithm: invalid enum value 'crc32'"


def test_every_wrong_field_is_reported(scheme):
    with pytest.raises(SpecError) as caught:
        scheme.decode({"kind": "hash", "name": "etag", "algorithm": "crc32", "encoding": "base32"})
    assert caught.value.problems == [
        "algorithm: invalid enum value 'crc32'", "encoding: invalid enum value 'base32'"]
