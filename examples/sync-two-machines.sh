#!/usr/bin/env bash
# Two machines, each with its own SQLite, share one PostgreSQL through `minsky sync`; both work
# offline for a while, edit the same task, reconnect, and end with the same list.
#   examples/sync-two-machines.sh postgresql://user@host:5432/db [strategy]
# The database is used as the shared remote (minsky's tables are created in its current schema).
# "Offline" is real when STOP and START are commands that stop and start the server (e.g.
# STOP="pg_ctl -D data -m fast stop" START="pg_ctl -D data -w start"); without them the machines
# simply edit without syncing. The test suite runs this script with a real stop and start.
set -euo pipefail
URL=${1:?usage: $0 postgresql://user@host:5432/db [strategy]}
STRATEGY=${2:-manual}
MINSKY=${MINSKY:-minsky}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

mkdir "$WORK/laptop" "$WORK/desktop"
step "laptop: a project with one task, sync enabled ($STRATEGY)"
cd "$WORK/laptop" && $MINSKY init >/dev/null
ID=$($MINSKY tasks create "Write the release notes" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
$MINSKY sync enable --remote-db "$URL" --strategy "$STRATEGY"

step "desktop: its own SQLite, same remote: the task arrives"
cd "$WORK/desktop" && $MINSKY init >/dev/null
$MINSKY sync enable --remote-db "$URL" --strategy "$STRATEGY"
$MINSKY tasks list

step "both offline: edits keep working on SQLite"
if [ -n "${STOP:-}" ]; then eval "$STOP"; fi
cd "$WORK/laptop" && $MINSKY tasks update "$ID" --title "Release notes for 2.0" >/dev/null
$MINSKY tasks create "Laptop-only idea" >/dev/null
cd "$WORK/desktop" && $MINSKY tasks update "$ID" --title "Release notes (draft)" --priority 0 >/dev/null
$MINSKY tasks create "Desktop-only idea" >/dev/null
$MINSKY sync status || true

step "back online: both sync"
if [ -n "${START:-}" ]; then eval "$START"; fi
cd "$WORK/laptop" && $MINSKY sync now
cd "$WORK/desktop" && $MINSKY sync now
if [ "$STRATEGY" = manual ]; then
  step "desktop: the title is a true conflict; keep the desktop's version"
  $MINSKY sync conflicts
  $MINSKY sync resolve "$ID" --take local
  $MINSKY sync now
fi
cd "$WORK/laptop" && $MINSKY sync now >/dev/null

step "the same list on both machines"
cd "$WORK/laptop" && $MINSKY tasks list --json >"$WORK/a.json" && $MINSKY tasks list
cd "$WORK/desktop" && $MINSKY tasks list --json >"$WORK/b.json"
python3 - "$WORK/a.json" "$WORK/b.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["tasks"] for p in sys.argv[1:3])
key = lambda ts: sorted((t["id"], t["title"], t["status"], t["priority"]) for t in ts)
assert key(a) == key(b), "the machines differ"
print(f"✓ both machines hold the same {len(a)} tasks")
PY
