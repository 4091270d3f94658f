"""Two `minsky serve` on one PostgreSQL behind a round-robin proxy written here: clients alternate
between the instances with every request (no connection is reused), and one instance is killed
part way through. Every acknowledged write must be in the store, once; clients retry a request
whose connection failed (the proxy sends it to the instance still alive).

Usage: python serve_two.py PROXY_PORT PORT1 PORT2 TOKEN KILL_PID [CLIENTS CALLS]
(both instances must answer to Host 127.0.0.1:PROXY_PORT: `--allow-host`)
Prints a summary line; exits non-zero with a message on the first failure.
"""
import asyncio
import json
import os
import random
import signal
import sys
import time

PROXY_PORT = int(sys.argv[1])
PORTS = [int(sys.argv[2]), int(sys.argv[3])]
TOKEN, KILL_PID = sys.argv[4], int(sys.argv[5])
CLIENTS = int(sys.argv[6]) if len(sys.argv) > 6 else 16
CALLS = int(sys.argv[7]) if len(sys.argv) > 7 else 200
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "serve-two", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}}


def fail(message):
    print(f"serve_two failure: {message}", flush=True)
    os._exit(1)


class Proxy:
    """TCP round robin: each new connection goes to the next instance that accepts it."""

    def __init__(self):
        self.next = 0
        self.served = [0, 0]

    async def handle(self, reader, writer):
        for attempt in range(len(PORTS)):
            i = (self.next + attempt) % len(PORTS)
            try:
                up_r, up_w = await asyncio.open_connection("127.0.0.1", PORTS[i])
            except OSError:
                continue
            self.next = (i + 1) % len(PORTS)
            self.served[i] += 1

            async def pipe(a, b):
                try:
                    while data := await a.read(65536):
                        b.write(data)
                        await b.drain()
                except (ConnectionError, OSError):
                    pass
                finally:
                    try:
                        b.close()
                    except Exception:  # noqa: BLE001
                        pass

            await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
            return
        writer.close()


async def post(port, body, name=None):
    """One request on a new connection; the parsed JSON-RPC answer, or None if the connection failed."""
    data = json.dumps(body).encode()
    headers = [f"POST /mcp HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
               "Accept: application/json, text/event-stream", f"Authorization: Bearer {TOKEN}",
               "MCP-Protocol-Version: 2026-07-28", f"Mcp-Method: {body['method']}", "Connection: close",
               f"Content-Length: {len(data)}"]
    if name:
        headers.append(f"Mcp-Name: {name}")
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(("\r\n".join(headers) + "\r\n\r\n").encode() + data)
        await w.drain()
        raw = await r.read()
        w.close()
    except (ConnectionError, OSError):
        return None
    head, _, payload = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return None if not head else {"httpError": head.split(b"\r\n")[0].decode()}
    return json.loads(payload)


async def main():
    proxy = Proxy()
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", PROXY_PORT)
    port = PROXY_PORT
    acknowledged, retries, errors = [], [0], []
    done = [0]
    killed = [False]
    started = time.monotonic()

    async def call(tool, args, rid):
        body = {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                "params": {"name": tool, "arguments": args, "_meta": META}}
        for attempt in range(20):
            answer = await post(port, body, tool)
            if answer is not None and "httpError" not in answer:
                return answer
            retries[0] += 1
            await asyncio.sleep(0.05 * (attempt + 1))
        fail(f"{tool} never answered: {answer}")

    async def client(c):
        rng = random.Random(c)
        mine = []
        for k in range(CALLS):
            roll = rng.random()
            rid = c * 100000 + k
            if roll < 0.4 or not mine:
                title = f"client {c} call {k}"
                a = await call("create_task", {"title": title}, rid)
                sc = a.get("result", {}).get("structuredContent")
                if not sc:
                    fail(f"create answered {a}")
                mine.append(sc["id"])
                acknowledged.append((sc["id"], title))
            elif roll < 0.6:
                a = await call("update_task", {"id": rng.choice(mine), "priority": rng.randint(0, 4)}, rid)
                if a.get("result", {}).get("isError"):
                    errors.append(a)
            elif roll < 0.8:
                a = await call("get_task", {"id": rng.choice(mine)}, rid)
                if a.get("result", {}).get("isError"):
                    fail(f"get of an acknowledged task failed: {a}")
            else:
                a = await call("list_tasks", {"limit": 5}, rid)
            done[0] += 1
            if not killed[0] and done[0] >= CLIENTS * CALLS // 2:
                killed[0] = True
                os.kill(KILL_PID, signal.SIGKILL)

    async with server:
        await asyncio.gather(*(client(c) for c in range(CLIENTS)))
        elapsed = time.monotonic() - started
        # Every acknowledged create is there, once, with its title (read back through the survivor).
        ids = [i for i, _ in acknowledged]
        if len(set(ids)) != len(ids):
            fail("an id was acknowledged twice")
        for i, (tid, title) in enumerate(acknowledged):
            a = await call("get_task", {"id": tid}, 10_000_000 + i)
            got = a.get("result", {}).get("structuredContent", {}).get("task", {})
            if got.get("title") != title:
                fail(f"acknowledged {tid} ({title}) reads back as {a}")
    print(f"ok: {CLIENTS}x{CALLS} calls in {elapsed:.1f} s, {len(acknowledged)} creates acknowledged and found, "
          f"{retries[0]} retries after the kill, proxy connections {proxy.served}, update errors {len(errors)}", flush=True)


asyncio.run(main())
