"""Every figure builder, for plot_results to import at once when (and only when) it draws:
importing hyperdrive_sim.viz alone does not import matplotlib."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from hyperdrive_sim.viz.comparison import comparison_figure, comparison_groups
from hyperdrive_sim.viz.energy import energy_share_figure, io_vs_core_figure
from hyperdrive_sim.viz.layers import layer_figure
from hyperdrive_sim.viz.save import save_figure
from hyperdrive_sim.viz.sweep import sweep_columns, sweep_figure
from hyperdrive_sim.viz.tiling import tiling_figure
from hyperdrive_sim.viz.timeline import trace_figure


def save(
    name: str,
    build: Callable[..., Figure],
    *args: Any,
    out: Path,
    formats: Sequence[str],
) -> list[Path]:
    """Build a figure with ``build(*args)`` and save it as ``out/name.<format>``."""
    return save_figure(build(*args), out, name, formats)


__all__ = [
    "comparison_figure",
    "comparison_groups",
    "energy_share_figure",
    "io_vs_core_figure",
    "layer_figure",
    "save",
    "sweep_columns",
    "sweep_figure",
    "tiling_figure",
    "trace_figure",
]
