"""2026-07-28 through the official Python client (`Client(mode="2026-07-28")`):

- decompose_task and a document plan answered by the client's own model through multi
  round-trip requests (the server answers an InputRequiredResult carrying
  sampling/createMessage; the SDK calls the sampling callback and retries with inputResponses
  and the sealed requestState);
- a subscriptions/listen stream that sees changes made by another process (the CLI): the task
  it subscribed to, and the resource list.

Usage: python mcp_modern.py MINSKY PROJECT [ENV=VALUE...]. Exits non-zero on the first failure.
"""
import json
import os
import subprocess
import sys

import anyio
import mcp_types as types
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.subscriptions import ResourcesListChanged, ResourceUpdated

MINSKY, PROJECT = sys.argv[1], sys.argv[2]
EXTRA_ENV = dict(arg.split("=", 1) for arg in sys.argv[3:])
seen = []


def check(cond, message):
    if not cond:
        raise SystemExit(f"modern interop failure: {message}")


async def sampling(context, params):
    prompt = params.messages[0].content.text
    seen.append(prompt)
    if "Document: Config parser" in prompt:
        answer = {"subtasks": [{"title": "Parser epic", "description": "", "priority": 1, "acceptance": [], "dependsOn": [], "parent": None},
                               {"title": "Read the file", "description": "", "priority": 0, "acceptance": ["errors name the line"], "dependsOn": [], "parent": 0}]}
    elif len([p for p in seen if "Build a parser" in p]) == 1 and "Build a parser" in prompt:
        answer = {"subtasks": [{"title": "", "description": "", "complexity": 4, "dependsOn": []}]}  # refused: a repair round follows
    else:
        answer = {"subtasks": [{"title": "Write the parser", "description": "", "complexity": 4, "dependsOn": []},
                               {"title": "Test the parser", "description": "", "complexity": 2, "dependsOn": [0]}]}
    return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text=json.dumps(answer)),
                                     model="python-test-model", stop_reason="endTurn")


def cli(*args):
    env = dict(os.environ, **EXTRA_ENV)
    r = subprocess.run([MINSKY, *args], cwd=PROJECT, env=env, capture_output=True, text=True)
    check(r.returncode == 0, f"minsky {' '.join(args)}: {r.stderr}")
    return r.stdout


async def main():
    params = StdioServerParameters(command=MINSKY, args=["mcp"], cwd=PROJECT, env=EXTRA_ENV or None)
    async with Client(params, mode="2026-07-28", sampling_callback=sampling) as client:
        check(client.protocol_version == "2026-07-28", f"negotiated {client.protocol_version}")
        task = (await client.call_tool("create_task", {"title": "Build a parser"})).structured_content
        result = await client.call_tool("decompose_task", {"id": task["id"]})
        check(not result.is_error, f"decompose_task: {result.content}")
        sc = result.structured_content
        check([s["title"] for s in sc["subtasks"]] == ["Write the parser", "Test the parser"], f"{sc}")
        check(sc["attempts"] == 2, f"the first answer was refused and repaired in a second round: {sc}")
        check(len(seen) == 2 and "rejected" in seen[1], f"prompts seen: {seen}")
        planned = await client.call_tool("decompose_task", {"document": "# Config parser\n\nRead the config file; report errors by line.\n"})
        check(not planned.is_error, f"decompose_task document: {planned.content}")
        check([s["title"] for s in planned.structured_content["subtasks"]] == ["Parser epic", "Read the file"], f"{planned.structured_content}")

        uri = f"minsky://tasks/{task['id']}"
        async with client.listen(resources_list_changed=True, resource_subscriptions=[uri]) as sub:
            check(sub.honored.resources_list_changed and sub.honored.resource_subscriptions == [uri], f"honoured {sub.honored}")
            cli("tasks", "update", task["id"], "--title", "Build a parser (renamed elsewhere)")
            got = set()
            with anyio.fail_after(20):
                async for event in sub:
                    if isinstance(event, ResourceUpdated) and event.uri == uri:
                        got.add("updated")
                        cli("tasks", "create", "Made by the CLI")
                    if isinstance(event, ResourcesListChanged) and "updated" in got:
                        got.add("list")
                    if got == {"updated", "list"}:
                        break
        read = await client.read_resource(uri)
        check("renamed elsewhere" in read.contents[0].text, f"read after the update: {read.contents}")
        print("ok: multi round-trip sampling and subscriptions")


anyio.run(main)
