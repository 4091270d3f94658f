#!/usr/bin/env bash
# Register minsky with Claude Code for the current project (run from the project root, after
# `minsky init`). The server finds .minsky/ by walking up from Claude Code's working directory.
set -euo pipefail
claude mcp add --scope project minsky -- minsky mcp
# Or pin the store explicitly:
#   claude mcp add --scope project minsky -- minsky mcp --db "$PWD/.minsky/tasks.db"
