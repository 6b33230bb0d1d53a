"""Executors run points and hand each finished entry back to the caller as it completes.

``serial`` runs in this process; ``processes`` uses a local process pool; ``dask`` submits
to a Dask distributed cluster (an existing one by address, or a local one). Every executor
runs the same pure function on the same JSON, so results are identical bit for bit.
That function is ``run_point`` unless a runner is given another ``task`` (same signature).
A task that raises gives a ``failed`` entry (never cached); a worker process that dies
stops the run with WorkerLost; an OutputError (a trace that cannot be written) stops it too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from hyperdrive_sim.errors import InputError, OutputError, WorkerLost
from hyperdrive_sim.result import RESULT_COLUMNS
from hyperdrive_sim.spec.models import PointSpec

Job = tuple[str, str, str | None]  # (point hash, point JSON, trace path or None)
OnDone = Callable[[str, dict[str, Any]], None]
#: what a runner calls per job, in a worker: (payload JSON, base folder, trace path) -> entry
Task = Callable[[str, str, str | None], dict[str, Any]]


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
            area=point.area,
            mesh=point.mesh,
            evaluator=point.evaluator,
            trace=trace,
        )
        row = {**result.row, **labels}
        if row["evaluator"] is None:  # a point that does not fit was never evaluated
            row["evaluator"] = point.evaluator
        layers = [{**r, **labels} for r in result.layer_rows()]
        chips = [{**r, **labels} for r in result.chip_rows()]
        status = "ok" if result.fits else "infeasible"
        return {"row": row, "layers": layers, "chips": chips, "status": status}
    except OutputError:
        raise  # the trace cannot be written: the user's environment, not this point
    except InputError as exc:
        row = {**point_row(point), "fits": False, "reason": str(exc), **labels}
        return {"row": row, "layers": [], "chips": [], "status": "infeasible"}


def point_row(point: PointSpec) -> dict[str, Any]:
    """A results row holding what the spec alone says of a point (no metrics): the row of a
    point that cannot be simulated at all, so it still shows which point it was."""
    row: dict[str, Any] = dict.fromkeys(RESULT_COLUMNS)
    op = point.chip.operating_points.get(point.chip.operating_point)
    row.update(
        network=str(point.network),
        input_h=point.input.height,
        input_w=point.input.width,
        mesh_rows=point.mesh.rows,
        mesh_cols=point.mesh.cols,
        chips=point.mesh.chips,
        evaluator=point.evaluator,
        accelerator=point.chip.name,
        operating_point=point.chip.operating_point,
        voltage_v=op.voltage_v if op else None,
        frequency_mhz=op.frequency_mhz if op else None,
    )
    return row


def _failed(job: Job, exc: BaseException) -> dict[str, Any]:
    """The entry of a job whose task raised an internal error (never cached)."""
    reason = f"internal error: {exc.__class__.__name__}: {' '.join(str(exc).split())}"
    try:
        point = PointSpec.model_validate_json(job[1])
        row = {**point_row(point), **point.labels}
    except ValueError:  # another task's payload (design exploration): no point to show
        row = dict.fromkeys(RESULT_COLUMNS)
    row.update(fits=False, reason=reason.rstrip(": "), status="failed")
    return {"row": row, "layers": [], "chips": [], "status": "failed"}


def _run_one(job: Job, base: str, task: Task | None = None) -> dict[str, Any]:
    """``task`` (default ``run_point``) with an internal error turned into a failed entry."""
    try:
        return (task or run_point)(job[1], base, job[2])
    except OutputError:
        raise
    except Exception as exc:  # MemoryError included: the point fails, the run goes on
        return _failed(job, exc)


def run_serial(
    jobs: Iterable[Job], base: str, on_done: OnDone, *, task: Task | None = None, **_: Any
) -> None:
    for job in jobs:
        on_done(job[0], _run_one(job, base, task))


WORKER_DIED = (
    "a worker process died (killed, or out of memory); finished points are cached, "
    "rerun to resume (fewer --jobs use less memory)"
)


def run_processes(
    jobs: Iterable[Job],
    base: str,
    on_done: OnDone,
    *,
    workers: int | None = None,
    task: Task | None = None,
    **_: Any,
) -> None:
    """A local process pool with a bounded number of points in flight.

    A worker that dies (BrokenProcessPool) stops the run with WorkerLost once the points
    that did finish are handed over; an error in ``on_done`` (say the cache cannot be
    written) cancels the points not yet started instead of computing them for nothing.
    """
    workers = workers or os.cpu_count() or 1
    window = 4 * workers
    pool = ProcessPoolExecutor(max_workers=workers)
    try:
        pending: dict[Future, Job] = {}
        for job in jobs:
            pending[pool.submit(task or run_point, job[1], base, job[2])] = job
            if len(pending) >= window:
                _drain(pending, on_done)
        while pending:
            _drain(pending, on_done)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _drain(pending: dict, on_done: OnDone) -> None:
    """Hand over the points that finished; WorkerLost after that if the pool broke."""
    done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
    broken = False
    for future in done:
        job = pending.pop(future)
        try:
            entry = future.result()
        except BrokenProcessPool:
            broken = True
            continue
        except OutputError:
            raise
        except Exception as exc:
            entry = _failed(job, exc)
        on_done(job[0], entry)
    if broken:
        raise WorkerLost(WORKER_DIED)


def run_chunk(
    jobs: list[Job], base: str, task: Task | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Run several points in one task (fewer, larger tasks keep scheduler overhead low)."""
    return [(job[0], _run_one(job, base, task)) for job in jobs]


def run_dask(
    jobs: Iterable[Job],
    base: str,
    on_done: OnDone,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    task: Task | None = None,
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
        except Exception as exc:  # bad address, unreachable, wrong protocol: all the user's
            detail = " ".join(str(exc).split())[:200]
            raise InputError(
                f"cannot connect to the Dask scheduler at {scheduler!r} "
                f"({exc.__class__.__name__}{': ' + detail if detail else ''}); expected an "
                "address such as tcp://host:8786 of a running scheduler",
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
            client.submit(
                run_chunk, chunk, base, task, key=f"points-{chunk[0][0]}", pure=False
            ): chunk
            for chunk in chunks
        }
        for future in as_completed(futures):
            try:
                done = future.result()
            except OutputError:
                raise
            except Exception as exc:
                if exc.__class__.__name__ == "KilledWorker":  # distributed gave up on the task
                    raise WorkerLost(WORKER_DIED) from None
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
