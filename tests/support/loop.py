"""Proof that the event loop stays responsive while something else runs, without a clock."""

from __future__ import annotations

import asyncio


async def round_trips_while(task: asyncio.Future, wanted: int = 3) -> int:
    """Echo bytes over a loopback socket until ``wanted`` round trips are done or ``task`` ends; returns how
    many completed while ``task`` was still running. Each round trip needs the event loop to accept, read and
    write, so a count of ``wanted`` proves the loop served I/O while the task ran (no clock involved)."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    done = 0
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        try:
            while done < wanted and not task.done():
                writer.write(b"x")
                await writer.drain()
                read = asyncio.ensure_future(reader.readexactly(1))
                await asyncio.wait([read, task], return_when=asyncio.FIRST_COMPLETED)
                if not read.done() or task.done():
                    read.cancel()
                    break
                done += 1
        finally:
            writer.close()
    finally:
        server.close()
    return done
