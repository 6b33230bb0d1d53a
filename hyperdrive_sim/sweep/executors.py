"""Executors run points and hand each finished entry back to the caller as it completes.

``serial`` runs in this process; ``processes`` uses a local process pool; ``dask`` submits
to a Dask distributed cluster (an existing one by address, or a local one). Every executor
runs the same pure function on the same JSON, so results are identical bit for bit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from hyperdrive_sim.errors import InputError
from hyperdrive_sim.result import RESULT_COLUMNS
from hyperdrive_sim.spec.models import PointSpec

Job = tuple[str, str, str | None]  # (point hash, point JSON, trace path or None)
OnDone = Callable[[str, dict[str, Any]], None]
EXECUTORS = ("serial", "processes", "dask")


def trace_name(key: str, point: PointSpec) -> str:
    """File name of a point's timeline trace: readable, and unique by the point hash."""
    return f"{Path(str(point.network)).stem}_{point.input}_{point.mesh}_{key[:8]}.json"


def run_point(point_json: str, base: str, trace: str | None = None) -> dict[str, Any]:
    """Simulate one point; bad input for this point makes it infeasible, not fatal.

    With ``trace``, a simpy point also writes its timeline trace to that path.
    """
    from hyperdrive_sim.simulate import resolve_network, simulate

    point = PointSpec.model_validate_json(point_json)
    labels = point.labels
    try:
        network = resolve_network(point.network, Path(base))
        result = simulate(
            network,
            point.input,
            point.chip,
            point.system,
            point.energy,
            mesh=point.mesh,
            evaluator=point.evaluator,
            trace=trace,
        )
        row = {**result.row, **labels}
        layers = [{**r, **labels} for r in result.layer_rows()]
        chips = [{**r, **labels} for r in result.chip_rows()]
        status = "ok" if result.fits else "infeasible"
        return {"row": row, "layers": layers, "chips": chips, "status": status}
    except InputError as exc:
        row = dict.fromkeys(RESULT_COLUMNS)
        row.update(
            network=str(point.network), input_h=point.input.height, input_w=point.input.width,
            mesh_rows=point.mesh.rows, mesh_cols=point.mesh.cols, chips=point.mesh.chips,
            fits=False, reason=str(exc), **labels,
        )  # fmt: skip
        return {"row": row, "layers": [], "chips": [], "status": "infeasible"}


def _failed(job: Job, exc: BaseException) -> dict[str, Any]:
    point = PointSpec.model_validate_json(job[1])
    row = dict.fromkeys(RESULT_COLUMNS)
    row.update(
        network=str(point.network),
        fits=False,
        reason=f"internal error: {exc.__class__.__name__}: {exc}",
        **point.labels,
    )
    return {"row": row, "layers": [], "chips": [], "status": "failed"}


def run_serial(jobs: Iterable[Job], base: str, on_done: OnDone, **_: Any) -> None:
    for job in jobs:
        try:
            entry = run_point(job[1], base, job[2])
        except Exception as exc:
            entry = _failed(job, exc)
        on_done(job[0], entry)


def run_processes(
    jobs: Iterable[Job], base: str, on_done: OnDone, *, workers: int | None = None, **_: Any
) -> None:
    """A local process pool with a bounded number of points in flight."""
    workers = workers or os.cpu_count() or 1
    window = 4 * workers
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: dict[Future, Job] = {}
        for job in jobs:
            pending[pool.submit(run_point, job[1], base, job[2])] = job
            if len(pending) >= window:
                _drain(pending, on_done, FIRST_COMPLETED)
        while pending:
            _drain(pending, on_done, FIRST_COMPLETED)


def _drain(pending: dict, on_done: OnDone, how: str) -> None:
    done, _ = wait(list(pending), return_when=how)
    for future in done:
        job = pending.pop(future)
        try:
            entry = future.result()
        except Exception as exc:
            entry = _failed(job, exc)
        on_done(job[0], entry)


def run_chunk(jobs: list[Job], base: str) -> list[tuple[str, dict[str, Any]]]:
    """Run several points in one task (fewer, larger tasks keep scheduler overhead low)."""
    out = []
    for job in jobs:
        try:
            entry = run_point(job[1], base, job[2])
        except Exception as exc:
            entry = _failed(job, exc)
        out.append((job[0], entry))
    return out


def run_dask(
    jobs: Iterable[Job],
    base: str,
    on_done: OnDone,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    **_: Any,
) -> None:
    """Dask distributed: an existing scheduler by address, or a local cluster.

    Points go out in eight interleaved chunks per worker, so per-task scheduling stays small
    and neighbouring (similarly expensive) points spread over the workers.
    """
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError(
            "the dask executor needs Dask distributed: pip install 'hyperdrive_sim[dask]'",
            key="--executor dask",
        ) from None
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise InputError(
                f"cannot reach the Dask scheduler at {scheduler!r} ({exc.__class__.__name__})",
                key="--scheduler",
            ) from None
    else:
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    try:
        jobs = list(jobs)
        slots = max(1, len(client.scheduler_info().get("workers", {})) or (workers or 1))
        n_chunks = min(len(jobs), 8 * slots)
        chunks = [jobs[i::n_chunks] for i in range(n_chunks)]  # interleaved: balanced work
        futures = {
            client.submit(run_chunk, chunk, base, key=f"points-{chunk[0][0]}", pure=False): chunk
            for chunk in chunks
        }
        for future in as_completed(futures):
            try:
                done = future.result()
            except Exception as exc:
                done = [(job[0], _failed(job, exc)) for job in futures[future]]
            for key, entry in done:
                on_done(key, entry)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


RUNNERS: dict[str, Callable[..., None]] = {
    "serial": run_serial,
    "processes": run_processes,
    "dask": run_dask,
}
