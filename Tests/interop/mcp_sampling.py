"""Sampling: the official Python MCP client answers sampling/createMessage, so decompose_task and
score_complexity run on the calling agent's own model. Usage: python mcp_sampling.py MINSKY PROJECT"""
import json
import sys

import anyio
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

MINSKY, PROJECT = sys.argv[1], sys.argv[2]
EXTRA_ENV = dict(arg.split("=", 1) for arg in sys.argv[3:])
seen = []


async def sampling(context, params):
    prompt = params.messages[0].content.text
    seen.append(prompt)
    if "Document: Config parser" in prompt:
        answer = {"subtasks": [{"title": "Parser epic", "description": "", "priority": 1, "acceptance": [], "dependsOn": [], "parent": None},
                               {"title": "Read the file", "description": "", "priority": 0, "acceptance": ["errors name the line"], "dependsOn": [], "parent": 0}]}
    elif "Rate how complex" in prompt:
        answer = {"score": 6, "reasoning": "a few parts", "recommendedSubtasks": 2, "decompositionPrompt": "split"}
    else:
        answer = {"subtasks": [{"title": "Write the parser", "description": "", "complexity": 4, "dependsOn": []},
                               {"title": "Test the parser", "description": "", "complexity": 2, "dependsOn": [0]}]}
    return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="```json\n" + json.dumps(answer) + "\n```"),
                                     model="python-test-model", stop_reason="endTurn")


def check(cond, message):
    if not cond:
        raise SystemExit(f"sampling failure: {message}")


async def main():
    async with stdio_client(StdioServerParameters(command=MINSKY, args=["mcp"], cwd=PROJECT, env=EXTRA_ENV or None)) as streams:
        async with ClientSession(streams[0], streams[1], sampling_callback=sampling) as session:
            await session.initialize()
            task = (await session.call_tool("create_task", {"title": "Build a parser"})).structured_content
            scored = await session.call_tool("score_complexity", {"id": task["id"]})
            check(not scored.is_error, f"score_complexity: {scored.content}")
            check(scored.structured_content["score"] == 6 and not scored.structured_content["needsAnswer"], f"{scored.structured_content}")
            result = await session.call_tool("decompose_task", {"id": task["id"]})
            check(not result.is_error, f"decompose_task: {result.content}")
            sc = result.structured_content
            check(sc["needsAnswer"] is False and [s["title"] for s in sc["subtasks"]] == ["Write the parser", "Test the parser"], f"{sc}")
            check(len(seen) == 2 and "Build a parser" in seen[1], f"prompts seen: {seen}")
            # A requirements document, planned by the client's model too.
            planned = await session.call_tool("decompose_task", {"document": "# Config parser\n\nRead the config file; report errors by line.\n"})
            check(not planned.is_error, f"decompose_task document: {planned.content}")
            sc = planned.structured_content
            check([s["title"] for s in sc["subtasks"]] == ["Parser epic", "Read the file"], f"{sc}")
            check(len(seen) == 3 and "report errors by line" in seen[2], f"prompts seen: {seen}")
            tree = (await session.call_tool("task_tree", {"id": sc["parentId"]})).structured_content
            root = tree["roots"][0]
            check(root["title"] == "Config parser" and root["children"][0]["children"][0]["title"] == "Read the file", f"{tree}")
            print("ok: sampling answered by the client")


anyio.run(main)
