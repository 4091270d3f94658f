"""The ready queue as an MCP App, in a real browser (Debian's chromium, headless, chromedriver).

A small host written here does what the MCP Apps extension describes: it finds the tool whose
`_meta.ui.resourceUri` names a view (`next_task`), reads that `ui://` resource from `minsky
serve`, renders it in an iframe sandboxed to scripts only (an opaque origin: no cookies, no
storage) under a Content Security Policy with no network, answers the view's `ui/initialize`,
sends it the tool's result, and relays its `tools/call` requests to the server. The server's
token stays in the host's back end (it proxies /mcp).

Usage: mcp_app.py MINSKY_BINARY PROJECT_DIR. Prints "ok: ..." lines; any failure raises.
"""
import http.client
import http.server
import json
import os
import subprocess
import sys
import threading

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

minsky, project = sys.argv[1], sys.argv[2]


def cli(*args):
    r = subprocess.run([minsky, *args], cwd=project, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"minsky {' '.join(args)} failed: {r.stderr}"
    return r.stdout


HOST_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>test host</title></head><body>
<script>
const META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientInfo": {"name": "test-host", "version": "1"},
  "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}}};
let rid = 1;
window.hostLog = [];
async function mcp(method, params) {
  const body = {jsonrpc: "2.0", id: rid++, method, params: Object.assign({}, params, {_meta: META})};
  const headers = {"Content-Type": "application/json", "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method};
  if (params.name) headers["Mcp-Name"] = params.name;
  if (params.uri) headers["Mcp-Name"] = params.uri;
  const r = await fetch("/mcp", {method: "POST", headers, body: JSON.stringify(body)});
  const j = await r.json();
  if (j.error) throw new Error(j.error.message);
  return j.result;
}
(async () => {
  const tools = (await mcp("tools/list", {})).tools;
  const tool = tools.find(t => t._meta && t._meta.ui && t._meta.ui.resourceUri);
  const content = (await mcp("resources/read", {uri: tool._meta.ui.resourceUri})).contents[0];
  window.viewMimeType = content.mimeType;
  const csp = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; " +
    "connect-src 'none'; frame-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'";
  const doc = content.text.replace("<head>", '<head><meta http-equiv="Content-Security-Policy" content="' + csp + '">');
  const frame = document.createElement("iframe");
  frame.id = "app";
  frame.setAttribute("sandbox", "allow-scripts");
  frame.style.width = "700px"; frame.style.height = "400px";
  const first = mcp("tools/call", {name: tool.name, arguments: {limit: 10}});
  window.addEventListener("message", async (e) => {
    if (e.source !== frame.contentWindow) return;
    const m = e.data;
    window.hostLog.push(m.method || ("reply " + m.id));
    const send = (msg) => frame.contentWindow.postMessage(Object.assign({jsonrpc: "2.0"}, msg), "*");
    if (m.method === "ui/initialize") {
      send({id: m.id, result: {protocolVersion: "2026-01-26", hostInfo: {name: "test-host", version: "1"},
        hostCapabilities: {serverTools: {}}, hostContext: {displayMode: "inline", toolInfo: {tool}}}});
    } else if (m.method === "ui/notifications/initialized") {
      send({method: "ui/notifications/tool-result", params: await first});
    } else if (m.method === "tools/call") {
      try { send({id: m.id, result: await mcp("tools/call", m.params)}); }
      catch (err) { send({id: m.id, error: {code: -32603, message: String(err.message)}}); }
    } else if (m.id !== undefined) {
      send({id: m.id, error: {code: -32601, message: "not offered by this host"}});
    }
  });
  frame.srcdoc = doc;
  document.body.append(frame);
})().catch(e => { window.hostError = String(e); });
</script></body></html>"""

serve = subprocess.Popen([minsky, "serve", "--json", "--listen", "127.0.0.1:0"], cwd=project, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
driver = None
host = None
try:
    port = json.loads(serve.stdout.readline())["port"]
    token = json.loads(cli("team", "token", "create", "browser-host", "--json"))["token"]
    ids = [json.loads(cli("tasks", "create", t, "--json"))["id"]
           for t in ["Write the parser", "<img src=x onerror=alert(1)>", "Test the parser"]]

    class Host(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = HOST_PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            data = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {k: v for k, v in self.headers.items() if k.lower().startswith("mcp-")}
            headers.update({"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("POST", "/mcp", body=data, headers=headers)
            r = c.getresponse()
            payload = r.read()
            self.send_response(r.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    host = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Host)
    threading.Thread(target=host.serve_forever, daemon=True).start()

    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("MINSKY_CHROMIUM", "/usr/bin/chromium")
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=900,700", "--disable-gpu"]:
        options.add_argument(a)
    driver = webdriver.Chrome(service=Service(os.environ.get("MINSKY_CHROMEDRIVER", "/usr/bin/chromedriver")),
                              options=options)
    wait = WebDriverWait(driver, 30)
    driver.get(f"http://127.0.0.1:{host.server_address[1]}/")
    frame = wait.until(lambda d: d.find_elements(By.ID, "app") or d.execute_script("return window.hostError"))
    assert isinstance(frame, list), f"the host failed: {frame}"
    assert driver.execute_script("return window.viewMimeType") == "text/html;profile=mcp-app"
    assert frame[0].get_attribute("sandbox") == "allow-scripts"
    driver.switch_to.frame(frame[0])
    listed = """return Array.from(document.querySelectorAll('li[data-task-id]')).map(
        li => [li.dataset.taskId, li.querySelector('.title').textContent])"""
    rows = wait.until(lambda d: d.execute_script(listed) if len(d.execute_script(listed)) == 3 else False)
    shown = dict(rows)
    assert set(shown) == set(ids), f"the view shows {shown}"
    assert shown[ids[1]] == "<img src=x onerror=alert(1)>" and not driver.find_elements(By.TAG_NAME, "img")
    print("ok: the host renders next_task's view with the call's result (titles as text)")

    # The sandbox's restrictions hold: no cookies (an opaque origin), no network (the CSP).
    probe = driver.execute_async_script("""
      const done = arguments[arguments.length - 1];
      let cookie;
      try { cookie = document.cookie; cookie = "readable"; } catch (e) { cookie = "refused"; }
      fetch(arguments[0]).then(() => done([cookie, "fetched"]), () => done([cookie, "blocked"]));
    """, f"http://127.0.0.1:{port}/health")
    assert probe == ["refused", "blocked"], f"sandbox probe {probe}"
    print("ok: inside the sandbox there are no cookies and no network")

    # Claiming through the view: the host relays tools/call; the task leaves the ready queue.
    driver.find_element(By.CSS_SELECTOR, f'li[data-task-id="{ids[0]}"] .claim').click()
    wait.until(lambda d: ids[0] not in [r[0] for r in d.execute_script(listed)] and len(d.execute_script(listed)) == 2)
    driver.switch_to.default_content()
    log = driver.execute_script("return window.hostLog")
    assert log[0] == "ui/initialize" and "tools/call" in log, f"host log {log}"
    claimed = json.loads(cli("tasks", "get", ids[0], "--json"))
    task = claimed.get("task", claimed)
    assert task["assignee"] == "app" and task["status"] == "IN-PROGRESS", f"{claimed}"
    print("ok: a claim made in the view goes through the host to the server and the queue updates")

    # The whole board on the server's `/`, opened with a bearer token; without one, refused.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/api/board", headers={"Host": f"127.0.0.1:{port}"})
    r = c.getresponse()
    assert r.status == 403, f"the board without a token: {r.status}"
    r.read()
    driver.get(f"http://127.0.0.1:{port}/?token={token}")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".card[data-id]")) >= 3)
    status = driver.execute_script(
        "const c = document.querySelector(`.card[data-id='${arguments[0]}']`); return c ? c.closest('section').dataset.status : null",
        ids[0])
    assert status == "IN-PROGRESS", f"the claimed task's column: {status}"
    cli("tasks", "create", "Made while the board is open")
    wait.until(lambda d: "Made while the board is open" in d.find_element(By.TAG_NAME, "body").text)
    print("ok: the board on the server's / shows the store as the token's role and follows changes live")
finally:
    if driver:
        driver.quit()
    if host:
        host.shutdown()
    serve.terminate()
