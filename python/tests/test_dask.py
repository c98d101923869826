"""floe on Dask distributed: the 22 TPC-H queries and h2o-style group-bys on a
LocalCluster of two worker processes and on a separately started scheduler with two
`dask worker` processes, each equal to DuckDB's answers or to the single-process
result; a worker killed mid-query; and the errors for a worker without floe, with
another floe version, and for files a worker cannot read."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

import floe
import floe.dask
from conftest import (
    H2O_QUERIES,
    assert_rows,
    assert_tables_equal,
    dask_cli,
    free_port,
    h2o_table,
    register_tpch,
    rows_of,
    tpch_answer,
    tpch_query,
)

FRAGMENT = 256 << 10


@pytest.fixture(scope="module")
def local_client():
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster) as client:
        yield client


class External:
    """A `dask scheduler` and `dask worker` processes started from the command line."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs = []
        self.start(
            [dask_cli(), "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"]
        )

    def start(self, args, env=None, cwd=None):
        log = open(self.tmp / f"proc{len(self.procs)}.log", "w")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        self.procs.append(p)
        return p

    def worker(self, env=None, cwd=None):
        return self.start(
            [dask_cli(), "worker", self.address, "--nthreads", "1", "--no-dashboard", "--no-nanny"],
            env=env,
            cwd=cwd,
        )

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def external(tmp_path_factory):
    ext = External(tmp_path_factory.mktemp("dask-external"))
    try:
        ext.worker()
        ext.worker()
        with Client(ext.address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
            yield client
    finally:
        ext.close()


@pytest.fixture(scope="module")
def tpch_sessions(tpch_split_dir, tpch_dir):
    out = {}
    for fmt, d in (("parquet", tpch_split_dir), ("csv", tpch_dir)):
        s = floe.Session(threads=2)
        register_tpch(s, d, fmt)
        out[fmt] = s
    return out


def run_tpch(client, session, q, what):
    stats = {}
    lf = session.sql(tpch_query(q))
    got = floe.dask.collect(lf, client, fragment_bytes=FRAGMENT, stats=stats)
    assert_rows(tpch_answer(q), rows_of(got), ordered=True, what=what)
    return stats


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("q", range(1, 23))
def test_tpch_local_cluster(local_client, tpch_sessions, fmt, q):
    stats = run_tpch(local_client, tpch_sessions[fmt], q, f"q{q:02} {fmt} LocalCluster")
    if q in (1, 6):  # one scan of lineitem under an aggregate: it must be cut
        assert stats["stages"] and stats["stages"][0]["fragments"] >= 2, stats
        assert stats["stages"][0]["aggregate"]


@pytest.mark.parametrize("q", range(1, 23))
def test_tpch_external_cluster(external, tpch_sessions, q):
    run_tpch(external, tpch_sessions["parquet"], q, f"q{q:02} external")


def test_lf_collect_client_default_fragments(local_client, tpch_sessions):
    """`lf.collect(client=...)` with the default split: two fragments per worker
    thread (4 on this cluster)."""
    lf = tpch_sessions["parquet"].sql(tpch_query(1))
    stats = {}
    got = lf.collect(client=local_client, stats=stats)
    assert_rows(tpch_answer(1), rows_of(got), True, "q01")
    assert [st["fragments"] for st in stats["stages"]] == [4], stats


@pytest.fixture(scope="module")
def h2o(tmp_path_factory):
    import pyarrow.csv as pacsv

    d = tmp_path_factory.mktemp("h2o")
    pacsv.write_csv(h2o_table(200_000), d / "x.csv")
    return d / "x.csv"


@pytest.mark.parametrize("name", sorted(H2O_QUERIES))
def test_h2o_group_by(local_client, h2o, name):
    s = floe.Session(threads=2)
    s.register("x", s.scan_csv(str(h2o)))
    lf = s.sql(H2O_QUERIES[name])
    want = lf.collect()
    got = floe.dask.collect(lf, local_client, fragment_bytes=FRAGMENT)
    assert_tables_equal(want, got, ordered=False, what=f"h2o {name}")


def test_worker_killed_mid_query(tmp_path, h2o):
    import pyarrow.csv as pacsv

    path = tmp_path / "big.csv"
    pacsv.write_csv(h2o_table(1_000_000, seed=3), path)
    s = floe.Session(threads=2)
    s.register("x", s.scan_csv(str(path)))
    lf = s.sql("SELECT id3, sum(v1) AS v1, avg(v3) AS v3, count(*) AS n FROM x GROUP BY id3")
    want = lf.collect()
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        victim = sorted(pids)[0]
        result, error = {}, []

        def work():
            try:
                result["t"] = floe.dask.collect(lf, client, fragment_bytes=128 << 10)
            except BaseException as e:  # noqa: BLE001
                error.append(e)

        t = threading.Thread(target=work)
        t.start()
        deadline = time.time() + 60
        while not client.processing().get(victim):
            assert time.time() < deadline and t.is_alive(), "no task ever ran on the victim"
            time.sleep(0.01)
        assert t.is_alive(), "the query ended before the kill"
        os.kill(pids[victim], signal.SIGKILL)
        t.join(timeout=300)
        assert not error, error
        assert_tables_equal(want, result["t"], ordered=False, what="after a worker was killed")


def fake_floe(tmp: Path, body: str) -> dict:
    pkg = tmp / "fake" / "floe"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(body)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tmp / "fake")
    return env


@pytest.mark.parametrize(
    "body, message",
    [
        ("raise ImportError(\"No module named 'floe'\")", "cannot import floe"),
        ("__version__ = '0.0.0-other'", "runs floe 0.0.0-other"),
    ],
    ids=["not-installed", "version-mismatch"],
)
def test_worker_without_floe_or_other_version(tmp_path, tpch_sessions, body, message):
    ext = External(tmp_path)
    try:
        ext.worker(env=fake_floe(tmp_path, body))
        with Client(ext.address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
            lf = tpch_sessions["parquet"].sql(tpch_query(6))
            with pytest.raises(floe.FloeError, match=message) as e:
                floe.dask.collect(lf, client, fragment_bytes=FRAGMENT)
            assert "worker tcp://127.0.0.1:" in str(e.value)
    finally:
        ext.close()


def test_unreadable_fragment_names_worker_and_file(local_client, tmp_path):
    import pyarrow.csv as pacsv

    path = tmp_path / "gone.csv"
    pacsv.write_csv(h2o_table(50_000), path)
    s = floe.Session(threads=2)
    lf = s.scan_csv(str(path)).group_by("id1").agg(floe.col("v1").sum())
    plan = lf._plan_bytes()
    path.unlink()
    with pytest.raises(floe.FloeError, match="gone.csv") as e:
        floe.dask.collect_plan(plan, local_client, fragment_bytes=FRAGMENT)
    assert "on worker tcp://" in str(e.value)
