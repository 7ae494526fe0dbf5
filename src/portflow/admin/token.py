"""``admin.token``: the browser view's bearer token, as text or as a template bound to the namespace's values.

A template is rendered over the namespace's values by name, e.g. ``admin.token: '{{ index . "admin-token" }}'``
(``{{ .TOKEN }}`` for a value named ``TOKEN``), so the secret lives in the store like the system namespace's
token and never in a settings file. Every runtime (and a ``--workers`` supervisor) re-renders it when the
namespace's values change, so rotating the value rotates the token.

A template that binds nothing (no such value, an empty one) fails ``start`` with one line. When the value goes
away while serving, the view refuses every request until it is bound again: a missing secret never means an
open page. Every token is hidden from the log lines (``logs.hide``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

from ..errors import TemplateError, UserError
from ..logs import hide
from ..template import NO_VALUE, has_template, render

__all__ = ["AdminToken"]

log = logging.getLogger("portflow.admin")

#: Seconds before a failed change stream of the values is opened again.
RETRY = 1.0


class AdminToken:
    """Renders ``admin.token`` and keeps it current; ``apply(token)`` receives each new token."""

    def __init__(self, template: str, namespace: str, store: Any, apply: Callable[[str], None]) -> None:
        self.template = template
        self.namespace = namespace
        self.store = store
        self.apply = apply
        self._task: asyncio.Task[None] | None = None

    @property
    def bound(self) -> bool:
        """Whether the token comes from the store's values (and so follows their changes)."""
        return has_template(self.template)

    async def render(self) -> str:
        """The token now; ``UserError`` (one line, naming the setting) when the template binds nothing."""
        if not self.bound:
            return self.template
        values = await self.store.values.find({"namespace": self.namespace})
        data = {v["name"]: v.get("data") for v in values if v.get("name")}
        try:
            text = render(self.template, data).strip()
        except TemplateError as exc:
            raise UserError(f"admin.token: {exc}") from None
        if not text or NO_VALUE in text:
            raise UserError(f"admin.token: the template binds no value of namespace {self.namespace!r} "
                            "(apply the value it names, e.g. `portflow apply values`)")
        return text

    async def start(self) -> str:
        """Render the token (hidden from the logs from now on) and, for a template, follow the values."""
        token = await self.render()
        hide([token])
        if self.bound:
            watch = self.store.values.watch({"namespace": self.namespace})
            self._task = asyncio.get_running_loop().create_task(self._follow(watch), name="portflow-admin-token")
        return token

    async def _follow(self, watch: Any) -> None:
        """Re-render on every change of the values; a change stream that fails is opened again (and the
        token re-read, in case a change went by meanwhile)."""
        while True:
            try:
                async with watch:
                    async for _event in watch:
                        await self._refresh()
                return  # the store closed
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the store hiccupped: watch again
                log.warning("admin.token: the values' change stream failed (%s); watching again in %.0fs",
                            exc, RETRY)
            await asyncio.sleep(RETRY)
            try:
                watch = self.store.values.watch({"namespace": self.namespace})
            except Exception as exc:  # noqa: BLE001 - not open again yet: the next round retries
                log.warning("admin.token: cannot watch the values yet (%s)", exc)
                continue
            await self._refresh()

    async def _refresh(self) -> None:
        try:
            token = await self.render()
        except UserError as exc:
            log.warning("%s; the view refuses every request until it is bound", exc)
            token = secrets.token_urlsafe(32)  # known to nobody: every request is refused
        except Exception as exc:  # noqa: BLE001 - the store hiccupped; the next change retries
            log.warning("admin.token: could not re-read the values: %s", exc)
            return
        hide([token])
        self.apply(token)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
