"""Board benchmark: how long a page takes to show the board, and how long a change made by
another process's CLI (a card's title) takes to appear on it (CLI start included), for a store
of N tasks.

Usage: .venv/bin/python scripts/bench-board.py [MINSKY_BINARY] [N ...]   (default: release build; 500 10000)
Needs Debian's chromium and chromium-driver and selenium (scripts/test installs them).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
minsky = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, ".build/release/minsky")
sizes = [int(n) for n in sys.argv[2:]] or [500, 10000]
statuses = ["TODO", "IN-PROGRESS", "DONE", "IN-REVIEW"]

for n in sizes:
    work = tempfile.mkdtemp(prefix="minsky-bench-board-")
    subprocess.run([minsky, "init"], cwd=work, check=True, capture_output=True)
    lines = [json.dumps({"title": f"Task {i} with a reasonably long title for the board", "tags": [f"t{i % 7}"],
                         "priority": i % 5, "status": statuses[i % 4]}) for i in range(n)]
    subprocess.run([minsky, "tasks", "import", "-"], cwd=work, input="\n".join(lines), text=True, check=True, capture_output=True)
    board = subprocess.Popen([minsky, "board", "--json"], cwd=work, stdout=subprocess.PIPE, text=True)
    url = json.loads(board.stdout.readline())["url"]
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,800"]:
        o.add_argument(a)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
    try:
        first = []
        for _ in range(3):
            t = time.time()
            d.get(url)
            while not d.execute_script("return document.body.dataset.loaded && document.getElementById('live').classList.contains('on')"):
                time.sleep(0.01)
            first.append(time.time() - t)
        live = []
        for k in range(5):
            # Retitle a card on the page (a new task may rank below a long column's first cards).
            shown = d.execute_script("return document.querySelector('section[data-status=TODO] .card').dataset.id")
            title = f"live {k} {time.time()}"
            t = time.time()
            subprocess.run([minsky, "tasks", "update", shown, "--title", title], cwd=work, check=True, capture_output=True)
            while not d.execute_script("return [...document.querySelectorAll('.card .title')].some(e => e.textContent === arguments[0])", title):
                time.sleep(0.01)
            live.append(time.time() - t)
            time.sleep(0.3)
        print(f"{n} tasks: first render median {statistics.median(first):.2f} s; a CLI change visible after median {statistics.median(live):.2f} s (max {max(live):.2f} s)")
    finally:
        d.quit()
        board.terminate()
