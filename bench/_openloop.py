"""An open-loop load generator for bench/web.py's latency at half load.

wrk measures throughput well, but to offer a steady load below saturation it can only make
each connection wait before its next request, on a connection it has already opened: a
gunicorn sync worker then sits on that idle connection (in production a proxy in front
opens the upstream connection when the request arrives). So latency under a given load is
measured here instead, the way users behind a proxy arrive:

- requests arrive at random (a Poisson process) at `rate` per second, for `seconds`;
- each opens its own connection when it arrives and closes it when answered (as a
  proxy's upstream request to a sync worker does), with at most `connections` (32) in
  flight; an arrival that finds 32 busy waits for one;
- each request's latency runs from the moment it was due, not from when it could be
  sent, so waiting for a free connection counts (no coordinated omission).

asyncio in one thread: about a tenth of a millisecond of CPU a request.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class OpenLoopRun:
    offered_rate: float
    latencies_ms: list[float]
    errors: int
    seconds: float

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0

    @property
    def p99_ms(self) -> float:
        return self.percentile(99)


def http_request(
    method: str, path: str, host: str, headers: dict[str, str], body: str | None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    payload = body.encode() if body is not None else b""
    if body is not None:
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _one(host: str, port: int, request: bytes) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        response = await reader.read()  # the server closes the connection when done
    finally:
        writer.close()
    status = response[9:12]
    return int(status) if status.isdigit() else 0


async def _run(
    host: str, port: int, request: bytes, rate: float, seconds: float, connections: int, ok: int
) -> OpenLoopRun:
    slots = asyncio.Semaphore(connections)
    latencies: list[float] = []
    errors = 0
    rng = random.Random()

    async def arrive(due: float) -> None:
        nonlocal errors
        async with slots:
            try:
                status = await _one(host, port, request)
            except OSError:
                status = 0
        if status != ok:
            errors += 1
        latencies.append((time.perf_counter() - due) * 1000)

    tasks = []
    start = time.perf_counter()
    due = start
    while True:
        due += rng.expovariate(rate)
        if due - start > seconds:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(arrive(due)))
    await asyncio.gather(*tasks)
    return OpenLoopRun(rate, latencies, errors, time.perf_counter() - start)


def run(
    base: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: str | None,
    *,
    rate: float,
    seconds: float,
    connections: int = 32,
    ok: int = 200,
) -> OpenLoopRun:
    """Offers `rate` requests a second for `seconds` to `base` (http://host:port)."""
    host, port = base.removeprefix("http://").split(":")
    request = http_request(method, path, host, headers, body)
    return asyncio.run(_run(host, int(port), request, rate, seconds, connections, ok))
