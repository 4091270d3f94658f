#!/usr/bin/env python3
"""Requests per second and p50/p99 of `tools/call` get_task and create_task over HTTP
(`minsky serve`), with 1, 8 and 32 concurrent clients, on one instance and on two sharing one
PostgreSQL (clients split between them). Each client keeps one connection (HTTP/1.1 keep-alive).

Usage: scripts/bench-serve.py MINSKY POSTGRES_URL [SECONDS]
(MINSKY: a release build; the URL: a server where a scratch database may be created).
The client runs on the same machine as the servers and the database: on 2 cores they compete.
"""
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time

MINSKY, URL = sys.argv[1], sys.argv[2]
SECONDS = float(sys.argv[3]) if len(sys.argv) > 3 else 5
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}}


class Conn:
    def __init__(self, port, token):
        self.port, self.token = port, token

    async def open(self):
        self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)

    async def call(self, tool, args, rid):
        body = json.dumps({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                           "params": {"name": tool, "arguments": args, "_meta": META}}).encode()
        head = (f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAuthorization: Bearer {self.token}\r\n"
                f"MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: {tool}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self.w.write(head + body)
        await self.w.drain()
        headers = await self.r.readuntil(b"\r\n\r\n")
        if not headers.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"bench: {headers[:100]!r}")
        length = int(next(l.split(b":")[1] for l in headers.split(b"\r\n") if l.lower().startswith(b"content-length")))
        return json.loads(await self.r.readexactly(length))


async def run(ports, token, clients, tool, seed_ids):
    conns = [Conn(ports[i % len(ports)], token) for i in range(clients)]
    for c in conns:
        await c.open()
    latencies = []
    stop = time.monotonic() + SECONDS

    async def loop(k, c):
        n = 0
        while time.monotonic() < stop:
            args = {"id": seed_ids[(k * 7919 + n) % len(seed_ids)]} if tool == "get_task" else {"title": f"bench {k} {n}"}
            t = time.perf_counter()
            await c.call(tool, args, n)
            latencies.append(time.perf_counter() - t)
            n += 1

    start = time.monotonic()
    await asyncio.gather(*(loop(k, c) for k, c in enumerate(conns)))
    elapsed = time.monotonic() - start
    for c in conns:
        c.w.close()
    latencies.sort()
    return len(latencies) / elapsed, latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000


def main():
    db = f"bench_serve_{os.getpid()}"
    base = URL.rsplit("/", 1)[0]
    subprocess.run(["psql", "-q", URL, "-c", f"CREATE DATABASE {db}"], check=True)
    store = f"{base}/{db}"
    env = dict(os.environ, MINSKY_DB=store)
    work = tempfile.mkdtemp()
    user = subprocess.run(["psql", "-tA", store, "-c", "SELECT current_user"], capture_output=True, text=True).stdout.strip()
    made = subprocess.run([MINSKY, "team", "token", "create", "bench", "--role", user, "--json"], env=env, cwd=work,
                          capture_output=True, text=True, check=True)
    token = json.loads(made.stdout)["token"]
    seeds = []
    for i in range(200):
        r = subprocess.run([MINSKY, "tasks", "create", f"seed {i}", "--json"], env=env, cwd=work, capture_output=True, text=True)
        seeds.append(json.loads(r.stdout)["id"])
    servers, ports = [], []
    for _ in range(2):
        p = subprocess.Popen([MINSKY, "serve", "--json", "--listen", "127.0.0.1:0"], env=env, cwd=work,
                             stdout=subprocess.PIPE, text=True)
        servers.append(p)
        ports.append(json.loads(p.stdout.readline())["port"])
    print("| tool | clients | instances | requests/s | p50 | p99 |")
    print("|---|---|---|---|---|---|")
    try:
        for tool in ["get_task", "create_task"]:
            for instances in [1, 2]:
                for clients in [1, 8, 32]:
                    rps, p50, p99 = asyncio.run(run(ports[:instances], token, clients, tool, seeds))
                    print(f"| {tool} | {clients} | {instances} | {rps:.0f} | {p50:.2f} ms | {p99:.2f} ms |", flush=True)
    finally:
        for p in servers:
            p.terminate()
        subprocess.run(["psql", "-q", URL, "-c", f"DROP DATABASE {db} WITH (FORCE)"])


main()
