"""Takes the README's board screenshots: a demo project, `minsky board`, headless chromium.

Usage: .venv/bin/python scripts/screenshots.py [MINSKY_BINARY]   (writes docs/board*.png)
"""
import json
import os
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
minsky = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, ".build/debug/minsky")
work = tempfile.mkdtemp(prefix="minsky-shots-")


def cli(*args, owner=None):
    env = dict(os.environ, MINSKY_OWNER=owner or "ana@laptop")
    r = subprocess.run([minsky, *args, "--json"], cwd=work, capture_output=True, text=True, env=env, check=True)
    return json.loads(r.stdout) if r.stdout.strip() else None


subprocess.run([minsky, "init"], cwd=work, check=True, capture_output=True)
epic = cli("tasks", "create", "User accounts", "-p", "1", "-t", "auth", "-d", "Sign-up, login and sessions for the web app.")["id"]
table = cli("tasks", "create", "Design the users table", "--parent", epic, "-t", "auth,db", "-p", "1", "--ac", "migration runs on both stores", "--ac", "unique email index")["id"]
hashing = cli("tasks", "create", "Hash passwords with Argon2id", "--parent", epic, "-t", "auth", "--depends-on", table)["id"]
login = cli("tasks", "create", "Login endpoint", "--parent", epic, "-t", "auth,api", "-p", "0", "--depends-on", hashing,
            "--ac", "401 on a bad password", "--ac", "rate limited to 5/min per IP", "--ac", "session cookie is HttpOnly",
            "-d", "## Plan\n\n- `POST /login` with email and password\n- **constant-time** compare\n- issue a session cookie")["id"]
docs = cli("tasks", "create", "Write the API docs", "-t", "docs", "-p", "3")["id"]
ci = cli("tasks", "create", "Run the browser tests in CI", "-t", "ci", "-p", "2")["id"]
review = cli("tasks", "create", "Review the sync conflict screen", "-t", "sync", "-p", "2")["id"]
cli("tasks", "claim", table, "--owner", "claude-code", "--ttl", "45m")
cli("tasks", "check", table, "1")
cli("tasks", "status", review, "in-review")
cli("tasks", "status", ci, "done")
cli("tasks", "note", login, "Checked the rate limiter: 5/min per IP is what the **security review** asked for.", owner="claude-code")
cli("tasks", "note", login, "Agreed; keep the lockout message generic.", owner="ana@laptop")

board = subprocess.Popen([minsky, "board", "--json"], cwd=work, stdout=subprocess.PIPE, text=True)
url = json.loads(board.stdout.readline())["url"]
o = webdriver.ChromeOptions()
o.binary_location = "/usr/bin/chromium"
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,760", "--hide-scrollbars"]:
    o.add_argument(a)
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
try:
    d.get(url)
    time.sleep(1.5)
    d.save_screenshot(os.path.join(root, "docs/board.png"))
    d.find_element(By.CSS_SELECTOR, f'.card[data-id="{login}"]').click()
    time.sleep(1)
    d.save_screenshot(os.path.join(root, "docs/board-panel.png"))
finally:
    d.quit()
    board.terminate()
print("wrote docs/board.png and docs/board-panel.png")
