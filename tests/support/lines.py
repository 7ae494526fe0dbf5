"""The lines a subprocess writes, read as they come, with a handshake to wait for one."""

from __future__ import annotations

import threading


class Lines:
    """The lines a stream gives, read by a thread; ``wait_for`` is the readiness handshake on them."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.lines.append("")  # EOF marker
            self.changed.notify_all()

    def wait_for(self, predicate, what: str, timeout: float = 30.0) -> str:
        with self.changed:
            found: list[str] = []

            def ready() -> bool:
                found[:] = [line for line in self.lines if line and predicate(line)]
                return bool(found) or (bool(self.lines) and self.lines[-1] == "")  # found, or the stream ended

            self.changed.wait_for(ready, timeout)
        assert found, f"no line for {what}; got:\n" + "\n".join(self.lines)
        return found[0]
