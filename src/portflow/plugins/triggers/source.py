"""What every trigger kind shares: a node that opens a process per event and sends it on ``out``.

``Source.fire(payload)`` runs one process: the payload on ``out``; an error answer goes to ``error`` (and is
logged when ``error`` does not handle it); on success the process's resources commit (its SQL) before it
exits. It returns the error, or None: a broker would acknowledge a message only on None. ``spawn(work)``
runs a ``fire`` in a task of its own; ``run(loop)`` starts the node's background loop in the runtime's
lifetime; ``unload`` stops the loop and waits for the processes in flight (cancelling them after
``grace`` seconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ...errors import FlowError
from ...lifetime import Job, Lifetime, TaskStatus
from ...node import Node
from ...packet import Packet
from ...port import ERROR, OUT, OutPort
from ...process import Process

__all__ = ["Source"]

log = logging.getLogger("portflow.triggers")


class Source(Node):
    """The base of the trigger kinds; see the module docstring."""

    OUTPORTS = {OUT: "out_port", ERROR: "error_port"}

    def __init__(self, label: str, lifetime: Lifetime | None = None, grace: float = 10.0,
                 log_fields: dict[str, Any] | None = None) -> None:
        self.label = label
        #: ``extra=`` of every line about this node: its spec's namespace, name and kind (``logs.fields``).
        self.log_fields = log_fields or {}
        self.lifetime = lifetime if lifetime is not None else Lifetime()
        self.grace = grace
        self.out_port = OutPort(OUT, self)
        self.error_port = OutPort(ERROR, self)
        self.fired = 0  # processes opened
        self._job: Job[Any] | None = None
        self._inflight: set[asyncio.Task[Any]] = set()

    async def run(self, loop: Callable[[TaskStatus[Any]], Awaitable[Any]]) -> None:
        """Start the background loop (it calls ``status.started()`` once it is ready)."""
        self._job = await self.lifetime.spawn(loop, name=f"portflow-{self.label}", owner=self)

    async def unload(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            await job.stop()
        await self.drain()

    async def drain(self) -> None:
        """Wait for the processes in flight; cancel those still running after ``grace`` seconds."""
        pending = [t for t in self._inflight if not t.done()]
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=self.grace)
        if late:
            log.warning("%s: %d process(es) still running after %.1fs; cancelling", self.label, len(late), self.grace,
                        extra=self.log_fields)
            for task in late:
                task.cancel()
            await asyncio.wait(late, timeout=1.0)

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``work`` (a ``fire``, say) in a task of its own, tracked so that ``unload`` waits for it."""
        task = asyncio.get_running_loop().create_task(work)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return task

    async def fire(self, payload: Any, *, to_error: bool = True) -> BaseException | None:
        """Run one process for ``payload``; the error it ended with, or None when it succeeded.

        With ``to_error`` (the default) a failure is also sent to ``error``; a broker that retries a message
        passes False and sends only its last failure there (``dead_letter``)."""
        self.fired += 1
        proc = Process()
        error: BaseException | None = FlowError(f"{self.label}: process cancelled")
        try:
            out = Packet(payload)  # an error as the payload (a file that does not decode) goes to error alone
            answer = out if isinstance(payload, BaseException) else await self.out_port.send(proc, out, out)
            if isinstance(answer.payload, BaseException):
                error = answer.payload
                if not to_error:
                    log.info("%s: the flow failed: %s", self.label, error, extra=self.log_fields)
                    return error
                handled = await self.error_port.send(proc, answer, answer)
                log.log(logging.INFO if handled is not answer else logging.ERROR,
                        "%s: the flow failed%s: %s", self.label,
                        "; sent to error" if handled is not answer else "", error, extra=self.log_fields)
            else:
                await proc.commit()
                error = None
            await proc.join()
        except Exception as exc:  # noqa: BLE001 - a failing commit or node: the event failed, logged
            log.error("%s: the flow failed: %s", self.label, exc, extra=self.log_fields)
            error = exc
        finally:
            await proc.exit(error)
        return error
