"""Slow clients cannot hold `minsky serve`: N connections send a request's headers a line a
second and never finish, while real requests keep being answered.

Usage: python slowloris.py PORT TOKEN [N]. Prints the latency of real requests before and during;
exits non-zero if fewer than N slow connections were held or any real request failed.
"""
import asyncio
import json
import resource
import sys
import time

PORT, TOKEN = int(sys.argv[1]), sys.argv[2]
N = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
    "name": "list_tasks", "arguments": {"limit": 5},
    "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}}).encode()
REQUEST = (f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nAuthorization: Bearer {TOKEN}\r\n"
           "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: list_tasks\r\n"
           f"Content-Type: application/json\r\nConnection: close\r\nContent-Length: {len(BODY)}\r\n\r\n").encode() + BODY


async def real():
    t = time.perf_counter()
    r, w = await asyncio.open_connection("127.0.0.1", PORT)
    w.write(REQUEST)
    await w.drain()
    data = await r.read()
    w.close()
    return (time.perf_counter() - t) * 1000, data.startswith(b"HTTP/1.1 200")


async def slow(held):
    try:
        r, w = await asyncio.open_connection("127.0.0.1", PORT)
        held.append(w)
        w.write(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % PORT)
        await w.drain()
        while True:
            await asyncio.sleep(1)
            w.write(b"X-Slow: yes\r\n")
            await w.drain()
    except (ConnectionError, OSError, asyncio.CancelledError):
        pass


async def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < N + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, N + 1000), hard))
    before = sorted([(await real())[0] for _ in range(30)])
    held = []
    tasks = [asyncio.create_task(slow(held)) for _ in range(N)]
    await asyncio.sleep(3)
    during, failed = [], 0
    for _ in range(30):
        ms, ok = await real()
        during.append(ms)
        failed += not ok
    during.sort()
    print(f"held {len(held)} slow connections; real requests p50 {before[15]:.1f} ms before, "
          f"{during[15]:.1f} ms during (max {during[-1]:.1f} ms); failed {failed}", flush=True)
    for t in tasks:
        t.cancel()
    if len(held) < N or failed:
        raise SystemExit("slowloris failure: the server let slow clients hold it")


asyncio.run(main())
