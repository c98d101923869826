"""Checks that a Parquet file is ordered by l_extendedprice DESC, l_orderkey, l_linenumber
and prints its row count:  python check_sorted.py FILE  (exit 1 when out of order)."""
import sys

import pyarrow.parquet as pq

f = pq.ParquetFile(sys.argv[1])
prev = None
rows = 0
for batch in f.iter_batches(columns=["l_extendedprice", "l_orderkey", "l_linenumber"],
                            batch_size=1 << 20):
    price = batch.column(0).to_pylist()
    okey = batch.column(1).to_pylist()
    line = batch.column(2).to_pylist()
    for i in range(len(price)):
        key = (-float(price[i]), okey[i], line[i])
        if prev is not None and key < prev:
            print(f"out of order at row {rows}: {prev} then {key}")
            sys.exit(1)
        prev = key
        rows += 1
print(f"sorted, {rows} rows")
