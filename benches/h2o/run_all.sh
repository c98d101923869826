#!/usr/bin/env bash
# The h2o group-by benchmark of the README: floe and the peers on the same CSV file,
# in the same session. floe runs under a hard 2 GiB kernel cap with --memory-limit 1GiB;
# the peers run as ../shared/peers/bench.py runs them (default settings), and q10 also
# under the cap. Each measurement: 1 warm-up, then 3 runs; the median is reported.
#
#   BENCH_DATA=$HOME/bench-data benches/h2o/run_all.sh /path/G1_1e8_1e2_0_0.csv
#
# Needs a release build (cargo build --profile dist) and the peers' venv (../shared/peers/README.md).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
peers=$root/../shared/peers
memcap=$root/../shared/tools/memcap
csv=${1:?usage: run_all.sh H2O_CSV}
out=${BENCH_DATA:-$HOME/bench-data}/floe-results.jsonl
floe=${FLOE_BIN:-$root/target/dist/floe}

declare -A SQL=(
  [h2o-q1]="SELECT count(*) AS n, sum(v1) AS s1 FROM (SELECT id1, sum(v1) AS v1 FROM '$csv' GROUP BY id1)"
  [h2o-q3]="SELECT count(*) AS n, sum(v1) AS s1, sum(v3) AS s3 FROM (SELECT id3, sum(v1) AS v1, avg(v3) AS v3 FROM '$csv' GROUP BY id3)"
  [h2o-q10]="SELECT count(*) AS n, sum(v3) AS s3, sum(cnt) AS c FROM (SELECT id1, id2, id3, id4, id5, id6, sum(v3) AS v3, count(*) AS cnt FROM '$csv' GROUP BY id1, id2, id3, id4, id5, id6)"
)

run_floe() {  # workload
  local wl=$1 i line
  for i in 0 1 2 3; do
    line=$( { "$memcap" 2G -- "$floe" sql -v --memory-limit 1GiB --format csv "${SQL[$wl]}" | tail -n 1; } 2>&1 | tr '\n' ' ')
    [ "$i" = 0 ] && { echo "floe $wl warm-up: $line"; continue; }
    echo "floe $wl run $i: $line"
    echo "{\"engine\":\"floe\",\"workload\":\"$wl\",\"run\":$i,\"line\":\"${line//\"/\\\"}\",\"time\":\"$(date -Is)\"}" >> "$out"
  done
}

for wl in h2o-q1 h2o-q3 h2o-q10; do
  run_floe "$wl"
  for eng in duckdb polars datafusion; do
    python3 "$peers/bench.py" --slow 150 "$eng" "$wl" "$csv"
  done
done
# The third query under the same hard 2 GiB cap, and with the peers' own 2 GB limits.
python3 "$peers/bench.py" --cg --slow 150 duckdb h2o-q10 "$csv"
python3 "$peers/bench.py" --slow 150 duckdb h2o-q10 "$csv" cap
python3 "$peers/bench.py" --slow 150 datafusion h2o-q10 "$csv" cap
