"""Drives `minsky board` in a real browser (Debian's chromium, headless, through chromedriver).

Usage: board_browser.py MINSKY_BINARY PROJECT_DIR [full|viewer]
The store is the project's (or MINSKY_DB's). With MINSKY_SCREENSHOTS=DIR, screenshots land there.
Prints "ok: ..." lines; any failure raises (non-zero exit).
"""
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

minsky, project = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else "full"
shots = os.environ.get("MINSKY_SCREENSHOTS")


def cli(*args):
    r = subprocess.run([minsky, *args], cwd=project, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"minsky {' '.join(args)} failed: {r.stderr}"
    return r.stdout


def cli_json(*args):
    return json.loads(cli(*args, "--json"))


board = subprocess.Popen([minsky, "board", "--json"], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
driver = None
try:
    line = board.stdout.readline()
    assert line, f"the board printed nothing: {board.stderr.read()}"
    info = json.loads(line)
    url, port = info["url"], info["port"]
    token = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["token"][0]
    assert url.startswith(f"http://127.0.0.1:{port}/?token=") and len(token) == 64

    def request(method, path, headers=None, body=None, host=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        h = {"Host": host or f"127.0.0.1:{port}"}
        h.update(headers or {})
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data.decode()

    # Safe by default: no token, a wrong token, a foreign Origin or Host: refused, nothing written.
    count = len(cli_json("tasks", "list", "--all")["tasks"])
    auth = {"X-Minsky-Token": token}
    assert request("GET", "/")[0] == 403
    assert request("GET", "/api/board")[0] == 403
    assert request("GET", "/api/board", {"X-Minsky-Token": "0" * 64})[0] == 403
    status, body = request("GET", "/api/board", {**auth, "Origin": "http://evil.example"})
    assert status == 403 and "Origin" in body["error"]["message"], body
    status, body = request("POST", "/api/tasks", {**auth, "Origin": "http://evil.example", "Content-Type": "application/json"}, {"title": "cross-site"})
    assert status == 403, body
    status, body = request("GET", "/api/board", auth, host=f"evil.example:{port}")
    assert status == 403 and "Host" in body["error"]["message"], body
    status, body = request("GET", f"/?token={token}", {"Origin": f"http://localhost:{port}"})
    assert status == 200 and "<title>Minsky board</title>" in body
    assert len(cli_json("tasks", "list", "--all")["tasks"]) == count
    print("ok: requests without the token or with a foreign Origin or Host are refused")

    # The page's script and style are files of this origin: the policy allows nothing inline.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", f"/?token={token}", headers={"Host": f"127.0.0.1:{port}"})
    r = c.getresponse()
    policy = r.getheader("Content-Security-Policy") or ""
    page = r.read().decode()
    c.close()
    assert "unsafe-inline" not in policy and "script-src 'self'" in policy and "style-src 'self'" in policy, policy
    assert "<script>" not in page and "<style>" not in page and 'src="/board.js"' in page, page[:400]
    for asset, kind in [("/board.js", "javascript"), ("/board.css", "css")]:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", asset, headers={"Host": f"127.0.0.1:{port}"})
        r = c.getresponse()
        assert r.status == 200 and kind in (r.getheader("Content-Type") or ""), (asset, r.status)
        r.read()
        c.close()
    assert request("GET", "/board.js", host=f"evil.example:{port}")[0] == 403
    print("ok: the Content Security Policy allows no inline script or style")

    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("MINSKY_CHROMIUM", "/usr/bin/chromium")
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,860", "--disable-gpu"]:
        options.add_argument(a)
    driver = webdriver.Chrome(service=Service(os.environ.get("MINSKY_CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    # Generous deadlines: these wait for things to happen, they do not time them (BENCHMARKS does).
    wait = WebDriverWait(driver, 30)
    driver.get(url)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded"))
    wait.until(lambda d: "on" in d.find_element(By.ID, "live").get_attribute("class"))

    # The page re-renders on every change, so elements are looked up afresh (in one script
    # call where a value is all that is needed) and stale references retried.
    def retry(fn):
        for _ in range(50):
            try:
                return fn()
            except StaleElementReferenceException:
                time.sleep(0.1)
        return fn()

    def card(task_id):
        found = driver.find_elements(By.CSS_SELECTOR, f'.card[data-id="{task_id}"]')
        return found[0] if found else None

    def card_text(task_id, part=""):
        return driver.execute_script(
            "const c = document.querySelector(`.card[data-id='${arguments[0]}'] ${arguments[1]}`); return c ? c.textContent : null",
            task_id, part)

    def column_of(task_id):
        return driver.execute_script(
            "const c = document.querySelector(`.card[data-id='${arguments[0]}']`); return c ? c.closest('section').dataset.status : null",
            task_id)

    def panel_text():
        return driver.execute_script("return document.getElementById('panel').hidden ? '' : document.getElementById('panel').innerText")

    def column(status):
        return driver.find_element(By.CSS_SELECTOR, f'section.column[data-status="{status}"]')

    def drag(task_id, status):
        retry(lambda: ActionChains(driver).click_and_hold(card(task_id)).move_by_offset(8, 8).move_to_element(column(status)).move_by_offset(0, 10).release().perform())

    if mode == "viewer":
        role = driver.find_element(By.ID, "role").text
        assert "read-only" in role, role
        assert not driver.find_element(By.ID, "new-task").is_displayed()
        seeded = cli_json("tasks", "list")["tasks"][0]
        # Count every write the page sends: a viewer's drag must send none.
        driver.execute_script(
            "window.__writes = 0; const f = window.fetch; window.fetch = (u, o) => {"
            " if (o && o.method && o.method !== 'GET') window.__writes++; return f(u, o); };")
        drag(seeded["id"], "DONE")
        assert driver.execute_script("return window.__writes") == 0, "the viewer's drag sent a write"
        start_col = card(seeded["id"]).find_element(By.XPATH, "ancestor::section[contains(@class,'column')]")
        assert start_col.get_attribute("data-status") == seeded["status"], start_col.get_attribute("data-status")
        assert cli_json("tasks", "get", seeded["id"])["task"]["status"] == seeded["status"]
        # And were the page to send it, the database refuses it for this role.
        status, body = request(
            "POST", f"/api/task/{seeded['id']}", {**auth, "Content-Type": "application/json"},
            {"status": "DONE", "expectedVersion": seeded["version"]})
        assert status == 403, (status, body)
        assert cli_json("tasks", "get", seeded["id"])["task"]["status"] == seeded["status"]
        status, body = request("POST", "/api/tasks", {**auth, "Content-Type": "application/json"}, {"title": "by a viewer"})
        assert status == 403 and "viewer" in body["error"]["message"], body
        print("ok: a viewer gets a read-only board")
        sys.exit(0)

    # Create a task in the page; it is in the store and on the board.
    driver.find_element(By.ID, "new-title").send_keys("Written in the browser")
    driver.find_element(By.ID, "new-add").click()
    wait.until(lambda d: d.execute_script("return [...document.querySelectorAll('.card .title')].some(e => e.textContent === 'Written in the browser')"))
    created = [t for t in cli_json("tasks", "list", "--all")["tasks"] if t["title"] == "Written in the browser"]
    assert len(created) == 1, created
    new_id = created[0]["id"]
    assert column_of(new_id) == "TODO"
    print("ok: a task created in the page is stored")

    # Drag it to DONE: the store says DONE.
    drag(new_id, "DONE")
    wait.until(lambda d: column_of(new_id) == "DONE")
    assert cli_json("tasks", "get", new_id)["task"]["status"] == "DONE"
    print("ok: dragging a card to DONE changes its status in the store")

    # Another process's CLI: the change appears without a reload.
    driver.execute_script("window.__notReloaded = 42")
    other = cli_json("tasks", "create", "Made by another process", "--tag", "cli", "--ac", "appears live", "--ac", "checked in the panel")["id"]
    blocked = cli_json("tasks", "create", "Waits for the CLI task", "--depends-on", other)["id"]
    WebDriverWait(driver, 30).until(lambda d: card(other) is not None and card(blocked) is not None)
    assert driver.execute_script("return window.__notReloaded") == 42
    WebDriverWait(driver, 30).until(lambda d: other in (card_text(blocked, ".blocked") or ""))
    cli("tasks", "claim", other, "--owner", "agent-7", "--ttl", "30m")
    WebDriverWait(driver, 30).until(lambda d: column_of(other) == "IN-PROGRESS" and "agent-7" in (card_text(other) or ""))
    # An agent over MCP (the real server on pipes) and another board (its JSON API): live too.
    agent = subprocess.Popen([minsky, "mcp"], cwd=project, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    for message in [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "board-test", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "create_task", "arguments": {"title": "Made by an agent"}}},
    ]:
        agent.stdin.write(json.dumps(message) + "\n")
        agent.stdin.flush()
    # The answer to call 2 (notifications, such as a tools list change on PostgreSQL, may come first).
    answer = None
    while answer is None:
        line = agent.stdout.readline()
        assert line, "minsky mcp ended without answering"
        message = json.loads(line)
        if message.get("id") == 2:
            answer = message
    agent.stdin.close()
    agent.wait(timeout=30)
    assert "result" in answer and not answer["result"].get("isError"), answer
    agent_task = answer["result"]["structuredContent"]["id"]
    status, body = request("POST", "/api/tasks", {**auth, "Content-Type": "application/json", "Origin": f"http://127.0.0.1:{port}"}, {"title": "Made on another board"})
    assert status == 201, body
    WebDriverWait(driver, 30).until(lambda d: card(agent_task) is not None and card(body["id"]) is not None)
    assert driver.execute_script("return window.__notReloaded") == 42
    print("ok: changes from another process appear live, without a reload")

    # A stale drag (the page saw an older version) is refused and nothing is overwritten.
    driver.execute_script(f'document.querySelector(\'.card[data-id="{other}"]\').dataset.version = "1"')
    drag(other, "IN-REVIEW")
    wait.until(lambda d: d.find_element(By.ID, "toast").is_displayed() and "changed since" in d.find_element(By.ID, "toast").text)
    assert cli_json("tasks", "get", other)["task"]["status"] == "IN-PROGRESS"
    wait.until(lambda d: column_of(other) == "IN-PROGRESS")
    print("ok: a stale drag shows the conflict and overwrites nothing")

    # The panel: criteria, notes, history; a note written here is stored with its author.
    retry(lambda: card(other).click())
    wait.until(lambda d: "Made by another process" in panel_text())
    text = panel_text()
    assert "appears live" in text and "HISTORY" in text.upper() and "note_added" not in text, text
    retry(lambda: driver.find_element(By.CSS_SELECTOR, '#panel input[data-check="1"]').click())
    wait.until(lambda d: cli_json("tasks", "get", other)["task"]["acceptance"][0]["done"] is True)
    # The panel re-renders when the change feed reports the check; if that lands while typing,
    # type again (the note is written once: the store is asked before each attempt).
    for attempt in range(5):
        time.sleep(0.5)
        if cli_json("tasks", "get", other).get("notes"):
            break
        try:
            box = driver.find_element(By.ID, "note-text")
            box.clear()
            box.send_keys("Looked at it in the **board**")
            driver.find_element(By.CSS_SELECTOR, "#note-form button").click()
            WebDriverWait(driver, 10).until(lambda d: "Looked at it in the board" in panel_text())
            break
        except (StaleElementReferenceException, TimeoutException):
            continue
    wait.until(lambda d: "Looked at it in the board" in panel_text())
    notes = cli_json("tasks", "get", other)["notes"]
    assert notes[0]["body"] == "Looked at it in the **board**" and notes[0]["author"], notes
    cli("tasks", "note", other, "A note from the CLI")
    WebDriverWait(driver, 30).until(lambda d: "A note from the CLI" in panel_text())
    print("ok: the panel shows criteria, notes and history, and writes through the store")

    # Paths and evidence: a card whose paths another agent holds says so; the panel shows a
    # closed task's paths and evidence.
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    holder = cli_json("tasks", "create", "Rework storage", "--path", "Sources/Store/**")["id"]
    waiting = cli_json("tasks", "create", "Tune one query", "--path", "Sources/Store/Query.swift")["id"]
    cli("tasks", "claim", holder, "--owner", "agent-7")
    WebDriverWait(driver, 30).until(lambda d: card(waiting) is not None and "paths held by agent-7" in card_text(waiting))
    cli("tasks", "done", holder, "--commit", "3f2a9c1", "--run", "swift test", "--exit", "0", "--tests", "12 passed", "--minutes", "15")
    WebDriverWait(driver, 30).until(lambda d: card(waiting) is not None and "paths held" not in card_text(waiting))
    retry(lambda: card(holder).click())
    wait.until(lambda d: "EVIDENCE" in panel_text().upper() and "3f2a9c1" in panel_text())
    text = panel_text()
    assert "swift test exited 0" in text and "tests: 12 passed" in text and "Sources/Store/**" in text, text
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    print("ok: cards show paths others hold; the panel shows paths and evidence")

    # The keyboard: Esc closes the panel; a card takes the focus and Enter opens it.
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    wait.until(lambda d: not d.find_element(By.ID, "panel").is_displayed())
    driver.execute_script(f'document.querySelector(\'.card[data-id="{blocked}"]\').focus()')
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait.until(lambda d: "Waits for the CLI task" in panel_text() and d.find_elements(By.ID, "edit-title"))
    print("ok: cards are reached and opened with the keyboard, Esc closes the panel")

    # Editing in the panel: title, description, priority, tags, assignee and status (no drag).
    def fill(element_id, value):
        e = driver.find_element(By.ID, element_id)
        e.clear()
        e.send_keys(value)
    fill("edit-title", "Edited in the panel")
    fill("edit-description", "Now with **words**")
    fill("edit-tags", "ui, edited")
    fill("edit-assignee", "ana")
    Select(driver.find_element(By.ID, "edit-priority")).select_by_value("1")
    Select(driver.find_element(By.ID, "edit-status")).select_by_visible_text("IN-REVIEW")
    driver.find_element(By.ID, "edit-save").click()
    wait.until(lambda d: cli_json("tasks", "get", blocked)["task"]["title"] == "Edited in the panel")
    edited = cli_json("tasks", "get", blocked)["task"]
    assert edited["description"] == "Now with **words**" and edited["priority"] == 1, edited
    assert sorted(edited["tags"]) == ["edited", "ui"] and edited["assignee"] == "ana" and edited["status"] == "IN-REVIEW", edited
    wait.until(lambda d: column_of(blocked) == "IN-REVIEW")
    print("ok: the panel edits title, description, priority, tags, assignee and status")

    # The parent is shown in the panel.
    kid = cli_json("tasks", "create", "A subtask made elsewhere", "--parent", other)["id"]
    WebDriverWait(driver, 30).until(lambda d: card(kid) is not None)
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    retry(lambda: card(kid).click())
    wait.until(lambda d: f"under {other}" in panel_text())
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    print("ok: the panel names the parent")

    # A change made elsewhere is highlighted briefly on its card.
    cli("tasks", "update", other, "--title", "Renamed elsewhere")
    WebDriverWait(driver, 30).until(lambda d: "flash" in (retry(lambda: card(other).get_attribute("class")) or ""))
    print("ok: a change made elsewhere is highlighted")

    # A dark theme when the system asks for one, and a layout that works 420 px wide.
    light = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    dark = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    def brightness(rgb):
        return sum(int(v) for v in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3])
    assert brightness(dark) < 150 < brightness(light), (light, dark)
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 420, "height": 860, "deviceScaleFactor": 1, "mobile": True})
    wait.until(lambda d: d.execute_script("return window.innerWidth") == 420)
    width = driver.execute_script("return document.documentElement.scrollWidth")
    tops = driver.execute_script("return [...document.querySelectorAll('section.column')].slice(0, 2).map(c => c.getBoundingClientRect().top)")
    assert width <= 420 and tops[1] > tops[0], (width, tops)
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    print("ok: a dark theme from prefers-color-scheme, and a layout that works 420 px wide")
    if shots:
        os.makedirs(shots, exist_ok=True)
        driver.save_screenshot(os.path.join(shots, "board-panel.png"))
        driver.find_element(By.ID, "panel-close").click()
        driver.save_screenshot(os.path.join(shots, "board.png"))
    print("ok: board")
except TimeoutException:
    if driver is not None:
        print("page at timeout:", driver.find_element(By.TAG_NAME, "body").text[:2000], file=sys.stderr)
    raise
finally:
    if driver is not None:
        driver.quit()
    board.terminate()
    try:
        board.wait(timeout=10)
    except subprocess.TimeoutExpired:
        board.kill()
