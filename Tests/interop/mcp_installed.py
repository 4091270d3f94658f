"""An installed minsky, driven by the official Python MCP client in both eras.

  python mcp_installed.py EXE PROJECT                  auto (2026-07-28) and legacy sessions: create, list
  python mcp_installed.py EXE DIR --first-answer-only  `minsky init` in a new folder, then one tool call;
                                                       prints the seconds it took
  python mcp_installed.py MANIFEST PROJECT --mcpb      the .mcpb server entry as Claude Desktop starts it
                                                       (${__dirname} and ${user_config.project} filled in)
Exits non-zero with a message on the first failure.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import anyio
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters

TARGET, PROJECT = sys.argv[1], sys.argv[2]
FLAGS = sys.argv[3:]


def check(cond, message):
    if not cond:
        raise SystemExit(f"installed minsky: {message}")


def server():
    if "--mcpb" in FLAGS:
        m = json.load(open(TARGET))
        here = os.path.dirname(os.path.abspath(TARGET))
        fill = lambda s: s.replace("${__dirname}", here).replace("${user_config.project}", PROJECT)
        cfg = m["server"]["mcp_config"]
        env = {k: fill(v) for k, v in cfg.get("env", {}).items()}
        env["PATH"] = "/usr/bin:/bin"  # nothing of the build tree
        return StdioServerParameters(command=fill(cfg["command"]), args=[fill(a) for a in cfg["args"]], env=env, cwd="/")
    return StdioServerParameters(command=TARGET, args=["mcp"], cwd=PROJECT, env={"PATH": "/usr/bin:/bin"})


async def session(mode):
    async with Client(server(), mode=mode) as client:
        expected = "2025-11-25" if mode == "legacy" else "2026-07-28"
        check(client.protocol_version == expected, f"{mode} negotiated {client.protocol_version}")
        made = await client.call_tool("create_task", {"title": f"made over MCP ({mode})"})
        check(not made.is_error, f"create_task ({mode}): {made.content}")
        listed = await client.call_tool("list_tasks", {})
        titles = [t["title"] for t in listed.structured_content["tasks"]]
        check(f"made over MCP ({mode})" in titles, f"list_tasks ({mode}): {titles}")


async def main():
    if "--first-answer-only" in FLAGS:
        start = time.time()
        folder = tempfile.mkdtemp(dir=PROJECT)
        subprocess.run([TARGET, "init"], cwd=folder, check=True, capture_output=True)
        async with Client(StdioServerParameters(command=TARGET, args=["mcp"], cwd=folder), mode="auto") as client:
            r = await client.call_tool("list_tasks", {})
            check(not r.is_error, f"first call: {r.content}")
        print(f"init + first call {time.time() - start:.2f} s")
        return
    await session("auto")
    await session("legacy")


anyio.run(main)
