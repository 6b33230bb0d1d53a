"""Figures from a results folder (results.json, layers.csv, traces/), never from simulator
internals.

``plot_results`` draws every figure the results support, as PNG and SVG:

- ``io_vs_core_energy``: energy per frame split into parts, per point, with system TOp/s/W;
- ``energy_share``: share of the energy spent on off-chip and chip-to-chip I/O, per point;
- ``tiling_comparison``: speed, energy, efficiency and utilisation against the number of
  chips, when one network and input ran on several mesh shapes;
- ``layer_breakdown``: per-layer latency, stalls, energy and feature-map memory of one point;
- ``sweep_<column>`` (dots as underscores): system / core TOp/s/W and I/O share against each
  numeric sweep setting that varies, one line per combination of the other settings;
- ``accelerator_comparison``: Hyperdrive vs the baselines per network and input, core vs
  system efficiency and energy per frame by part;
- ``timeline_<trace>``: per-chip Gantt chart and link / off-chip activity of each simpy
  trace in ``traces/`` (the first ``style.MAX_TIMELINES`` in sorted order).

``timeline_figure`` draws the per-chip intervals of a simpy run as a Gantt chart.
Matplotlib is used without pyplot (no global figure state, no GUI backend).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from matplotlib.figure import Figure

from hyperdrive_sim.errors import InputError
from hyperdrive_sim.viz import style
from hyperdrive_sim.viz.comparison import comparison_figure, comparison_groups
from hyperdrive_sim.viz.energy import energy_share_figure, io_vs_core_figure
from hyperdrive_sim.viz.layers import layer_figure
from hyperdrive_sim.viz.load import Row, load_results, load_trace, trace_files, trace_row
from hyperdrive_sim.viz.points import (
    PointSelector,
    point_label,
    select_point,
    tiling_series,
    varying_columns,
)
from hyperdrive_sim.viz.save import save_figure
from hyperdrive_sim.viz.sweep import sweep_columns, sweep_figure
from hyperdrive_sim.viz.tiling import tiling_figure
from hyperdrive_sim.viz.timeline import timeline_figure, trace_figure

#: names (file stems) of the figures of any experiment, in the order plot_results writes
#: them; ``sweep_<column>``, ``accelerator_comparison`` and ``timeline_<trace>`` follow when
#: the results have numeric sweep settings, baselines and traces
FIGURES = ("io_vs_core_energy", "energy_share", "tiling_comparison", "layer_breakdown")
COMPARISON = "accelerator_comparison"
SWEEP_PREFIX = "sweep_"
TIMELINE_PREFIX = "timeline_"

log = logging.getLogger(__name__)


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
) -> list[Path]:
    """Draw every figure ``results_dir`` supports into ``out_dir`` (default
    ``results_dir/figures``); return the written files.

    ``layer_point`` picks the point of the layer breakdown (default: the first that fits,
    else the first point, whose feature-map memory overflow is then shown); InputError when
    it matches no point. The io_vs_core figure is always drawn, even if no point fits.
    ``figures`` (shell patterns of file stems, e.g. ``["sweep_*", "timeline_*"]``) limits the
    drawing to the figures it names. Traces beyond ``style.MAX_TIMELINES``, or that cannot
    be read, are logged and skipped.
    """
    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir / "figures"
    results = load_results(results_dir)
    if not results.points:
        return []
    points = results.points
    point = select_point(points, layer_point)  # a wrong selector fails before any drawing
    varying = varying_columns(points, results.extra_columns)
    patterns = None if figures is None else tuple(figures)

    def wanted(name: str) -> bool:
        return patterns is None or any(fnmatch.fnmatchcase(name, p) for p in patterns)

    jobs: list[tuple[str, Callable[[], Figure]]] = [
        ("io_vs_core_energy", lambda: io_vs_core_figure(points, varying))
    ]
    # with nothing that fits, shares and curves would only repeat "does not fit"
    fits = any(r["fits"] for r in points)
    if fits:
        jobs.append(("energy_share", lambda: energy_share_figure(points, varying)))
        series = tiling_series(points, varying)
        if series:
            jobs.append(("tiling_comparison", lambda: tiling_figure(series)))
    layers = results.layers_of(point)
    if layers:
        jobs.append(("layer_breakdown", lambda: layer_figure(point, layers, varying)))
    for column in sweep_columns(points, results.extra_columns) if fits else ():
        jobs.append((sweep_figure_name(column), partial(sweep_figure, points, column, varying)))
    groups = comparison_groups(points)
    if groups:
        jobs.append((COMPARISON, lambda: comparison_figure(groups, varying)))
    paths = []
    for name, build in jobs:
        if wanted(name):
            paths += save_figure(build(), out, name)
    files = [f for f in trace_files(results_dir) if wanted(TIMELINE_PREFIX + f.stem)]
    paths += _timelines(files, points, varying, out)
    return paths


def _timelines(
    files: list[Path], points: list[Row], varying: tuple[str, ...], out: Path
) -> list[Path]:
    """A timeline figure per trace file, the first ``style.MAX_TIMELINES`` of ``files``."""
    if len(files) > style.MAX_TIMELINES:
        rest = ", ".join(f.name for f in files[style.MAX_TIMELINES :])
        log.warning(
            "timelines drawn for the first %d traces only; skipped: %s", style.MAX_TIMELINES, rest
        )
    paths: list[Path] = []
    for path in files[: style.MAX_TIMELINES]:
        row = trace_row(points, path)
        mhz = row.get("frequency_mhz") if row else None
        try:
            trace = load_trace(path, mhz * style.HZ_PER_MHZ if mhz else None)
        except InputError as exc:
            log.warning("no timeline for %s: %s", path.name, exc)
            continue
        title = f"Timeline of one frame: {point_label(row, varying) if row else path.stem}"
        paths += save_figure(trace_figure(trace, title), out, TIMELINE_PREFIX + path.stem)
    return paths


__all__ = [
    "FIGURES",
    "PointSelector",
    "load_results",
    "load_trace",
    "plot_results",
    "sweep_figure_name",
    "timeline_figure",
]
