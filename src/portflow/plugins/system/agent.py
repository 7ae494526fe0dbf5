"""The agent of the ``internal`` driver: the live processes of one runtime and the hops they made.

A subscriber of the runtime's hop observer (``observe``), created the first time the driver is compiled
in a runtime (``context.services.get(Agent)``) and subscribed from then on: a process is kept from its
first hop until it exits, with its last ``MAX_FRAMES`` frames.

The frames are uniflow's agent's: one for each packet a symbol's in-port reads (``input`` the packet,
``output`` the answer) and one for each packet a symbol's out-port writes (``output`` the packet sent,
``input`` the answer it got back, joined when it went to several in-ports), in the order they happened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ...observe import Hop, Subscriber
from ...packet import Packet, join
from ...process import TERMINATED, Process
from ...redact import CREDENTIAL_HEADERS, hide_credentials
from ...scheme import Context
from ...spec import format_duration

__all__ = ["Agent", "MAX_FRAMES", "CREDENTIAL_HEADERS", "process_row", "frame_row", "hop_frame"]

#: The most frames kept per process (the oldest go first), so a long process cannot grow without bound.
MAX_FRAMES = 1000
_MISSING = object()


@dataclass(slots=True)
class _Frame:
    symbol_id: str
    port: str
    input: Any = _MISSING
    output: Any = _MISSING
    start: float = field(default_factory=time.monotonic)
    end: float | None = None


def _plain(value: Any) -> Any:
    """A payload as a table cell: errors as their message, other non-JSON values as their text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, BaseException):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return str(value)


class Agent(Subscriber):
    """Follows one runtime's processes and their frames through its hop observer."""

    def __init__(self, symbol_of: Any = None) -> None:
        self.processes: dict[str, Process] = {}
        self.frames: dict[str, list[_Frame]] = {}
        self._open: dict[Hop, _Frame] = {}
        #: An out-port's write in flight: its frame, the answers of its hops (by link index), how many are due.
        self._writes: dict[tuple[int, int, int], tuple[_Frame, list[Packet | None], list[int]]] = {}
        self._symbol_of = symbol_of if symbol_of is not None else (lambda node: None)

    @classmethod
    def service(cls, context: Context) -> Agent:
        agent = cls(context.observer.symbol_of)
        context.lifetime.callback(_unsubscribing(context.observer.subscribe(agent)))
        return agent

    def process_started(self, proc: Process, packet: Packet | None = None) -> None:
        self.processes[proc.id] = proc

    def process_exited(self, proc: Process) -> None:
        self.processes.pop(proc.id, None)
        self.frames.pop(proc.id, None)
        if self._writes:
            for key in [k for k in self._writes if k[0] == id(proc)]:
                del self._writes[key]

    def hop_started(self, hop: Hop) -> None:
        proc = hop.process
        if proc.status == TERMINATED or proc.id not in self.processes:
            return
        frames = self.frames.setdefault(proc.id, [])
        if hop.index == 0:
            source = self._symbol_of(hop.source.node)
            if source is not None:
                write = _Frame(source.id, hop.source.name, output=hop.packet.payload)
                frames.append(write)
                due = len(hop.source.links)
                self._writes[(id(proc), id(hop.source), id(hop.packet))] = (write, [None] * due, [due])
        frame = self._open[hop] = hop_frame(hop)
        frames.append(frame)
        if len(frames) > MAX_FRAMES:
            del frames[: len(frames) - MAX_FRAMES]

    def hop_ended(self, hop: Hop) -> None:
        frame = self._open.pop(hop, None)
        if frame is not None and hop.answer is not None:
            frame.output, frame.end = hop.answer.payload, time.monotonic()
        key = (id(hop.process), id(hop.source), id(hop.packet))
        write = self._writes.get(key)
        if write is None:
            return
        out, answers, due = write
        if hop.index < len(answers):
            answers[hop.index] = hop.answer
        due[0] -= 1
        if due[0] <= 0:
            del self._writes[key]
            got = [a for a in answers if a is not None]
            if got:
                out.input, out.end = join(got).payload, time.monotonic()

    def frame_of(self, hop: Hop) -> _Frame | None:
        """The frame of a hop that has started and not yet ended."""
        return self._open.get(hop)

    # -- rows ---------------------------------------------------------------------------------------
    def process_rows(self) -> list[dict[str, Any]]:
        return [process_row(proc) for proc in list(self.processes.values())]

    def frame_rows(self, process_id: str | None = None) -> list[dict[str, Any]]:
        """uniflow's frame rows: of every process, or of the process ``process_id`` only."""
        frames = self.frames if process_id is None else {process_id: self.frames.get(process_id, [])}
        return [frame_row(pid, f) for pid, fs in list(frames.items()) for f in list(fs)]


def process_row(proc: Process) -> dict[str, Any]:
    """uniflow's JSON of a process: its data (JSON-able entries), id, status, times, parent and error."""
    row: dict[str, Any] = {}
    try:
        data = proc.data()
    except Exception:  # noqa: BLE001 - data is best effort
        data = {}
    for key, value in data.items():
        if isinstance(key, str) and (value is None or isinstance(value, (bool, int, float, str, list, dict))):
            row[key] = _plain(value)
    row.update({"id": proc.id, "status": proc.status, "start_time": int(proc.start_time)})
    if proc.parent is not None:
        row["parent_id"] = proc.parent.id
    if proc.end_time is not None:
        row["end_time"] = int(proc.end_time)
    if proc.error is not None:
        row["error"] = str(proc.error)
    return row


def hop_frame(hop: Hop) -> _Frame:
    """A frame for a hop that has just started: the target's symbol and in-port, and the packet."""
    return _Frame(hop.symbol.id if hop.symbol is not None else "", hop.target.name, hop.packet.payload)


def frame_row(process_id: str, f: _Frame) -> dict[str, Any]:
    """uniflow's JSON of a frame: process, symbol, port, input, and output and time once answered."""
    row: dict[str, Any] = {"process_id": process_id, "symbol_id": f.symbol_id, "port": f.port}
    if f.input is not _MISSING:
        row["input"] = hide_credentials(_plain(f.input))
    if f.output is not _MISSING:
        row["output"] = hide_credentials(_plain(f.output))
    if f.end is not None:
        row["time"] = format_duration(f.end - f.start, 1e-6)
    return row


#: The name internal.py (and its tests) use for ``redact.hide_credentials``.
_credentials_hidden = hide_credentials


def _unsubscribing(unsubscribe: Any) -> Any:
    async def cleanup() -> None:
        unsubscribe()

    return cleanup
