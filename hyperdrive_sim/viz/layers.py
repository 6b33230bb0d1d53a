"""Per-layer breakdown of one point: cycles, stalls, energy by part, feature-map memory."""

from __future__ import annotations

import math
import textwrap

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import ScaledTranslation

from hyperdrive_sim.viz import style
from hyperdrive_sim.viz.grid import fit_title, line_height, text_width
from hyperdrive_sim.viz.load import Row
from hyperdrive_sim.viz.palette import layer_energy
from hyperdrive_sim.viz.points import NOT_VARYING, Varying, point_label
from hyperdrive_sim.viz.save import new_figure, styled


def _values(layers: list[Row], column: str, scale: float = 1.0) -> np.ndarray:
    return np.array([(r[column] or 0) * scale for r in layers], dtype=float)


def _hbar(ax: Axes, y: np.ndarray, values: np.ndarray, left: np.ndarray, **kw) -> None:
    """Horizontal bars as one collection: hundreds of layers draw fast."""
    half = style.BAR_WIDTH / 2
    keep = values > 0
    if not keep.any():  # nothing to draw: no legend entry either
        return
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
    ax.update_datalim([(0, y.min() - half), (x1.max(), y.max() + half)])
    ax.autoscale_view()


def _row_names(ax: Axes, names: list[str]) -> None:
    """Layer names left of the rows: plain texts, not ticks (a tick is five artists, and
    hundreds of them are most of the time this figure takes to draw)."""
    ax.set_yticks([])
    left = ax.get_yaxis_transform() + ScaledTranslation(
        -style.ROW_NAME_PAD, 0, ax.figure.dpi_scale_trans
    )
    for y, name in enumerate(names):
        ax.text(
            0,
            y,
            name,
            transform=left,
            ha="right",
            va="center",
            fontsize=style.SMALL_FONT_SIZE,
        )


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
    _hbar(ax, y, compute, 0 * y, color=style.color("compute"), label=style.label("compute"))
    _hbar(
        ax,
        y,
        cycles - compute,
        compute,
        color=style.color("wait_layer"),
        label=style.label("wait_layer"),
    )
    # the time scale in the label, not on a second axis: one axis less to lay out and draw
    us_per_kcycle = style.CYCLES_PER_KCYCLE / point["frequency_mhz"]
    ax.set_xlabel(
        f"thousand cycles (1k = {us_per_kcycle:.3g} µs at {point['frequency_mhz']:g} MHz)"
    )
    ax.set_title("Layer latency (slowest chip)")


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
            label=style.ACTIVITY_LABELS[kind],
        )
        left = left + values
    ax.set_xlabel("stall per chip, mean (thousand cycles)")
    ax.set_title("Stalls")


def _energy_panel(ax: Axes, layers: list[Row], y: np.ndarray) -> None:
    left = 0 * y
    for part in style.ENERGY_PARTS:
        values = np.array([layer_energy(r, part) * style.UJ_PER_J for r in layers])
        if part == "offchip_maps" and not values.any():
            continue  # a Hyperdrive layer streams weights only: no empty legend entry
        _hbar(ax, y, values, left, color=style.color(part), label=style.label(part))
        left = left + values
    ax.set_xlabel("energy (µJ)")
    ax.set_title("Energy by part (image in/out not included)")


def _fmm_panel(ax: Axes, layers: list[Row], y: np.ndarray) -> None:
    """Feature-map memory each layer needs on its fullest chip, against the capacity."""
    need = _values(layers, "fmm_need_bits", 1 / style.BITS_PER_MBIT)
    capacity = max((r["fmm_capacity_bits"] or 0) for r in layers) / style.BITS_PER_MBIT
    fits = np.minimum(need, capacity)
    # the need is on-chip memory: same meaning, same colour and legend entry as its energy
    _hbar(ax, y, fits, 0 * y, color=style.color("onchip_mem"), label=style.label("onchip_mem"))
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
def layer_figure(point: Row, layers: list[Row], varying: Varying = NOT_VARYING) -> Figure:
    """One row per layer (top = first): latency, stalls, energy by part and FMM need."""
    timed = point["fits"] and any(r["cycles"] is not None for r in layers)
    stalls = timed and any(
        (r["stall_weight_cycles"] or 0) + (r["stall_border_cycles"] or 0) for r in layers
    )
    panels = 3 + stalls if timed else 2
    height = max(
        style.FIG_MIN_HEIGHT, len(layers) * style.LAYER_ROW_HEIGHT + style.FIG_MARGIN_HEIGHT
    )
    # laid out by hand (see _fixed_layout), and the panels aligned by hand rather than with
    # sharey: shared axes would build the ticks of every layer on every panel
    fig = new_figure(style.LAYER_FIG_WIDTH, height, layout=None)
    axes = fig.subplots(1, panels)
    y = np.arange(len(layers))
    names = [r["layer"] for r in layers]
    _row_names(axes[0], names)
    for ax in axes[1:]:
        ax.set_yticks([])
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
        ax.set_ylim(len(layers) - 0.5, -0.5)
        ax.grid(axis="x", alpha=style.GRID_ALPHA)
        ax.set_axisbelow(True)
        handles, labels = ax.get_legend_handles_labels()
        legend.update(zip(labels, handles, strict=True))
    fig.legend(
        handles=list(legend.values()),
        loc="lower center",
        bbox_to_anchor=(0.5, style.FIG_PAD / height),
        ncols=style.LAYER_LEGEND_COLUMNS,
    )
    title = fig.suptitle(f"Per-layer breakdown: {point_label(point, varying, every=True)}")
    fit_title(title, style.LAYER_FIG_WIDTH)
    _fixed_layout(fig, names, len(legend), title)
    return fig


def _fixed_layout(fig: Figure, names: list[str], legend_entries: int, title: Text) -> None:
    """Margins from what the figure holds (the widest layer name, the legend's rows, the
    title's lines) rather than a layout engine: constrained layout costs a whole extra
    drawing pass of every text, a third of the time this figure takes."""
    width, height = fig.get_size_inches()
    titles = style.TITLES_HEIGHT + line_height(style.TITLE_SIZE, title.get_text().count("\n"))
    height += titles - style.TITLES_HEIGHT
    fig.set_size_inches(width, height)
    fig.legends[0].set_bbox_to_anchor((0.5, style.FIG_PAD / height), transform=fig.transFigure)
    title.set(y=1 - style.FIG_PAD / height, va="top")
    longest = sorted(names, key=len)[-style.NAMES_MEASURED :]
    left = text_width(longest, style.SMALL_FONT_SIZE) + style.ROW_NAME_PAD + style.FIG_PAD
    rows = math.ceil(legend_entries / style.LAYER_LEGEND_COLUMNS)
    bottom = style.FIG_PAD + rows * style.LEGEND_ROW_HEIGHT + style.X_AXIS_HEIGHT
    panels = len(fig.axes)
    inner = width - left - style.PANEL_RIGHT_PAD
    panel = (inner - (panels - 1) * style.PANEL_GAP) / panels
    fig.subplots_adjust(
        left=left / width,
        right=1 - style.PANEL_RIGHT_PAD / width,
        bottom=bottom / height,
        top=1 - titles / height,
        wspace=style.PANEL_GAP / panel,
    )
