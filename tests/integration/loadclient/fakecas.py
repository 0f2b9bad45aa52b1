"""A tiny single-threaded CAS server for loadclient's tests, with faults on demand.

PUT /cas/{digest} (multipart part "file" or raw body, checked against the SHA-256),
GET and HEAD /cas/{digest}, GET /healthz. Faults: --stall-at N stalls the whole server once
for --stall-ms just before answering the N-th GET (the coordinated-omission case);
--wrong-every N corrupts every N-th GET body; --put-status S rejects uploads with S;
--head-status S answers HEAD with S; --head-silent 1 never answers a HEAD.
A known capacity: --service-ms T answers each GET T ms after one worker is free to start it
(one worker, requests queue beyond it: capacity 1000/T per second); with --concurrency 0
every GET just waits T ms (no queue: as fast as the client can ask).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import time

BLOBS: dict[str, bytes] = {}
STATS = {"gets": 0}
FREE_AT = [0.0]  # when the one simulated worker is next free (loop time)


def multipart_file(body: bytes, content_type: str) -> bytes:
    """Multipart_file returns the part named "file" of a multipart/form-data body."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    assert boundary, content_type
    for part in body.split(b"--" + boundary.group(1).encode()):
        head, sep, data = part.partition(b"\r\n\r\n")
        if sep and b'name="file"' in head:
            return data[:-2] if data.endswith(b"\r\n") else data
    raise ValueError("no part named file")


def respond(status: str, body: bytes = b"", headers: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: application/octet-stream\r\n{headers}\r\n"
    ).encode() + body


def handle(
    args: argparse.Namespace, method: str, path: str, headers: dict[str, str], body: bytes
) -> bytes:
    if path == "/healthz":
        return respond("200 OK", b"ok")
    m = re.fullmatch(r"/cas/([0-9a-f]{64})", path)
    if m is None:
        return respond("404 Not Found")
    digest = m.group(1)
    if method == "PUT":
        if args.put_status:
            return respond(f"{args.put_status} Rejected", b"rejected by test server")
        ctype = headers.get("content-type", "")
        data = multipart_file(body, ctype) if ctype.startswith("multipart/") else body
        if hashlib.sha256(data).hexdigest() != digest:
            return respond("400 Bad Request", b"digest mismatch")
        new = digest not in BLOBS
        BLOBS[digest] = data
        return respond("201 Created" if new else "200 OK")
    if method == "HEAD":
        return head(args, digest)
    if method == "GET":
        data = BLOBS.get(digest)
        if data is None:
            return respond("404 Not Found")
        STATS["gets"] += 1
        n = STATS["gets"]
        if n == args.stall_at:
            time.sleep(args.stall_ms / 1000)  # blocks the only thread: the whole server stalls
        if args.wrong_every and n % args.wrong_every == 0:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        return respond("200 OK", data, f"X-Cache: {args.x_cache}\r\n" if args.x_cache else "")
    return respond("405 Method Not Allowed")


def head(args: argparse.Namespace, digest: str) -> bytes:
    if args.head_status:
        return respond(f"{args.head_status} Head Status")
    data = BLOBS.get(digest)
    if data is None:
        return respond("404 Not Found")
    return respond("200 OK", data)[: -len(data) or None]  # the head of the GET's answer


def service_wait_s(args: argparse.Namespace) -> float:
    """Service_wait_s is how long this GET waits: in line for the one worker, then served."""
    service_s = args.service_ms / 1000
    if not args.concurrency:
        return service_s
    now = asyncio.get_running_loop().time()
    done = max(now, FREE_AT[0]) + service_s
    FREE_AT[0] = done
    return done - now


async def serve_client(
    args: argparse.Namespace, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if method == "HEAD" and args.head_silent:
                continue  # the client gives up; its next request (if any) is not answered
            if method == "GET" and args.service_ms:
                await asyncio.sleep(service_wait_s(args))
            writer.write(handle(args, method, path, headers, body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--stall-at", type=int, default=0)
    p.add_argument("--stall-ms", type=int, default=500)
    p.add_argument("--wrong-every", type=int, default=0)
    p.add_argument("--put-status", type=int, default=0)
    p.add_argument("--x-cache", default="")
    p.add_argument("--head-status", type=int, default=0)
    p.add_argument("--head-silent", type=int, default=0)
    p.add_argument("--service-ms", type=float, default=0.0)
    p.add_argument("--concurrency", type=int, default=1)
    args = p.parse_args()
    server = await asyncio.start_server(
        lambda r, w: serve_client(args, r, w), "127.0.0.1", args.port, backlog=1024
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
