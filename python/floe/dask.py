"""floe on a Dask cluster: the same LazyFrame, run as Dask tasks.

``floe.dask.collect(lf, client)`` (or ``lf.collect(client=client)``) plans the query
locally, then runs it one *stage* at a time (``floe::plan::distribute`` in the Rust
crate documents the rules):

* **Fragments.** A stage cuts one scan of the plan into slices (files, Parquet row
  groups, CSV byte ranges: about ``FRAGMENTS_PER_THREAD`` per worker thread, or of
  about ``fragment_bytes`` each) and submits one Dask task per slice. Each task runs
  floe in the worker process, under the worker's own floe memory limit (spilling as
  a single process does), and returns its result as Arrow IPC bytes.
* **Aggregates** (count, sum, min, max, avg) return partial aggregates, combined by a
  tree reduction on the workers (``fan_in`` tables per merge task), then finished.
* **Joins**: the cut scan is on the streaming side of every join above it; the other
  sides are read whole by each fragment (a broadcast of the smaller inputs).
* **Top-k and limits** over the query's rows run in each fragment, then once more on
  their concatenation.
* Each stage's result replaces its subtree in the plan, and the next stage is cut; what
  is left (joins of aggregated results, final sorts, the aggregates that do not
  decompose: distinct counts, medians, variances) runs as one last task on a worker.

Dask does the rest: its dashboard shows the ``floe-fragment``, ``floe-merge`` and
``floe-finish`` tasks, and a lost worker's tasks are run again elsewhere. Before the
first task, every worker is asked for its floe version: a worker without floe, or with
another version, is an error naming that worker. A task that fails raises the floe
exception, with the worker's address in its message.

Memory: each worker process holds one floe session per configuration. Its memory limit
is ``memory_limit`` when given, else half of the Dask worker's own memory limit (Dask
pauses a worker at 80% of its limit and restarts it at 95%; floe's peak RSS can exceed
its pool by up to ~1.4x after spilling), else floe's default.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Optional

from . import _floe
from ._floe import FloeError

__all__ = ["collect", "collect_plan", "to_dask_dataframe", "FRAGMENTS_PER_THREAD"]

#: Fragments per worker thread of the cluster when ``fragment_bytes`` is not given.
FRAGMENTS_PER_THREAD = 2

_SESSIONS: dict = {}
# Per client: the workers whose floe version was checked (checked again when the set of
# workers changes).
_CHECKED: dict = {}


def _worker():
    try:
        from distributed import get_worker

        return get_worker()
    except Exception:  # not in a Dask worker (e.g. a synchronous test scheduler)
        return None


def _where() -> str:
    w = _worker()
    return w.address if w is not None else f"process {os.getpid()}"


def _session(config: tuple) -> "_floe.Session":
    """The floe session of this worker process for ``config``, made once."""
    s = _SESSIONS.get(config)
    if s is None:
        kw = dict(config)
        w = _worker()
        if kw.get("memory_limit") is None:
            limit = getattr(getattr(w, "memory_manager", None), "memory_limit", None)
            if limit:
                kw["memory_limit"] = int(limit) // 2
        if kw.get("threads") is None and w is not None:
            kw["threads"] = max(1, int(w.state.nthreads))
        kw = {k: v for k, v in kw.items() if v is not None}
        s = _floe.Session(**kw)
        _SESSIONS[config] = s
    return s


def _task(fn, config: tuple, *args):
    try:
        return fn(_session(config), *args)
    except FloeError as e:
        raise type(e)(f"on worker {_where()}: {e}") from None


def _run_plan(config: tuple, plan: bytes):
    return _task(_floe.run_plan, config, plan)


def _merge(config: tuple, stage: bytes, *partials: bytes):
    return _task(lambda s: _floe.merge_partials(s, stage, list(partials)), config)


def _finish(config: tuple, stage: bytes, merged: bytes):
    return _task(lambda s: _floe.finish_stage(s, stage, merged), config)


def _check_workers(client) -> None:
    """Every worker must import the same floe version as this process."""

    def probe():  # defined here so that Dask ships it by value, not by import
        try:
            import floe

            return ("ok", floe.__version__)
        except BaseException as e:  # noqa: BLE001 - reported to the client
            return ("error", f"{type(e).__name__}: {e}")

    workers = frozenset(client.scheduler_info(n_workers=-1).get("workers", {}))
    if workers and _CHECKED.get(id(client)) == workers:
        return
    answers = client.run(probe)
    if not answers:
        raise FloeError("the Dask cluster has no workers")
    for address, (status, detail) in sorted(answers.items()):
        if status != "ok":
            raise FloeError(
                f"worker {address} cannot import floe ({detail}); install the floe "
                "package on every worker"
            )
        if detail != _floe.__version__:
            raise FloeError(
                f"worker {address} runs floe {detail}, this client floe "
                f"{_floe.__version__}; install the same version everywhere"
            )
    _CHECKED[id(client)] = frozenset(answers)


def collect(
    lf: "_floe.LazyFrame",
    client: Any = None,
    *,
    memory_limit: Any = None,
    threads: Optional[int] = None,
    spill_dir: Optional[str] = None,
    fragment_bytes: Optional[int] = None,
    fan_in: int = 8,
    stats: Optional[dict] = None,
):
    """Runs ``lf`` on the Dask cluster of ``client`` (default: the current client) and
    returns a ``pyarrow.Table``, the same answer ``lf.collect()`` gives.

    ``memory_limit``, ``threads`` and ``spill_dir`` configure floe in each worker
    process (see the module documentation for the defaults); ``fragment_bytes`` is the
    input per fragment task (default: two fragments per worker thread); ``fan_in`` the partial results per merge task. A dict
    passed as ``stats`` receives ``stages``: one entry per stage run (its fragment
    count, and whether it merged partial aggregates).
    """
    return collect_plan(
        lf._plan_bytes(),
        client,
        memory_limit=memory_limit,
        threads=threads,
        spill_dir=spill_dir,
        fragment_bytes=fragment_bytes,
        fan_in=fan_in,
        stats=stats,
    )


def collect_plan(
    plan: bytes,
    client: Any = None,
    *,
    memory_limit: Any = None,
    threads: Optional[int] = None,
    spill_dir: Optional[str] = None,
    fragment_bytes: Optional[int] = None,
    fan_in: int = 8,
    stats: Optional[dict] = None,
):
    """``collect`` for a serialized optimized plan (``lf._plan_bytes()``)."""
    if client is None:
        from distributed import default_client

        client = default_client()
    if fan_in < 2:
        raise ValueError("fan_in must be at least 2")
    _check_workers(client)
    config = (("memory_limit", memory_limit), ("spill_dir", spill_dir), ("threads", threads))
    # By default a few fragments per worker thread: each fragment builds the broadcast
    # sides of its joins again, so their cost must not grow with the input.
    pieces = None
    if fragment_bytes is None:
        pieces = FRAGMENTS_PER_THREAD * max(1, sum(client.nthreads().values()))
    target = int(fragment_bytes or 0)
    if stats is not None:
        stats["stages"] = []
    query = uuid.uuid4().hex[:12]
    step = 0
    while True:
        stage = _floe.next_stage(plan, target, pieces)
        if stage is None:
            break
        step += 1
        tag = f"{query}-{step}"
        fragments = _floe.stage_fragments(stage)
        if stats is not None:
            stats.setdefault("stages", []).append(
                {"fragments": len(fragments), "aggregate": _floe.stage_merges(stage)}
            )
        stage = _floe.stage_combiner(stage)
        futures = [
            client.submit(_run_plan, config, f, key=f"floe-fragment-{tag}-{i}", pure=False)
            for i, f in enumerate(fragments)
        ]
        level = 0
        while len(futures) > 1:
            level += 1
            futures = [
                client.submit(
                    _merge,
                    config,
                    stage,
                    *futures[i : i + fan_in],
                    key=f"floe-merge-{tag}-{level}-{i}",
                    pure=False,
                )
                for i in range(0, len(futures), fan_in)
            ]
        done = client.submit(_finish, config, stage, futures[0], key=f"floe-finish-{tag}", pure=False)
        plan = _floe.substitute(plan, stage, done.result())
    last = client.submit(_run_plan, config, plan, key=f"floe-final-{query}", pure=False)
    return _floe.ipc_to_table(last.result())


def to_dask_dataframe(lf: "_floe.LazyFrame", client: Any = None, npartitions: int = 1, **kw):
    """``collect(lf, client)`` as a Dask DataFrame of ``npartitions`` partitions."""
    import dask.dataframe as dd

    return dd.from_pandas(collect(lf, client, **kw).to_pandas(), npartitions=npartitions)
