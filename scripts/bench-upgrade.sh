#!/usr/bin/env bash
# Upgrade benchmark: our `upgrade to-postgres` (validation included) vs pgloader vs a raw
# `psql \copy` of the same rows, on one generated store (100,000 tasks, 200,000 dependencies).
# Usage: scripts/bench-upgrade.sh postgresql://postgres@127.0.0.1:PORT/postgres [tasks]
# Needs: a release build (swift build -c release), pgloader (apt-get install pgloader), sqlite3, psql.
set -euo pipefail
cd "$(dirname "$0")/.."
URL=${1:?postgresql URL of a server where databases may be created}
TASKS=${2:-100000}
DIR=${BENCH_DIR:-/tmp/minsky-upgrade-bench}
PSQL=${PSQL:-psql}
base=${URL%/*}
mkdir -p "$DIR"

echo "== minsky upgrade to-postgres (backup, copy, validation, switch)"
for i in 1 2 3; do .build/release/minsky-bench upgrade --postgres "$URL" --tasks "$TASKS" --dir "$DIR"; done

src="$DIR/.minsky/tasks.db.pristine"
if command -v pgloader >/dev/null; then
  echo "== pgloader $(pgloader --version | head -1 | awk '{print $3}') (copies, no validation)"
  for i in 1 2 3; do
    "$PSQL" -q "$URL" -c "DROP DATABASE IF EXISTS bench_pgloader" -c "CREATE DATABASE bench_pgloader"
    cp "$src" "$DIR/pgloader-src.db"
    /usr/bin/time -f "pgloader: %e s" pgloader --quiet "sqlite://$DIR/pgloader-src.db" "$base/bench_pgloader" >/dev/null
  done
fi

echo "== psql \\copy of the same rows into plain tables (the floor)"
sqlite3 -csv "$src" "SELECT id,title,description,status,priority,tags,metadata,parent_id,assignee,claim_expires_at,created_at,updated_at,version,open_blockers,open_subtasks FROM tasks" > "$DIR/tasks.csv"
sqlite3 -csv "$src" "SELECT task_id,depends_on_id,created_at FROM task_dependencies" > "$DIR/deps.csv"
for i in 1 2 3; do
  "$PSQL" -q "$URL" -c "DROP DATABASE IF EXISTS bench_copy" -c "CREATE DATABASE bench_copy"
  "$PSQL" -q "$base/bench_copy" -c "CREATE TABLE tasks (id text primary key, title text, description text, status text, priority bigint, tags jsonb, metadata jsonb, parent_id text, assignee text, claim_expires_at timestamptz, created_at timestamptz, updated_at timestamptz, version bigint, open_blockers bigint, open_subtasks bigint)" \
    -c "CREATE TABLE task_dependencies (task_id text, depends_on_id text, created_at timestamptz, primary key (task_id, depends_on_id))"
  start=$(date +%s.%N)
  "$PSQL" -q "$base/bench_copy" -c "\\copy tasks FROM '$DIR/tasks.csv' CSV" -c "\\copy task_dependencies FROM '$DIR/deps.csv' CSV"
  echo "psql \\copy: $(echo "$(date +%s.%N) - $start" | bc) s"
done
