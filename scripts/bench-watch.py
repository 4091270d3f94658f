#!/usr/bin/env python3
"""Change-feed latency: from a write committed by process A (a `minsky mcp` server creating and
updating tasks) to the line `minsky tasks watch --json` prints in process B; then the watcher's
CPU time while nothing happens. Usage:

    scripts/bench-watch.py [--db URL] [--n 200]     # default: a fresh SQLite project

Latency is measured against each event's `at` (stamped inside the writing transaction, just
before it commits), so it slightly overstates the delay. Needs a built .build/release/minsky."""
import argparse, datetime, json, os, statistics, subprocess, sys, tempfile, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--db")
ap.add_argument("--n", type=int, default=200)
ap.add_argument("--minsky", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "minsky"))
a = ap.parse_args()
minsky = os.path.abspath(a.minsky)
work = tempfile.mkdtemp(prefix="minsky-bench-watch-")
env = dict(os.environ)
if a.db:
    env["MINSKY_DB"] = a.db
else:
    subprocess.run([minsky, "init"], cwd=work, check=True, capture_output=True)

watcher = subprocess.Popen([minsky, "tasks", "watch", "--json"], cwd=work, env=env, stdout=subprocess.PIPE, text=True)
writer = subprocess.Popen([minsky, "mcp"], cwd=work, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
rid = 0
def call(method, params):
    global rid
    rid += 1
    writer.stdin.write(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}) + "\n")
    writer.stdin.flush()
    while True:
        m = json.loads(writer.stdout.readline())
        if m.get("id") == rid:
            return m
call("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}})

latencies = []
seen = threading.Event()
def read():
    for line in watcher.stdout:
        now = time.time()
        e = json.loads(line)
        at = datetime.datetime.fromisoformat(e["at"].replace("Z", "+00:00")).timestamp()
        latencies.append((now - at) * 1000)
        seen.set()
threading.Thread(target=read, daemon=True).start()
time.sleep(1.5)  # the watcher is connected and idle
for i in range(a.n):
    seen.clear()
    call("tools/call", {"name": "create_task", "arguments": {"title": f"bench {i}"}})
    seen.wait(5)
    time.sleep(0.02)

def cpu_ms(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1000 / os.sysconf("SC_CLK_TCK")
c0 = cpu_ms(watcher.pid)
time.sleep(10)
idle = cpu_ms(watcher.pid) - c0
watcher.terminate(); writer.stdin.close(); writer.wait()
q = statistics.quantiles(latencies, n=100)
print(f"store: {'postgres' if a.db else 'sqlite'}  events: {len(latencies)}/{a.n}")
print(f"commit -> watch line: p50 {q[49]:.1f} ms  p99 {q[98]:.1f} ms  max {max(latencies):.1f} ms")
print(f"watcher CPU while idle: {idle:.0f} ms over 10 s")
