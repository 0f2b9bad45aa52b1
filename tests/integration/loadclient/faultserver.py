"""A hostile HTTP server for loadclient's accounting tests, one fault per process.

It serves GET /healthz on --health-port (so the shared harness can wait for it) and the fault
on --port: `close` accepts and closes at once; `reset` answers the first request's headers and
part of the body, then resets the connection; `slow` answers every GET of any /cas/ path with
--blob, one at a time, each after --delay-ms (so it carries 1000/delay-ms requests/s);
`silent` reads requests and never answers; `interim` answers every request (HEAD too) with
`100 Continue` and `103 Early Hints` before its `200`. It counts the requests it read.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket
import struct

COUNT = {"requests": 0}
INTERIM = (
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </cas/x>; rel=preload\r\n\r\n"
)


async def health(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await reader.readuntil(b"\r\n\r\n"):
        body = str(COUNT["requests"]).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


async def fault(
    args: argparse.Namespace, blob: bytes, lock: asyncio.Lock,
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
) -> None:  # fmt: skip
    if args.mode == "close":
        writer.close()
        return
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            COUNT["requests"] += 1
            if args.mode == "silent":
                continue
            if args.mode == "reset":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
                await writer.drain()
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            if args.mode == "interim":
                writer.write(INTERIM)
            async with lock:  # one at a time: a server of known capacity
                await asyncio.sleep(args.delay_ms / 1000)
            body = b"" if head.startswith(b"HEAD ") else blob
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(blob) + body)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--health-port", type=int, required=True)
    p.add_argument("--mode", choices=("close", "reset", "slow", "silent", "interim"), required=True)
    p.add_argument("--blob", default="")
    p.add_argument("--delay-ms", type=float, default=5.0)
    args = p.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the overload opens thousands
    blob = open(args.blob, "rb").read() if args.blob else b""  # noqa: SIM115, ASYNC230
    lock = asyncio.Lock()
    await asyncio.start_server(health, "127.0.0.1", args.health_port)
    server = await asyncio.start_server(
        lambda r, w: fault(args, blob, lock, r, w), "127.0.0.1", args.port, backlog=4096
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
