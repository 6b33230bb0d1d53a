"""How the mesh shape changes speed and efficiency: metrics against the number of chips.

One row of panels per network and input (each with its own y scales), one panel per
metric. Square, wide and tall meshes each have one colour and marker; meshes with the same
number of chips (1x4, 2x2, 4x1) are spread a little apart along x so none hides another,
and labelled with their own name (moved where it would cover another). Every axis starts
at zero, so a difference reads at its true size (3.42 vs 3.51 TOp/s/W is 3 %, not a cliff);
the efficiency points carry their values.
"""

from __future__ import annotations

import logging
import math

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from hyperdrive_sim.viz import style
from hyperdrive_sim.viz.bars import infeasible_strip, infeasible_strip_handle
from hyperdrive_sim.viz.grid import panel_rows, place_panels
from hyperdrive_sim.viz.labels import declutter
from hyperdrive_sim.viz.load import Row
from hyperdrive_sim.viz.points import NOT_VARYING, Varying, mesh_name, mesh_shape, noted
from hyperdrive_sim.viz.save import styled

#: (column, scale, y label, title, starts at zero) of the panels, left to right
PANELS = (
    ("fps", 1.0, "throughput (frames/s)", "Throughput", True),
    ("total_energy_j", style.MJ_PER_J, "energy per frame (mJ)", "Energy per frame", True),
    ("system_tops_per_w", 1.0, "efficiency (TOp/s/W)", "System efficiency (I/O included)", True),
    ("utilization", style.PERCENT, "utilisation (%)", "Compute utilisation", True),
)
#: the panel whose points carry their mesh name, and the one whose points carry their value
NAMED_PANEL = "fps"
VALUED_PANEL = "system_tops_per_w"
#: core-only efficiency, given in the efficiency panel's title (it hardly depends on the mesh)
CORE_COLUMN = "core_tops_per_w"

log = logging.getLogger(__name__)


def dodged_chips(rows: list[Row]) -> dict[int, float]:
    """x position of each row (by ``id``): its chip count, spread by ``style.DODGE`` (in
    factors of 2) from the other meshes with as many chips, in order of rows."""
    same: dict[int, list[Row]] = {}
    for row in rows:
        same.setdefault(row["chips"], []).append(row)
    x: dict[int, float] = {}
    for chips, group in same.items():
        group = sorted(group, key=lambda r: (r["mesh_rows"], r["mesh_cols"]))
        for j, row in enumerate(group):
            x[id(row)] = chips * 2 ** ((j - (len(group) - 1) / 2) * style.DODGE)
    return x


def _chips_axis(ax: Axes, low: int, high: int) -> None:
    ax.set_xscale("log", base=2)
    ticks = [2**k for k in range(int(math.log2(low)), math.ceil(math.log2(high)) + 1)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
    margin = 2 ** (2 * style.DODGE + 0.25)
    ax.set_xlim(low / margin, high * margin)
    ax.grid(alpha=style.GRID_ALPHA)
    ax.set_axisbelow(True)


def _value(row: Row, column: str, scale: float) -> float | None:
    value = row.get(column)
    return value * scale if row["fits"] and value is not None else None


def _panel(ax: Axes, column: str, scale: float, rows: list[Row], x: dict[int, float]) -> set:
    """Lines of one metric, one per mesh shape; returns the legend keys drawn."""
    drawn: set[str] = set()
    values: list[float] = []
    for shape, (color, marker, _) in style.MESH_SHAPES.items():
        same = [r for r in rows if mesh_shape(r) == shape and _value(r, column, scale) is not None]
        if not same:
            continue
        ys = [_value(r, column, scale) for r in same]
        ax.plot(
            [x[id(r)] for r in same],
            ys,
            color=color,
            marker=marker,
            markersize=style.MARKER_SIZE,
            linewidth=style.LINE_WIDTH,
            label=shape,
        )
        drawn.add(shape)
        values += [y for y in ys if y is not None]
        for r, y in zip(same, ys, strict=True):
            text = mesh_name(r) if column == NAMED_PANEL else None
            text = f"{y:.2f}" if column == VALUED_PANEL else text
            if text:
                offset, align = style.SHAPE_LABELS[shape]
                ax.annotate(
                    text,
                    (x[id(r)], y),
                    xytext=offset,
                    textcoords="offset points",
                    ha=align,
                    fontsize=style.SMALL_FONT_SIZE,
                    color=color,
                    bbox=style.TEXT_BOX,  # readable where it crosses a line
                )
    return drawn | _crosses(ax, rows, x, values, column)


def _crosses(ax: Axes, rows: list[Row], x: dict[int, float], values: list[float], column: str):
    """y range of the drawn values (from 0 for magnitudes), with a grey strip at the bottom
    holding a cross per mesh that does not fit."""
    zero = next(p[4] for p in PANELS if p[0] == column)
    low, high = (0.0 if zero else min(values, default=0.0)), max(values, default=1.0)
    span = (high - low) or abs(high) or 1.0
    low = low if zero else low - span * style.HEADROOM
    high = high + span * style.HEADROOM * 2  # room for the labels above the points
    bad = [r for r in rows if not r["fits"]]
    if bad:  # extend below the data so the strip covers no point
        infeasible_strip(ax, [x[id(r)] for r in bad], low, high, label="infeasible")
        ax.yaxis.set_major_locator(FixedLocator([t for t in _ticks(low, high) if t >= low]))
        return {"infeasible"}
    ax.set_ylim(low, high)
    return set()


def _ticks(low: float, high: float) -> list[float]:
    """About five round ticks between ``low`` and ``high``."""
    step = (high - low) / 5 or 1.0
    base = 10 ** math.floor(math.log10(step))
    step = min((m * base for m in (1, 2, 2.5, 5, 10) if m * base >= step), default=step)
    first = math.ceil(low / step) * step
    return [first + k * step for k in range(int((high - first) / step) + 1)]


def _core_note(rows: list[Row]) -> str:
    core = [r[CORE_COLUMN] for r in rows if r["fits"] and r.get(CORE_COLUMN)]
    if not core:
        return ""
    low, high = min(core), max(core)
    if high - low <= style.FLAT_SPREAD * high:
        return f"\ncore only: {high:.1f} TOp/s/W on every mesh"
    return f"\ncore only: {low:.1f} to {high:.1f} TOp/s/W"


def _row(axes: list[Axes], name: str, rows: list[Row], low: int, high: int) -> tuple[set[str], str]:
    """One series' panels; the legend keys drawn and the row's title."""
    x = dodged_chips(rows)
    drawn: set[str] = set()
    for ax, (column, scale, ylabel, title, _) in zip(axes, PANELS, strict=True):
        drawn |= _panel(ax, column, scale, rows, x)
        _chips_axis(ax, low, high)
        ax.set_ylabel(ylabel)
        ax.set_title(title + (_core_note(rows) if column == VALUED_PANEL else ""))
        ax.set_xlabel("mesh size (chips, log scale)")
    unfit = [mesh_name(r) for r in rows if not r["fits"]]
    note = f"  (does not fit: {', '.join(unfit)})" if unfit else ""
    return drawn, f"{name}{note}"


def _legend(fig: Figure, drawn: set[str]) -> tuple[Legend, int]:
    handles = [
        Line2D([], [], color=c, marker=m, linewidth=style.LINE_WIDTH, label=lbl)
        for shape, (c, m, lbl) in style.MESH_SHAPES.items()
        if shape in drawn
    ]
    if "infeasible" in drawn:
        handles.append(infeasible_strip_handle())
    return fig.legend(handles=handles, loc="lower center", ncols=len(handles)), len(handles)


@styled
def tiling_figure(series: dict[str, list[Row]], varying: Varying = NOT_VARYING) -> Figure:
    """Throughput, energy, efficiency and utilisation against chips: a row of panels per
    series (network, input, settings; ``varying`` says which it leaves unnamed) of
    ``tiling_series``; meshes that do not fit are
    crosses in a grey strip at the bottom of each panel. At most ``style.MAX_TILING_ROWS``
    series are drawn (the others are logged)."""
    names = list(series)[: style.MAX_TILING_ROWS]
    if len(series) > len(names):
        log.warning(
            "tiling comparison drawn for the first %d series only; skipped: %s",
            len(names),
            ", ".join(list(series)[len(names) :]),
        )
    chips = [r["chips"] for n in names for r in series[n]]
    rows = panel_rows(len(names), len(PANELS), style.TILING_PANEL_SIZE)
    fig = rows.fig
    drawn: set[str] = set()
    row_titles = []
    for axes, name in zip(rows.axes, names, strict=True):
        keys, row_title = _row(axes, name, series[name], min(chips), max(chips))
        drawn |= keys
        row_titles.append(row_title)
    legend, columns = _legend(fig, drawn)
    title = fig.suptitle(
        noted("Tiling comparison: the same network on meshes of different size and shape", varying)
    )
    place_panels(
        rows,
        title=title,
        row_titles=row_titles,
        legend=legend,
        legend_columns=columns,
    )
    declutter(fig, [ax for axes in rows.axes for ax in axes])
    return fig
