#!/usr/bin/env bash
# The sort/join larger-than-memory benchmark on TPC-H SF10 (see README "Benchmarks").
#   BENCH_DATA=~/bench-data benches/sf10/run.sh [FORMATS] [ENGINES]
# Data: tpchgen-cli {parquet,csv} -s 10 --parts 16 -o $BENCH_DATA/tpch-sf10/{parquet,csv}.
# Every run is one process under ../shared/tools/memcap 2G; floe gets --memory-limit 1GiB
# (through examples/tpch_joins), DuckDB memory_limit=1GB; Polars and DataFusion their
# defaults. Each line of $BENCH_DATA/sf10-results.txt: engine workload format, then
# memcap's summary (wall time, peak RSS, OOM kill).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
data=${BENCH_DATA:-$HOME/bench-data}
memcap=${MEMCAP:-$root/../shared/tools/memcap}
py=${PYTHON:-$data/venv/bin/python}
out=$data/sf10-out
mkdir -p "$out"
formats=${1:-parquet csv}
engines=${2:-floe duckdb polars datafusion}
for fmt in $formats; do
  for w in topk sort bigjoin q18; do
    for e in $engines; do
      rm -rf "$out"/sort_* "$out"/duck_tmp
      if [ "$e" = floe ]; then
        cmd=("$root/target/dist/examples/tpch_joins" "$data/tpch-sf10" "$fmt" "$w" 1GiB "$out/sort_floe.parquet")
      else
        cmd=("$py" "$here/peers.py" "$e" "$w" "$fmt" "$data/tpch-sf10" "$out")
      fi
      "$memcap" 2G -- "${cmd[@]}" > "$out/${w}_${e}_${fmt}.out" 2> "$out/${w}_${e}_${fmt}.err"
      echo "$e $w $fmt $(tail -1 "$out/${w}_${e}_${fmt}.err")" | tee -a "$data/sf10-results.txt"
    done
  done
done
