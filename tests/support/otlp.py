"""An OTLP/HTTP receiver on loopback for tests: it decodes the protobuf the exporter sends."""

from __future__ import annotations

import contextlib
import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP receiver: POST /v1/traces, protobuf bodies decoded into ``requests``."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.got = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        assert self.path == "/v1/traces" and self.headers["Content-Type"] == "application/x-protobuf"
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.requests.append(request)
        self.server.got.set()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        return None


@contextlib.contextmanager
def serving() -> Iterator[Receiver]:
    """A receiver serving on a thread of its own until the block ends."""
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def spans_of(receiver: Receiver) -> tuple[dict, set]:
    """``({name: span}, {service.name})`` of everything the receiver got."""
    spans, services = {}, set()
    for request in receiver.requests:
        for resource_spans in request.resource_spans:
            attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            services.add(attrs.get("service.name"))
            for scope in resource_spans.scope_spans:
                assert scope.scope.name == "portflow"
                for span in scope.spans:
                    spans[span.name] = span
    return spans, services
