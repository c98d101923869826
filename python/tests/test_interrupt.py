"""Ctrl-C during a spilling query: a child process runs a sort under a small memory
limit; once its spill files exist, SIGINT is sent. The query must stop with
KeyboardInterrupt and leave the spill directory empty."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

CHILD = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np, pyarrow as pa
    import floe
    spill = sys.argv[1]
    s = floe.Session(memory_limit="64MiB", threads=2, spill_dir=spill)
    rng = np.random.default_rng(7)
    n = 6_000_000
    t = pa.table({"k": rng.integers(0, 1 << 40, n), "v": rng.random(n)})
    lf = s.from_arrow(t).sort("k").select((floe.col("v") * 2).alias("w"))
    print("ready", flush=True)
    try:
        for _ in range(20):
            lf.sink_parquet(os.path.join(spill, "..", "out.parquet"))
        print(json.dumps({"interrupted": False}), flush=True)
    except KeyboardInterrupt:
        left = [os.path.join(d, f) for d, _, fs in os.walk(spill) for f in fs]
        print(json.dumps({"interrupted": True, "spilled": s.spilled()[0], "left": left}), flush=True)
    """
)


def spill_files(d):
    return [f for _, _, fs in os.walk(d) for f in fs]


def test_ctrl_c_cancels_and_removes_spill_files(tmp_path):
    spill = tmp_path / "spill"
    spill.mkdir()
    p = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(spill)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout.readline().strip() == "ready"
        deadline = time.time() + 120
        while not spill_files(spill):
            assert p.poll() is None, "the query ended before it spilled"
            assert time.time() < deadline, "no spill file appeared"
            time.sleep(0.01)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    result = json.loads(out.strip().splitlines()[-1])
    assert result["interrupted"], out
    assert result["spilled"] > 0
    assert result["left"] == []
    assert spill_files(spill) == []
