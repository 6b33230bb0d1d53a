"""Figures from a results folder (results.json, layers.csv), never from simulator internals.

``plot_results`` draws every figure the results support, as PNG and SVG:

- ``io_vs_core_energy``: energy per frame split into parts, per point, with system TOp/s/W;
- ``energy_share``: share of the energy spent on off-chip and chip-to-chip I/O, per point;
- ``tiling_comparison``: speed, energy, efficiency and utilisation against the number of
  chips, when one network and input ran on several mesh shapes;
- ``layer_breakdown``: per-layer latency, stalls, energy and feature-map memory of one point.

``timeline_figure`` draws the per-chip intervals of a simpy run as a Gantt chart.
Matplotlib is used without pyplot (no global figure state, no GUI backend).
"""

from __future__ import annotations

from pathlib import Path

from hyperdrive_sim.viz.energy import energy_share_figure, io_vs_core_figure
from hyperdrive_sim.viz.layers import layer_figure
from hyperdrive_sim.viz.load import load_results
from hyperdrive_sim.viz.points import PointSelector, select_point, tiling_series, varying_columns
from hyperdrive_sim.viz.save import save_figure
from hyperdrive_sim.viz.tiling import tiling_figure
from hyperdrive_sim.viz.timeline import timeline_figure

#: figure names (file stems), in the order plot_results writes them
FIGURES = ("io_vs_core_energy", "energy_share", "tiling_comparison", "layer_breakdown")


def plot_results(
    results_dir: Path,
    out_dir: Path | None = None,
    *,
    layer_point: PointSelector | None = None,
) -> list[Path]:
    """Draw every figure ``results_dir`` supports into ``out_dir`` (default
    ``results_dir/figures``); return the written files.

    ``layer_point`` picks the point of the layer breakdown (default: the first that fits,
    else the first point, whose feature-map memory overflow is then shown); InputError when
    it matches no point. The io_vs_core figure is always drawn, even if no point fits.
    """
    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir / "figures"
    results = load_results(results_dir)
    if not results.points:
        return []
    points = results.points
    point = select_point(points, layer_point)  # a wrong selector fails before any drawing
    varying = varying_columns(points, results.extra_columns)
    paths = save_figure(io_vs_core_figure(points, varying), out, "io_vs_core_energy")
    # with nothing that fits, shares and tiling curves would only repeat "does not fit"
    if any(r["fits"] for r in points):
        paths += save_figure(energy_share_figure(points, varying), out, "energy_share")
        series = tiling_series(points, varying)
        if series:
            paths += save_figure(tiling_figure(series), out, "tiling_comparison")
    layers = results.layers_of(point)
    if layers:
        paths += save_figure(layer_figure(point, layers, varying), out, "layer_breakdown")
    return paths


__all__ = [
    "FIGURES",
    "PointSelector",
    "load_results",
    "plot_results",
    "timeline_figure",
]
