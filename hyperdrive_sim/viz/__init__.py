"""Figures from a results folder (results.json, layers.csv, traces/), never from simulator
internals.

``plot_results`` draws every figure the results support, as PNG (SVG / PDF on request):

- ``io_vs_core_energy``: energy per frame split into parts, per point, with system TOp/s/W;
- ``energy_share``: share of the energy spent on off-chip and chip-to-chip I/O, per point;
- ``tiling_comparison``: speed, energy, efficiency and utilisation against the number of
  chips, when one network and input ran on several mesh shapes;
- ``layer_breakdown``: per-layer latency, stalls, energy and feature-map memory of one point;
- ``sweep_<column>`` (dots as underscores): system / core TOp/s/W and I/O share against each
  numeric sweep setting that varies (not the overrides of named alternatives, which the
  alternative's name says), one line per combination of the other settings;
- ``accelerator_comparison``: Hyperdrive vs the baselines per network and input, core vs
  system efficiency and energy per frame by part;
- ``border_stall``, ``dataflow_comparison``: when a dataflow option varies (border
  exchange, fused pooling, organisation, frames, batch, ...) or named alternatives are
  compared, halo and weight stall against the number of chips per configuration, and each
  configuration's energy, frames/s, latency and chips (``viz.dataflow``);
- ``timeline_<point>``: per-chip Gantt chart and link / off-chip activity of each simpy
  trace in ``traces/`` (the first ``style.MAX_TIMELINES`` in sorted order), named by the
  point's network, input, mesh and sweep settings (``timeline_resnet34_224x224_4x4_...``).

Every energy part has one colour and label in every figure (``viz.palette``); titles wrap
and legends are measured so they fit; ``viz.check`` is the figure check the tests and
``scripts/make_plots.py`` run on every figure.

Figures are drawn in parallel worker processes (forked, so matplotlib is imported once),
and not at all when a stamp file in the figure folder says they were drawn from the same
inputs (results.json, layers.csv, traces), options and figure code, and every file it lists
exists: a cached re-run costs a few hashes. Matplotlib is imported only when drawing.

``timeline_figure`` draws the per-chip intervals of a simpy run as a Gantt chart.
Matplotlib is used without pyplot (no global figure state, no GUI backend).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperdrive_sim import limits
from hyperdrive_sim.errors import InputError
from hyperdrive_sim.readfile import read_input, read_output_file
from hyperdrive_sim.report.writers import write_atomic
from hyperdrive_sim.viz import style
from hyperdrive_sim.viz.load import (
    Results,
    Row,
    load_results,
    load_trace,
    stale_trace,
    trace_files,
    trace_row,
)
from hyperdrive_sim.viz.points import (
    PointSelector,
    Varying,
    file_label,
    point_label,
    select_point,
    tiling_series,
    varying_columns,
)

if TYPE_CHECKING:
    from hyperdrive_sim.viz.timeline import timeline_figure

#: names (file stems) of the figures of any experiment, in the order plot_results writes
#: them; ``sweep_<column>``, ``accelerator_comparison`` and ``timeline_<point>`` follow when
#: the results have numeric sweep settings, baselines and traces
FIGURES = ("io_vs_core_energy", "energy_share", "tiling_comparison", "layer_breakdown")
COMPARISON = "accelerator_comparison"
SWEEP_PREFIX = "sweep_"
TIMELINE_PREFIX = "timeline_"
#: the stamp of the drawn figures, in the figure folder
STAMP = ".figures-stamp.json"

log = logging.getLogger(__name__)

#: (name, draw) of the figures being drawn; set before forking workers, which inherit it
_PENDING: list[tuple[str, Callable[[], list[Path]]]] = []


def sweep_figure_name(column: str) -> str:
    """File stem of the sweep curves of ``column`` (``energy.offchip_pj_per_bit`` ->
    ``sweep_energy_offchip_pj_per_bit``)."""
    return SWEEP_PREFIX + column.replace(".", "_")


def plot_results(
    results_dir: Path,
    out_dir: Path | None = None,
    *,
    layer_point: PointSelector | None = None,
    figures: Iterable[str] | None = None,
    formats: Sequence[str] | None = None,
    workers: int | None = None,
    force: bool = False,
) -> list[Path]:
    """Draw every figure ``results_dir`` supports into ``out_dir`` (default
    ``results_dir/figures``); return the written files (the existing ones when nothing
    changed since they were drawn).

    ``layer_point`` picks the point of the layer breakdown (default: the first that fits,
    else the first point, whose feature-map memory overflow is then shown); InputError when
    it matches no point. The io_vs_core figure is always drawn, even if no point fits.
    ``figures`` (shell patterns of file stems, e.g. ``["sweep_*", "timeline_*"]``) limits the
    drawing to the figures it names. Traces beyond ``style.MAX_TIMELINES``, or that cannot
    be read, are logged and skipped.

    ``formats``: file formats of each figure (default ``style.FORMATS``, PNG; any of
    ``style.ALL_FORMATS``), InputError for others. ``workers``: processes drawing at once
    (default: one per CPU, at most ``style.MAX_WORKERS``; 1 draws in this process).
    ``force``: draw even when the stamp says the figures are up to date.
    """
    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir / "figures"
    formats = _formats(formats)
    patterns = None if figures is None else tuple(figures)
    stamp = _stamp(results_dir, layer_point, patterns, formats)
    if not force and (done := _up_to_date(out, stamp)) is not None:
        return done
    results = load_results(results_dir)
    if not results.points:
        return []
    points = results.points
    point = select_point(points, layer_point)  # a wrong selector fails before any drawing

    def wanted(name: str) -> bool:
        return patterns is None or any(fnmatch.fnmatchcase(name, p) for p in patterns)

    jobs = [
        (name, draw)
        for name, draw in _figure_jobs(results_dir, results, point, out, formats)
        if wanted(name) or (name.startswith(TIMELINE_PREFIX) and _trace_wanted(draw, wanted))
    ]
    paths = _draw(jobs, workers)
    _write_stamp(out, stamp, paths)
    return paths


def _formats(formats: Sequence[str] | None) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(formats or style.FORMATS))
    bad = [f for f in chosen if f not in style.ALL_FORMATS]
    if bad:
        known = ", ".join(style.ALL_FORMATS)
        raise InputError(
            f"unknown figure format {', '.join(bad)}; expected any of {known}",
            key="--figure-format",
        )
    return chosen


def _figure_jobs(
    results_dir: Path, results: Results, point: Row, out: Path, formats: tuple[str, ...]
) -> list[tuple[str, Callable[[], list[Path]]]]:
    """(file stem, draw) of every figure the results support, in writing order; ``draw``
    builds and saves the figure and returns the written paths (matplotlib imported here)."""
    from hyperdrive_sim.viz import figures as fg
    from hyperdrive_sim.viz.dataflow import dataflow_figures

    points = results.points
    varying = varying_columns(points, results.extra_columns)
    save = partial(fg.save, out=out, formats=formats)
    jobs: list[tuple[str, Callable[[], list[Path]]]] = []

    def add(name: str, build: Callable[..., Any], *args: Any) -> None:
        jobs.append((name, partial(save, name, build, *args)))

    add("io_vs_core_energy", fg.io_vs_core_figure, points, varying)
    # with nothing that fits, shares and curves would only repeat "does not fit"
    fits = any(r["fits"] for r in points)
    if fits:
        add("energy_share", fg.energy_share_figure, points, varying)
        series = tiling_series(points, varying)
        if series:
            add("tiling_comparison", fg.tiling_figure, series, varying)
    layers = results.layers_of(point)
    if layers:
        add("layer_breakdown", fg.layer_figure, point, layers, varying)
    for column in fg.sweep_columns(points, results.extra_columns) if fits else ():
        add(sweep_figure_name(column), fg.sweep_figure, points, column, varying)
    groups = fg.comparison_groups(points)
    if groups:
        add(COMPARISON, fg.comparison_figure, groups, varying)
    for name, build, *args in dataflow_figures(points, results.extra_columns):
        add(name, build, *args)
    jobs += _timeline_jobs(trace_files(results_dir), points, varying, out, formats)
    return jobs


class _TimelineJob:
    """Draws the timeline of one trace file (a callable, so plot_results can match the
    ``figures`` patterns against the trace's file name too)."""

    def __init__(self, path: Path, row: Row | None, title: str, name: str, out, formats):
        self.path, self.row, self.title, self.name = path, row, title, name
        self.out, self.formats = out, formats

    def __call__(self) -> list[Path]:
        from hyperdrive_sim.viz import figures as fg

        mhz = self.row.get("frequency_mhz") if self.row else None
        trace = load_trace(self.path, mhz * style.HZ_PER_MHZ if mhz else None)
        return fg.save(
            self.name, fg.trace_figure, trace, self.title, out=self.out, formats=self.formats
        )


def _trace_wanted(draw: Callable[[], list[Path]], wanted: Callable[[str], bool]) -> bool:
    """A timeline is also wanted when a pattern names its trace file (``timeline_<stem>``)."""
    return isinstance(draw, _TimelineJob) and wanted(TIMELINE_PREFIX + draw.path.stem)


def _timeline_jobs(
    files: list[Path], points: list[Row], varying: Varying, out: Path, formats
) -> list[tuple[str, _TimelineJob]]:
    """A timeline per trace file, the first ``style.MAX_TIMELINES`` of ``files``, named by
    its point (network, input, mesh, sweep settings); unique, the trace's id added when two
    points would share a name."""
    files = [f for f in files if not stale_trace(points, f)]
    if len(files) > style.MAX_TIMELINES:
        rest = ", ".join(f.name for f in files[style.MAX_TIMELINES :])
        log.warning(
            "timelines drawn for the first %d traces only; skipped: %s", style.MAX_TIMELINES, rest
        )
    chosen = files[: style.MAX_TIMELINES]
    rows = [trace_row(points, path) for path in chosen]
    names = [
        TIMELINE_PREFIX + (file_label(row, varying) if row else path.stem)
        for path, row in zip(chosen, rows, strict=True)
    ]
    jobs = []
    for path, row, name in zip(chosen, rows, names, strict=True):
        if names.count(name) > 1:
            name = f"{name}_{path.stem.rsplit('_', 1)[-1]}"
        label = point_label(row, varying, every=True) if row else path.stem
        title = f"Timeline of one frame: {label}"
        jobs.append((name, _TimelineJob(path, row, title, name, out, formats)))
    return jobs


# -- drawing in parallel -------------------------------------------------------------------


def _run(index: int) -> list[Path] | None:
    """Draw pending figure ``index`` (in a worker); None when it failed (the parent then
    draws it again itself, to raise or log the genuine error)."""
    try:
        return _PENDING[index][1]()
    except Exception:  # re-run in the parent, which raises or logs it
        return None


def _workers(jobs: int, workers: int | None) -> int:
    """Processes to draw ``jobs`` figures: forked workers only where fork exists and no
    other thread runs (forking a threaded process can deadlock)."""
    if workers is None:
        workers = min(os.cpu_count() or 1, style.MAX_WORKERS)
    forkable = "fork" in multiprocessing.get_all_start_methods()
    if not forkable or threading.active_count() > 1:
        return 1
    return max(1, min(workers, jobs))


def _draw(jobs: list[tuple[str, Callable[[], list[Path]]]], workers: int | None) -> list[Path]:
    """Run every job, in parallel when it pays; paths in job order. A trace that cannot be
    read is logged and skipped; any other error propagates."""
    results: list[list[Path] | None] = [None] * len(jobs)
    n = _workers(len(jobs), workers)
    if n > 1:
        _PENDING[:] = jobs
        try:
            # longest first: the workers finish together
            order = sorted(range(len(jobs)), key=lambda i: -_weight(jobs[i][0]))
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(n, mp_context=ctx) as pool:
                done = dict(zip(order, pool.map(_run, order), strict=True))
            results = [done[i] for i in range(len(jobs))]
        finally:
            _PENDING.clear()
    paths: list[Path] = []
    for (_name, draw), got in zip(jobs, results, strict=True):
        if got is None:
            try:
                got = draw()
            except InputError as exc:
                if not isinstance(draw, _TimelineJob):
                    raise
                log.warning("no timeline for %s: %s", draw.path.name, exc)
                continue
        paths += got
    return paths


def _weight(name: str) -> float:
    """Relative drawing time of a figure (``style.DRAW_COST``), to start the longest first."""
    kind = TIMELINE_PREFIX if name.startswith(TIMELINE_PREFIX) else name
    return style.DRAW_COST.get(kind, 1.0)


# -- the stamp of drawn figures --------------------------------------------------------------


def _stamp(
    results_dir: Path,
    layer_point: PointSelector | None,
    patterns: tuple[str, ...] | None,
    formats: tuple[str, ...],
) -> str:
    """Hash of what the figures are drawn from: the results files, traces, figure code,
    matplotlib version and options."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}:{len(data)}:".encode())
        digest.update(data)

    for name in ("results.json", "layers.csv"):
        path = results_dir / name
        add(name, _read_back(path) if path.is_file() else b"")
    for path in trace_files(results_dir):
        add(f"trace {path.name}", _read_back(path))
    for path in sorted(Path(__file__).parent.glob("*.py")):
        add(f"code {path.name}", path.read_bytes())
    options = {
        "matplotlib": _matplotlib_version(),
        "layer_point": None if layer_point is None else str(layer_point),
        "figures": patterns,
        "formats": formats,
        "max_timelines": style.MAX_TIMELINES,
    }
    add("options", json.dumps(options, sort_keys=True).encode())
    return digest.hexdigest()


def _read_back(path: Path) -> bytes:
    """A results file or trace, read within the input limits (``hyperdrive_sim.readfile``)."""
    return read_input(path, limit=limits.MAX_RESULTS_BYTES, what=f"{path.suffix[1:]} file")


def _matplotlib_version() -> str:
    try:
        return metadata.version("matplotlib")
    except metadata.PackageNotFoundError:
        return "unknown"


def _up_to_date(out: Path, stamp: str) -> list[Path] | None:
    """The figure files of ``out`` when its stamp is ``stamp`` and all of them exist."""
    text = read_output_file(out / STAMP)
    try:
        data = json.loads(text) if text is not None else None
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("stamp") != stamp:
        return None
    files = data.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    paths = [out / f for f in files]
    return paths if all(p.is_file() and p.parent == out for p in paths) else None


def _write_stamp(out: Path, stamp: str, paths: list[Path]) -> None:
    """Record ``stamp`` and the files drawn (names inside ``out``)."""
    if paths:
        data = {"stamp": stamp, "files": [p.name for p in paths]}
        write_atomic(out / STAMP, json.dumps(data, indent=1).encode())
    else:
        (out / STAMP).unlink(missing_ok=True)


def __getattr__(name: str) -> Any:
    """``timeline_figure`` on first use: importing this package does not import matplotlib."""
    if name == "timeline_figure":
        from hyperdrive_sim.viz.timeline import timeline_figure

        return timeline_figure
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FIGURES",
    "PointSelector",
    "load_results",
    "load_trace",
    "plot_results",
    "sweep_figure_name",
    "timeline_figure",
]
