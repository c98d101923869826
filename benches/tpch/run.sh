#!/usr/bin/env bash
# The 22 TPC-H queries through the floe CLI, each one process under a hard kernel cap,
# with their results checked against the kit's answers.
#   benches/tpch/run.sh DATA_DIR FORMAT [MEMORY_LIMIT] [CAP] [ANSWERS_DIR]
# DATA_DIR holds one folder per table (tpchgen-cli --parts N) under FORMAT (csv|parquet).
# Prints one line per query: name, seconds, peak RSS, check.py verdict; results go to
# $OUT (default /tmp/floe-tpch-FORMAT).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
data=$1 fmt=$2 limit=${3:-1GiB} cap=${4:-2G}
answers=${5:-$root/../shared/tpch/answers}
kit=$root/../shared/tpch
memcap=${MEMCAP:-$root/../shared/tools/memcap}
out=${OUT:-/tmp/floe-tpch-$fmt}
mkdir -p "$out"
tables=()
for t in region nation supplier customer part partsupp orders lineitem; do
  tables+=(--table "$t=$data/$fmt/$t/")
done
for q in $(seq -w 1 22); do
  sql=$(grep -v '^--' "$root/tests/tpch/queries/q$q.sql")
  timeout "${TIMEOUT:-900}" "$memcap" "$cap" -- "${FLOE_BIN:-$root/target/dist/floe}" sql --memory-limit "$limit" --format csv \
    "${tables[@]}" "$sql" > "$out/q$q.csv" 2> "$out/q$q.err"
  summary=$(tail -1 "$out/q$q.err")
  wall=$(sed -n 's/.*wall=\([0-9.]*\)s.*/\1/p' <<< "$summary")
  rss=$(sed -n 's/.*peak_rss=\([0-9]*MiB\).*/\1/p' <<< "$summary")
  verdict=$(python3 "$kit/check.py" "$answers/q$q.csv" "$out/q$q.csv" --ordered 2>&1 | tail -1)
  echo "q$q $wall s $rss $verdict"
done
