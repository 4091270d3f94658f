#!/usr/bin/env bash
# A scripted MCP session: creates a throw-away project, pipes sample-session.jsonl into
# `minsky mcp` and pretty-prints every response. Usage: examples/sample-session.sh [path/to/minsky]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
minsky=${1:-minsky}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
(cd "$dir" && "$minsky" init >/dev/null)
(cd "$dir" && "$minsky" mcp < "$here/sample-session.jsonl") | python3 -c '
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    result = msg.get("result", {})
    label = "id %s:" % msg.get("id")
    if "structuredContent" in result:
        print(label, json.dumps(result["structuredContent"], indent=2, ensure_ascii=False))
    else:
        print(label, json.dumps(result or msg, ensure_ascii=False)[:300])
'
