#!/usr/bin/env bash
# DuckDB on the same 22 queries and files as run.sh, same cap; one process per query.
#   benches/tpch/run_duckdb.sh DATA_DIR FORMAT [CAP]
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
data=$1 fmt=$2 cap=${3:-2G}
py=${PYTHON:-$HOME/bench-data/venv/bin/python}
memcap=${MEMCAP:-$root/../shared/tools/memcap}
out=${OUT:-/tmp/duckdb-tpch-$fmt}
mkdir -p "$out"
for q in $(seq -w 1 22); do
  "$memcap" "$cap" -- "$py" "$here/duckdb_query.py" "$data" "$fmt" "$root/tests/tpch/queries/q$q.sql" "$out/q$q.csv" > /dev/null 2> "$out/q$q.err"
  summary=$(tail -1 "$out/q$q.err")
  wall=$(sed -n 's/.*wall=\([0-9.]*\)s.*/\1/p' <<< "$summary")
  rss=$(sed -n 's/.*peak_rss=\([0-9]*MiB\).*/\1/p' <<< "$summary")
  echo "q$q $wall s $rss $(grep -o 'exit=[0-9]*' <<< "$summary")"
done
