"""Interop: the official Python MCP client drives the built `minsky mcp`.

Initializes, lists every tool (following cursors), checks each schema is valid JSON Schema
2020-12, calls every tool, and validates each structuredContent against the tool's output
schema. Usage: python mcp_interop.py /path/to/minsky /path/to/project-dir [KEY=VALUE...]
With MODE=2026-07-28|auto|legacy the SDK's `Client` connects in that mode (auto must
negotiate 2026-07-28); without it, a `ClientSession` sends `initialize` itself.
Exits non-zero with a message on the first failure.
"""
import sys

import anyio
import jsonschema
from mcp.client.client import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

if __name__ == "__main__":
    MINSKY, PROJECT = sys.argv[1], sys.argv[2]
    OPTIONS = ("UPGRADE_URL=", "MODE=")
    EXTRA_ENV = dict(arg.split("=", 1) for arg in sys.argv[3:] if not arg.startswith(OPTIONS))
    UPGRADE_URL = next((a.split("=", 1)[1] for a in sys.argv[3:] if a.startswith("UPGRADE_URL=")), None)
    MODE = next((a.split("=", 1)[1] for a in sys.argv[3:] if a.startswith("MODE=")), None)
else:  # imported by mcp_http.py, which sets what it needs
    UPGRADE_URL = None


def check(cond, message):
    if not cond:
        raise SystemExit(f"interop failure: {message}")


async def main():
    params = StdioServerParameters(command=MINSKY, args=["mcp"], cwd=PROJECT, env=EXTRA_ENV or None)
    if MODE is None:
        async with stdio_client(params) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                check(init.server_info.name == "minsky", f"server name {init.server_info.name}")
                print("protocol", init.protocol_version)
                await exercise(session, modern=False)
        return
    async with Client(params, mode=MODE) as client:
        expected = "2025-11-25" if MODE == "legacy" else "2026-07-28"
        check(client.protocol_version == expected, f"mode {MODE} negotiated {client.protocol_version}")
        if MODE != expected:  # a pinned version adopts without asking, so it knows no server info
            check(client.server_info is not None and client.server_info.name == "minsky", f"server info {client.server_info}")
        print("protocol", client.protocol_version)
        await exercise(client.session, modern=expected == "2026-07-28")


async def exercise(session, modern):
    if True:
        if True:
            tools, cursor = [], None
            while True:
                page = await session.list_tools(params={"cursor": cursor} if cursor else None)
                tools += page.tools
                cursor = page.next_cursor
                if not cursor:
                    break
            by_name = {t.name: t for t in tools}
            for t in tools:
                jsonschema.Draft202012Validator.check_schema(t.input_schema)
                check(t.output_schema is not None, f"{t.name} has no outputSchema")
                jsonschema.Draft202012Validator.check_schema(t.output_schema)
                check(t.annotations is not None, f"{t.name} has no annotations")

            async def call(name, args):
                check(name in by_name, f"tool {name} missing")
                result = await session.call_tool(name, args)
                check(not result.is_error, f"{name} failed: {result.content}")
                sc = result.structured_content
                check(sc is not None, f"{name} returned no structuredContent")
                jsonschema.validate(sc, by_name[name].output_schema, cls=jsonschema.Draft202012Validator)
                called.add(name)
                return sc

            called = set()
            epic = (await call("create_task", {"title": "Interop epic", "description": "from **Python**", "priority": 1,
                                               "tags": ["interop"], "metadata": {"k": [1, "two"]}}))
            plan = (await call("create_tasks", {"tasks": [
                {"title": "step one", "parentId": epic["id"]},
                {"title": "step two", "parentId": epic["id"], "dependsOnIndex": [0]},
            ]}))["created"]
            plan = [{"id": i} for i in plan]
            await call("list_tasks", {})
            await call("list_tasks", {"full": True, "status": ["TODO"], "limit": 5})
            await call("search_tasks", {"query": "interop"})
            got = await call("get_task", {"id": plan[1]["id"]})
            check(got["blockedBy"][0]["id"] == plan[0]["id"], "dependency from the batch")
            await call("update_task", {"id": epic["id"], "title": "Interop epic (renamed)", "expectedVersion": 1,
                                       "metadata": {"k": None, "note": "x"}})
            nxt = await call("next_task", {})
            check(nxt["tasks"][0]["id"] == plan[0]["id"], f"next ready {nxt}")
            await call("claim_task", {"id": plan[0]["id"], "owner": "python", "ttlSeconds": 600})
            await call("set_status", {"id": plan[0]["id"], "status": "DONE"})
            await call("add_dependency", {"taskId": epic["id"], "dependsOn": plan[1]["id"]})
            await call("remove_dependency", {"taskId": epic["id"], "dependsOn": plan[1]["id"]})
            await call("task_tree", {})
            hist = await call("task_history", {"id": epic["id"]})
            check([e["kind"] for e in hist["events"]][:2] == ["created", "updated"], f"history of the epic {hist}")
            taken = await call("claim_task", {"owner": "python"})
            check(taken["id"] == plan[1]["id"] and taken["assignee"] == "python", f"claim the next ready {taken}")
            # Coordination: paths leased by a claim, evidence on DONE, a cursor of changes, a brief.
            lease = (await call("create_tasks", {"tasks": [
                {"title": "py store", "paths": ["py/store/**"]}, {"title": "py query", "paths": ["py/store/q.py"]}]}))["created"]
            await call("claim_task", {"id": lease[0], "owner": "py-a"})
            clear = await call("next_task", {"owner": "py-b", "limit": 20})
            check(lease[1] not in [t["id"] for t in clear["tasks"]], f"next skips leased paths {clear}")
            refused = await session.call_tool("claim_task", {"id": lease[1], "owner": "py-b"})
            check(refused.is_error and lease[0] in refused.content[0].text, f"overlapping claim refused {refused.content}")
            closed = await call("set_status", {"id": lease[0], "status": "DONE",
                                               "evidence": {"commits": ["abc1234"], "command": "pytest", "exitStatus": 0}})
            check(closed["evidence"]["commits"] == ["abc1234"], f"evidence stored {closed}")
            changes = await call("task_history", {"since": "1h", "budgetTokens": 1500})
            check(lease[0] in [t["id"] for t in changes["tasks"]] and changes["cursor"], f"changes since {changes}")
            brief = await call("get_task", {"id": lease[1], "brief": True, "budgetTokens": 500})
            check(brief["task"]["paths"] == ["py/store/q.py"], f"brief {brief}")
            await call("delete_task", {"id": epic["id"], "cascade": True})
            # Without a configured model, the AI tools hand the agent instructions, then take its answer.
            target = (await call("create_task", {"title": "Plan the release"}))["id"]
            ask = await call("decompose_task", {"id": target, "max": 3})
            check(ask["needsAnswer"] is True and "Plan the release" in ask["instructions"], "decompose instructions")
            jsonschema.Draft202012Validator.check_schema(ask["answerSchema"])
            answer = {"subtasks": [{"title": "Freeze", "description": "", "complexity": 2, "dependsOn": []},
                                   {"title": "Ship", "description": "", "complexity": 3, "dependsOn": [0]}]}
            jsonschema.validate(answer, ask["answerSchema"])
            done = await call("decompose_task", {"id": target, "plan": answer})
            check(done["needsAnswer"] is False and len(done["subtasks"]) == 2, f"decompose applied {done}")
            q = await call("score_complexity", {"id": target})
            check(q["needsAnswer"] is True, "complexity instructions")
            scored = await call("score_complexity", {"id": target, "answer": {"score": 4, "reasoning": "two steps", "recommendedSubtasks": 2, "decompositionPrompt": "freeze then ship"}})
            check(scored["score"] == 4, "complexity stored")
            # No embeddings server in this run: a readable tool error, not a protocol fault.
            sim = await session.call_tool("similar", {"text": "release"})
            check(sim.is_error and "OpenAI-compatible" in sim.content[0].text, f"similar without embeddings: {sim.content}")
            called.add("similar")
            # No remote configured: a readable tool error that says how to enable sync.
            s = await session.call_tool("sync", {"action": "status"})
            check(s.is_error and "sync enable" in s.content[0].text, f"sync without a remote: {s.content}")
            called.add("sync")
            backup = await call("backup_store", {})
            check(backup["tables"]["tasks"] >= 0, "backup manifest")
            if UPGRADE_URL:
                progress = []
                counts = []
                async def on_progress(p, total, message):
                    progress.append(message)
                    counts.append((p, total))
                result = await session.call_tool("upgrade_store", {"dbUrl": UPGRADE_URL, "dryRun": True}, progress_callback=on_progress)
                check(not result.is_error, f"upgrade_store failed: {result.content}")
                jsonschema.validate(result.structured_content, by_name["upgrade_store"].output_schema, cls=jsonschema.Draft202012Validator)
                check(result.structured_content["switched"] is False, "a dry run must not switch")
                check(any("Validating" in (m or "") for m in progress), f"no progress notifications: {progress}")
                check(all(t is None or p <= t for p, t in counts), f"progress past its total: {counts}")
                check([p for p, _ in counts] == sorted(p for p, _ in counts), f"progress went back: {counts}")
                called.add("upgrade_store")
            else:
                # A store given by URL has no project to upgrade: a readable tool error.
                result = await session.call_tool("upgrade_store", {"dbUrl": "postgresql://nobody@127.0.0.1:1/x", "dryRun": True})
                check(result.is_error, "upgrade_store without a project must be a tool error")
                called.add("upgrade_store")
            missing = set(by_name) - called
            check(not missing, f"tools never called: {sorted(missing)}")

            bad = await session.call_tool("create_task", {"title": 7})
            check(bad.is_error, "bad arguments must give isError")
            res = await session.list_resources()
            check(isinstance(res.resources, list), "resources/list")
            if not modern:
                await session.send_ping()  # removed in 2026-07-28
            print(f"ok: {len(called)} of {len(tools)} tools called and validated")


if __name__ == "__main__":
    anyio.run(main)
