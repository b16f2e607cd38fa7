#!/usr/bin/env python3
"""The client's own CPU per request: the bench's Trio client against httpx's AsyncClient.

    .venv/bin/python scripts/client-cost.py --address unix:/tmp/d/api.sock [--requests 2000]

Against a running daemon's cheapest route (GET /state, best with no containers), one request at
a time on one keep-alive connection, in this process: the CPU this process spends per request
(the daemon's is not counted), for each client, twice in alternating order. httpx is a test
dependency (``make install`` brings it).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable

import httpx
import trio

from containerd_trio.client import routes
from containerd_trio.client.protocol import Endpoint
from containerd_trio.client.trio_transport import TrioTransport

Run = Callable[[int], Awaitable[None]]


async def lean(address: str) -> tuple[Run, Callable[[], Awaitable[None]]]:
    transport = TrioTransport(address)

    async def run(count: int) -> None:
        request = routes.state()
        for _ in range(count):
            answer = await transport.call(request)
            assert answer.status == 200
            answer.json(address)

    return run, transport.aclose


async def with_httpx(address: str) -> tuple[Run, Callable[[], Awaitable[None]]]:
    endpoint = Endpoint.parse(address)
    transport = httpx.AsyncHTTPTransport(uds=endpoint.unix_path) if endpoint.unix_path else None
    client = httpx.AsyncClient(base_url=endpoint.base_url, transport=transport, trust_env=False)

    async def run(count: int) -> None:
        for _ in range(count):
            response = await client.get("/state")
            assert response.status_code == 200
            response.json()

    return run, client.aclose


async def measure(address: str, requests: int) -> None:
    clients = {"h11 (bench)": lean, "httpx": with_httpx}
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
    for order in (list(clients), list(reversed(clients))):
        for name in order:
            run, close = await clients[name](address)
            await run(100)  # connect, warm up
            cpu, wall = time.process_time(), time.perf_counter()
            await run(requests)
            figures[name].append(
                ((time.process_time() - cpu) / requests, (time.perf_counter() - wall) / requests)
            )
            await close()
    for name, samples in figures.items():
        cpu = min(sample[0] for sample in samples)
        wall = min(sample[1] for sample in samples)
        print(f"{name:12} cpu {cpu * 1e3:.3f} ms/request   wall {wall * 1e3:.3f} ms/request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", required=True, help="HOST:PORT or unix:PATH of a daemon")
    parser.add_argument("--requests", type=int, default=2000)
    options = parser.parse_args()
    trio.run(measure, options.address, options.requests)


if __name__ == "__main__":
    main()
