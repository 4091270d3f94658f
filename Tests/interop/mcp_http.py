"""`minsky serve` over Streamable HTTP through the official Python client (`Client` over
`streamable_http_client`, a bearer token in its HTTP client), in mode 2026-07-28 and legacy.

Usage: python mcp_http.py URL SCENARIO TOKEN [MINSKY PROJECT TOKEN_ID]
  owner    every tool, validated against its output schema (mcp_interop.exercise); on an empty
           store, so in one mode per run: owner:2026-07-28 or owner:legacy
  member   a member's work succeeds (create, update, claim, notes, search …); deleting is refused
  viewer   reads succeed; every write is refused by the database, as an isError result
  revoked  a call succeeds, the token is revoked (`minsky team token revoke`), the next call fails
  listen   a subscription on URL sees a task created and one updated through OTHER_URL (another
           instance on the same store): python mcp_http.py URL listen TOKEN OTHER_URL
Exits non-zero with a message on the first failure.
"""
import os
import subprocess
import sys

import anyio
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ResourcesListChanged, ResourceUpdated
from mcp.shared._httpx_utils import create_mcp_http_client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcp_interop  # noqa: E402

URL, SCENARIO, TOKEN = sys.argv[1], sys.argv[2], sys.argv[3]
EXTRA = sys.argv[4:]


def check(cond, message):
    if not cond:
        raise SystemExit(f"http interop failure ({SCENARIO}): {message}")


def connect(mode, token=TOKEN, url=URL):
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"} if token else None)
    return Client(streamable_http_client(url, http_client=http), mode=mode)


async def listen(client):
    other_url = EXTRA[0]
    task = (await client.call_tool("create_task", {"title": "Watched over HTTP"})).structured_content
    uri = f"minsky://tasks/{task['id']}"
    async with connect("2026-07-28", url=other_url) as other:
        async with client.listen(resources_list_changed=True, resource_subscriptions=[uri]) as sub:
            check(sub.honored.resources_list_changed and sub.honored.resource_subscriptions == [uri],
                  f"honoured {sub.honored}")
            await other.call_tool("update_task", {"id": task["id"], "title": "Renamed through the other instance"})
            got = set()
            with anyio.fail_after(20):
                async for event in sub:
                    if isinstance(event, ResourceUpdated) and event.uri == uri and "updated" not in got:
                        got.add("updated")
                        await other.call_tool("create_task", {"title": "Made through the other instance"})
                    if isinstance(event, ResourcesListChanged) and "updated" in got:
                        got.add("listed")
                        break
            check(got == {"updated", "listed"}, f"notifications seen: {got}")


async def member(client):
    t = (await client.call_tool("create_task", {"title": "Made over HTTP", "tags": ["http"]})).structured_content
    check(t["id"].startswith("mk-"), f"create: {t}")
    u = await client.call_tool("update_task", {"id": t["id"], "priority": 0})
    check(not u.is_error, f"update: {u.content}")
    c = await client.call_tool("claim_task", {"id": t["id"], "owner": "http-agent", "ttlSeconds": 600})
    check(not c.is_error, f"claim: {c.content}")
    n = await client.call_tool("update_task", {"id": t["id"], "note": "noted over HTTP"})
    check(not n.is_error, f"note: {n.content}")
    found = (await client.call_tool("search_tasks", {"query": "HTTP"})).structured_content
    check(any(x["id"] == t["id"] for x in found["tasks"]), f"search: {found}")
    d = await client.call_tool("delete_task", {"id": t["id"]})
    check(d.is_error and "may not" in d.content[0].text, f"a member's delete must be refused: {d.content}")
    # Every other tool a member may use works as the member.
    async def ok(name, args):
        r = await client.call_tool(name, args)
        check(not r.is_error, f"{name} as a member: {r.content}")
        return r.structured_content
    made = (await ok("create_tasks", {"tasks": [{"title": "step one", "parentId": t["id"]},
                                                 {"title": "step two", "parentId": t["id"], "dependsOnIndex": [0]}]}))["created"]
    await ok("list_tasks", {"limit": 5})
    await ok("set_status", {"id": made[0], "status": "DONE"})
    await ok("next_task", {})
    await ok("task_tree", {"id": t["id"]})
    hist = await ok("task_history", {"id": t["id"]})
    check(all(e.get("actor") in (None, "mel") for e in hist["events"]), f"history as the member: {hist}")
    other = (await ok("create_task", {"title": "Linked over HTTP"}))["id"]
    await ok("add_dependency", {"taskId": other, "dependsOn": made[1]})
    await ok("remove_dependency", {"taskId": other, "dependsOn": made[1]})
    ask = await ok("decompose_task", {"id": other})
    check(ask["needsAnswer"] is True, f"decompose without a model asks the agent: {ask}")
    q = await ok("score_complexity", {"id": other})
    check(q["needsAnswer"] is True, f"complexity without a model asks the agent: {q}")
    for name, args in [("similar", {"text": "parser"}), ("sync", {"action": "status"})]:
        r = await client.call_tool(name, args)
        check(r.is_error, f"{name} is not set up on this server: a tool error, got {r}")
    for name, args in [("backup_store", {}), ("upgrade_store", {"dbUrl": "postgresql://x@127.0.0.1:1/x", "dryRun": True})]:
        r = await client.call_tool(name, args)
        check(r.is_error, f"{name} is not a member's: {r}")
    got = (await client.call_tool("get_task", {"id": t["id"]})).structured_content
    check(got["task"]["assignee"] == "http-agent", f"the task is still there, claimed: {got}")
    check(got["notes"][0]["author"] == "mel", f"the note is the member's, by the database: {got}")


async def viewer(client):
    listed = await client.call_tool("list_tasks", {})
    check(not listed.is_error and listed.structured_content["tasks"], f"a viewer reads: {listed.content}")
    made = await client.call_tool("create_task", {"title": "A viewer's write"})
    check(made.is_error and "may not" in made.content[0].text, f"a viewer's create must be refused: {made.content}")
    first = listed.structured_content["tasks"][0]["id"]
    up = await client.call_tool("update_task", {"id": first, "title": "renamed by a viewer"})
    check(up.is_error, f"a viewer's update must be refused: {up.content}")


async def revoked(client, mode):
    ok = await client.call_tool("list_tasks", {})
    check(not ok.is_error, f"before revocation: {ok.content}")
    minsky, project, token_id = EXTRA
    r = subprocess.run([minsky, "team", "token", "revoke", token_id], cwd=project, capture_output=True, text=True)
    check(r.returncode == 0, f"revoke: {r.stderr}")
    try:
        after = await client.call_tool("list_tasks", {})
    except Exception as e:  # noqa: BLE001 (the SDK reports the 401 as an error response)
        check("error response" in repr(e) or "401" in repr(e), f"after revocation: {e!r}")
        return
    check(after.is_error, f"after revocation a call must fail, got {after}")


async def main():
    modes = ["2026-07-28", "legacy"] if SCENARIO not in ("revoked", "listen") else ["2026-07-28"]
    if SCENARIO.startswith("owner:"):
        modes = [SCENARIO.split(":", 1)[1]]
    for mode in modes:
        async with connect(mode) as client:
            expected = "2025-11-25" if mode == "legacy" else "2026-07-28"
            check(client.protocol_version == expected, f"mode {mode} negotiated {client.protocol_version}")
            if SCENARIO.startswith("owner"):
                await mcp_interop.exercise(client.session, modern=expected == "2026-07-28")
            elif SCENARIO == "member":
                await member(client)
            elif SCENARIO == "viewer":
                await viewer(client)
            elif SCENARIO == "revoked":
                await revoked(client, mode)
            elif SCENARIO == "listen":
                await listen(client)
        print(f"ok: {SCENARIO} in mode {mode}")
    # Without a token, or with a forged one: refused before anything is read.
    for bad in ["", "mks_aaaaaaaaaaaa_" + "a" * 43]:
        try:
            async with connect("2026-07-28", token=bad) as client:
                await client.call_tool("list_tasks", {})
        except BaseException as e:  # noqa: BLE001 (the SDK raises its own group of errors)
            check("error response" in repr(e) or "401" in repr(e), f"a bad token's error: {e!r}")
            continue
        check(False, f"a {'missing' if not bad else 'forged'} token was let in")


anyio.run(main)
