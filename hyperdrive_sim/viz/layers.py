"""Per-layer breakdown of one point: cycles, stalls, energy by part, feature-map memory."""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from hyperdrive_sim.pricing import PARTS
from hyperdrive_sim.viz import style
from hyperdrive_sim.viz.load import Row
from hyperdrive_sim.viz.points import point_label
from hyperdrive_sim.viz.save import new_figure, styled


def _values(layers: list[Row], column: str, scale: float = 1.0) -> np.ndarray:
    return np.array([(r[column] or 0) * scale for r in layers], dtype=float)


def _hbar(ax: Axes, y: np.ndarray, values: np.ndarray, left: np.ndarray, **kw) -> None:
    """Horizontal bars as one collection: hundreds of layers draw fast."""
    half = style.BAR_WIDTH / 2
    keep = values > 0
    x0, x1, yy = left[keep], (left + values)[keep], y[keep]
    verts = np.stack(
        [
            np.column_stack([x0, yy - half]),
            np.column_stack([x1, yy - half]),
            np.column_stack([x1, yy + half]),
            np.column_stack([x0, yy + half]),
        ],
        axis=1,
    )
    kw.setdefault("edgecolor", "white")
    kw.setdefault("linewidth", style.BAR_EDGE_WIDTH)
    if "color" in kw:
        kw["facecolor"] = kw.pop("color")
    bars = PolyCollection(verts, **kw)
    bars.sticky_edges.x.append(0)  # the value axis starts at 0, no margin below it
    ax.add_collection(bars)
    ax.update_datalim([(0, y.min() - half), (x1.max() if keep.any() else 0, y.max() + half)])
    ax.autoscale_view()


def _no_timing(ax: Axes, point: Row) -> None:
    """The panel of a point that does not fit: hatched, with the reason."""
    ax.axvspan(
        0,
        1,
        facecolor="none",
        edgecolor=style.INFEASIBLE_COLOR,
        hatch=style.INFEASIBLE_HATCH,
        linewidth=0,
    )
    reason = textwrap.fill(str(point.get("reason") or ""), style.REASON_WRAP_CHARS)
    ax.text(
        0.5,
        0.5,
        f"{style.INFEASIBLE_LABEL}: not simulated\n\n{reason}".strip(),
        transform=ax.transAxes,
        ha="center",
        va="center",
        color=style.INFEASIBLE_TEXT_COLOR,
        bbox=style.TEXT_BOX,
    )
    ax.set_xticks([])
    ax.set_title("Latency and energy")


def _cycles_panel(ax: Axes, point: Row, layers: list[Row], y: np.ndarray) -> None:
    """Wall-clock cycles of each layer: the slowest chip's compute, then waiting."""
    cycles = _values(layers, "cycles", 1 / style.CYCLES_PER_KCYCLE)
    compute = np.minimum(_values(layers, "max_chip_cycles", 1 / style.CYCLES_PER_KCYCLE), cycles)
    _hbar(
        ax, y, compute, 0 * y, color=style.ACTIVITY_COLORS["busy"], label="compute (slowest chip)"
    )
    _hbar(
        ax,
        y,
        cycles - compute,
        compute,
        color=style.ACTIVITY_COLORS["wait_other"],
        label="waiting beyond the slowest chip's compute",
    )
    ax.set_xlabel("thousand cycles")
    ax.set_title("Layer latency")
    us_per_kcycle = style.CYCLES_PER_KCYCLE / point["frequency_mhz"]
    top = ax.secondary_xaxis(
        "top", functions=(lambda k: k * us_per_kcycle, lambda us: us / us_per_kcycle)
    )
    top.set_xlabel(f"µs at {point['frequency_mhz']:g} MHz")


def _stall_panel(ax: Axes, point: Row, layers: list[Row], y: np.ndarray) -> None:
    """Stall cycles of each layer, mean over the chips."""
    chips = point["chips"] or point["mesh_rows"] * point["mesh_cols"]
    left = 0 * y
    for kind in ("stall_weight", "stall_border"):
        values = _values(layers, f"{kind}_cycles", 1 / (style.CYCLES_PER_KCYCLE * chips))
        _hbar(
            ax,
            y,
            values,
            left,
            color=style.ACTIVITY_COLORS[kind],
            label=style.ACTIVITY_LABELS[kind].removeprefix("stall: "),
        )
        left = left + values
    ax.set_xlabel("thousand cycles, mean per chip")
    ax.set_title("Stalls")


def _energy_panel(ax: Axes, layers: list[Row], y: np.ndarray) -> None:
    left = 0 * y
    for part in PARTS:
        values = _values(layers, f"{part}_energy_j", style.UJ_PER_J)
        _hbar(ax, y, values, left, color=style.PART_COLORS[part], label=style.PART_LABELS[part])
        left = left + values
    ax.set_xlabel("energy (µJ)")
    ax.set_title("Energy by part (image in/out not included)")


def _fmm_panel(ax: Axes, layers: list[Row], y: np.ndarray) -> None:
    """Feature-map memory each layer needs on its fullest chip, against the capacity."""
    need = _values(layers, "fmm_need_bits", 1 / style.BITS_PER_MBIT)
    capacity = max((r["fmm_capacity_bits"] or 0) for r in layers) / style.BITS_PER_MBIT
    fits = np.minimum(need, capacity)
    _hbar(ax, y, fits, 0 * y, color=style.PART_COLORS["onchip_mem"], label="within capacity")
    over = need - fits
    if over.any():
        _hbar(
            ax,
            y,
            over,
            fits,
            facecolor="none",
            edgecolor=style.INFEASIBLE_TEXT_COLOR,
            hatch=style.INFEASIBLE_HATCH,
            label=f"over capacity: {style.INFEASIBLE_LABEL}",
        )
    ax.axvline(capacity, color="black", linestyle=":", label=f"capacity {capacity:.1f} Mbit")
    ax.set_xlabel("feature-map memory need (Mbit, fullest chip)")
    ax.set_title("Feature-map memory")


@styled
def layer_figure(point: Row, layers: list[Row], varying: tuple[str, ...] = ()) -> Figure:
    """One row per layer (top = first): latency, stalls, energy by part and FMM need."""
    timed = point["fits"] and any(r["cycles"] is not None for r in layers)
    stalls = timed and any(
        (r["stall_weight_cycles"] or 0) + (r["stall_border_cycles"] or 0) for r in layers
    )
    panels = 3 + stalls if timed else 2
    height = max(
        style.FIG_MIN_HEIGHT, len(layers) * style.LAYER_ROW_HEIGHT + style.FIG_MARGIN_HEIGHT
    )
    fig = new_figure(style.LAYER_FIG_WIDTH, height)
    axes = fig.subplots(1, panels, sharey=True)
    y = np.arange(len(layers))
    names = [r["layer"] for r in layers]
    axes[0].set_yticks(y, names, fontsize=style.SMALL_FONT_SIZE)
    axes[0].set_ylim(len(layers) - 0.5, -0.5)
    rest = list(axes)
    if timed:
        _cycles_panel(rest.pop(0), point, layers, y)
        if stalls:
            _stall_panel(rest.pop(0), point, layers, y)
        _energy_panel(rest.pop(0), layers, y)
    else:
        _no_timing(rest.pop(0), point)
    _fmm_panel(rest.pop(0), layers, y)
    legend: dict[str, object] = {}
    for ax in axes:
        ax.grid(axis="x", alpha=style.GRID_ALPHA)
        ax.set_axisbelow(True)
        handles, labels = ax.get_legend_handles_labels()
        legend.update(zip(labels, handles, strict=True))
    fig.legend(
        handles=list(legend.values()),
        loc="outside lower center",
        ncols=style.LAYER_LEGEND_COLUMNS,
    )
    fig.suptitle(f"Per-layer breakdown: {point_label(point, varying)}")
    return fig
