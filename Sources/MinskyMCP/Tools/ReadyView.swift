import MinskyCore

/// The ready queue as an MCP App (the `io.modelcontextprotocol/ui` extension): a `ui://`
/// resource that `next_task` names, which a host renders in a sandboxed iframe beside the call.
/// It shows the ready tasks from the call's result and lets a person refresh the queue or claim
/// a task, through the host (JSON-RPC over `postMessage`: `ui/initialize`, then `tools/call`
/// relayed to this server). It needs no network, cookies or storage: everything it shows comes
/// from the host's messages, and its text is set as text (a title cannot inject markup).
enum ReadyView {
    static let extensionID = "io.modelcontextprotocol/ui"
    static let uri = "ui://minsky/ready"
    static let mimeType = "text/html;profile=mcp-app"

    static func resource() -> JSONValue {
        [
            "contents": [
                [
                    "uri": .string(uri), "mimeType": .string(mimeType), "text": .string(html),
                    "_meta": ["ui": ["prefersBorder": true]],
                ]
            ]
        ]
    }

    static let html = #"""
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>Ready tasks</title>
        <style>
        body { font: 14px/1.4 var(--font-sans, system-ui, sans-serif); margin: 8px;
               color: var(--color-text-primary, #1b1b1b); background: var(--color-background-primary, #fff); }
        h1 { font-size: 15px; margin: 0 0 6px; }
        ul { list-style: none; padding: 0; margin: 0; }
        li { display: flex; gap: 8px; align-items: center; padding: 4px 0; border-bottom: 1px solid #e5e5e5; }
        .id { font-family: var(--font-mono, monospace); color: #666; }
        .title { flex: 1; }
        .prio { font-size: 12px; color: #555; }
        #why, #error { color: #666; margin: 6px 0; }
        #error { color: #b00020; }
        </style></head>
        <body>
        <h1>Ready tasks <button id="refresh" type="button">Refresh</button></h1>
        <ul id="tasks"></ul>
        <p id="why"></p>
        <p id="error"></p>
        <script>
        "use strict";
        let nextId = 1;
        const pending = new Map();
        function request(method, params) {
          const id = nextId++;
          window.parent.postMessage({ jsonrpc: "2.0", id, method, params }, "*");
          return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
        }
        function render(page) {
          const list = document.getElementById("tasks");
          list.replaceChildren();
          const tasks = (page && page.tasks) || [];
          for (const t of tasks) {
            const li = document.createElement("li");
            li.dataset.taskId = t.id;
            const id = document.createElement("span"); id.className = "id"; id.textContent = t.id;
            const title = document.createElement("span"); title.className = "title"; title.textContent = t.title;
            const prio = document.createElement("span"); prio.className = "prio"; prio.textContent = "P" + t.priority;
            const claim = document.createElement("button"); claim.type = "button"; claim.textContent = "Claim";
            claim.className = "claim";
            claim.addEventListener("click", () => act(() => request("tools/call",
              { name: "claim_task", arguments: { id: t.id, owner: "app" } })));
            li.append(id, title, prio, claim);
            list.append(li);
          }
          const why = page && page.why;
          document.getElementById("why").textContent =
            tasks.length ? "" : (why && why.summary) || "Nothing is ready.";
        }
        async function refresh() {
          const r = await request("tools/call", { name: "next_task", arguments: { limit: 10 } });
          if (r.isError) throw new Error((r.content && r.content[0] && r.content[0].text) || "next_task failed");
          render(r.structuredContent);
        }
        async function act(step) {
          document.getElementById("error").textContent = "";
          try {
            const r = step ? await step() : null;
            if (r && r.isError) throw new Error((r.content && r.content[0] && r.content[0].text) || "refused");
            await refresh();
          } catch (e) {
            document.getElementById("error").textContent = String(e && e.message || e);
          }
        }
        window.addEventListener("message", (event) => {
          if (event.source !== window.parent) return;
          const m = event.data;
          if (!m || m.jsonrpc !== "2.0") return;
          if (m.id !== undefined && !m.method && pending.has(m.id)) {
            const p = pending.get(m.id); pending.delete(m.id);
            if (m.error) p.reject(new Error(m.error.message || "error")); else p.resolve(m.result);
            return;
          }
          if (m.method === "ui/notifications/tool-result") render(m.params && m.params.structuredContent);
        });
        document.getElementById("refresh").addEventListener("click", () => act(null));
        request("ui/initialize", {
          protocolVersion: "2026-01-26", appInfo: { name: "minsky-ready", version: "1" },
          appCapabilities: { availableDisplayModes: ["inline"] }
        }).then(() => window.parent.postMessage({ jsonrpc: "2.0", method: "ui/notifications/initialized" }, "*"));
        </script>
        </body></html>
        """#
}
