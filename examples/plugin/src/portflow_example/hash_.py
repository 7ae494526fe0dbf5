"""hash: the digest of each payload (text or bytes), written as hex or base64 text."""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Literal, get_args

from portflow import Context, FlowError, OneToOne, Packet, Process, Scheme, Spec

__all__ = ["HashSpec", "HashNode", "compile_hash", "register", "Algorithm", "ALGORITHMS"]

Algorithm = Literal["sha256", "sha1", "md5"]
Encoding = Literal["hex", "base64"]
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)


class HashSpec(Spec, kw_only=True):
    """Outputs the digest of each payload: a string is hashed as its UTF-8 bytes, bytes as they are, and
    any other payload is an error. ``algorithm`` is ``sha256`` unless the spec or the plugin's setting
    ``[plugins.example] algorithm`` says otherwise; ``encoding`` writes the digest as ``hex`` or ``base64``.
    """

    algorithm: Algorithm | None = None
    encoding: Encoding = "hex"


class HashNode(OneToOne):
    """in -> digest of the payload -> out | error."""

    def __init__(self, algorithm: str = "sha256", encoding: str = "hex") -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}")
        self.algorithm = algorithm
        self.encoding = encoding
        super().__init__()

    def action(self, proc: Process, pck: Packet) -> Packet:
        data = pck.payload
        if isinstance(data, str):
            data = data.encode()
        elif not isinstance(data, bytes):
            raise FlowError(f"hash: expected text or bytes, got {type(data).__name__}")
        digest = hashlib.new(self.algorithm, data).digest()
        if self.encoding == "base64":
            return Packet(base64.b64encode(digest).decode("ascii"))
        return Packet(digest.hex())


def compile_hash(spec: HashSpec, context: Context, *, default: str = "sha256") -> HashNode:
    return HashNode(spec.algorithm or default, spec.encoding)


def register(scheme: Scheme, *, default: str = "sha256") -> None:
    scheme.register(
        "hash", HashSpec, functools.partial(compile_hash, default=default),
        description="Hash each payload (text or bytes) with sha256, sha1 or md5; output hex or base64 text.",
        ports={"in": "the text or bytes to hash", "out": "the digest, as text",
               "error": "a payload that is neither text nor bytes"},
        example=(
            "kind: hash\n"
            "name: etag\n"
            "algorithm: sha1\n"
            "encoding: base64\n"
        ),
        plugin="example",
    )
