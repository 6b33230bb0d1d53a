"""Sweep curves: system efficiency and I/O share against one numeric sweep setting.

A figure per numeric setting that varies (``energy.offchip_pj_per_bit``,
``chip.weight_cache_bits``, ...), one line per combination of everything else that varies
(network, input, mesh, accelerator, other sweep settings). Baselines have no sweep
settings and are left out; points that do not fit are crosses on the x axis.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from hyperdrive_sim.viz import style
from hyperdrive_sim.viz.grid import fit_grid
from hyperdrive_sim.viz.load import Row
from hyperdrive_sim.viz.palette import frame_energy
from hyperdrive_sim.viz.points import (
    NOT_VARYING,
    Varying,
    implied_by_alternative,
    is_baseline,
    noted,
    point_label,
    varying_columns,
)
from hyperdrive_sim.viz.save import new_figure, styled
from hyperdrive_sim.viz.units import axis_label

#: sweep columns that name a point rather than set a number
NOT_SETTINGS = frozenset(("network", "input", "mesh", "tiling", "evaluator"))
log = logging.getLogger(__name__)

#: SI prefixes of tick labels, largest first
_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"))


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def sweep_lines(points: list[Row], column: str, varying: Varying) -> dict[str, list[Row]]:
    """Hyperdrive points grouped into lines along ``column``: one per combination of the
    other varying settings, each sorted by the value of ``column``."""
    others = varying.without(column)
    lines: dict[str, list[Row]] = {}
    for row in points:
        if not is_baseline(row) and _numeric(row.get(column)):
            lines.setdefault(point_label(row, others), []).append(row)
    return {name: sorted(rows, key=lambda r: r[column]) for name, rows in lines.items()}


def sweep_columns(points: list[Row], extra_columns: Iterable[str]) -> tuple[str, ...]:
    """Numeric sweep settings worth a curve: a number in every Hyperdrive row, and at least
    one line (see ``sweep_lines``) with two or more different values."""
    rows = [r for r in points if not is_baseline(r)]
    extra = tuple(extra_columns)
    varying = varying_columns(points, extra)
    implied = implied_by_alternative(points, extra)  # an alternative's overrides: no axis
    found = []
    for col in extra:
        if col in NOT_SETTINGS or col in implied:
            continue
        if not rows or not all(_numeric(r.get(col)) for r in rows):
            continue
        lines = sweep_lines(points, col, varying)
        if any(len({r[col] for r in line}) > 1 for line in lines.values()):
            found.append(col)
    return tuple(found)


def _tick(value: float, _pos: object = None) -> str:
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale:
            return f"{value / scale:g}{prefix}"
    return f"{value:g}"


def _x_axis(ax: Axes, column: str, values: list[float]) -> None:
    low = min(values)
    positive = [v for v in values if v > 0]
    log = bool(positive) and low >= 0 and max(positive) / min(positive) > style.LOG_SPAN
    if log and low > 0:
        ax.set_xscale("log")
    elif log:  # a zero among widely spread values (e.g. "no cache"): linear near 0
        ax.set_xscale("symlog", linthresh=min(positive))
    distinct = sorted(set(values))
    if len(distinct) <= style.MAX_VALUE_TICKS:
        ax.xaxis.set_major_locator(FixedLocator(distinct))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(_tick))
    ax.set_xlabel(axis_label(column, log))
    ax.grid(alpha=style.GRID_ALPHA)
    ax.set_axisbelow(True)


def _io_share(row: Row) -> float:
    io = sum(frame_energy(row, part) for part in style.IO_PARTS)
    return io / row["total_energy_j"] * style.PERCENT


def _unfit_rows(lines: dict[str, list[Row]], names: list[str]) -> list[Row]:
    return [r for name in names for r in lines[name]]


def _drawn(row: Row) -> bool:
    return bool(row["fits"]) and bool(row.get("total_energy_j")) and row["system_tops_per_w"]


def _core_lines(
    ax: Axes, column: str, lines: dict[str, list[Row]], colors: dict[str, str]
) -> float:
    """Dashed core-only TOp/s/W per line; lines with the same curve (core efficiency often
    does not depend on the setting or the mesh) share one line whose dashes take their
    colours in turn, so none hides another. Returns the highest value drawn."""
    curves: dict[tuple, list[str]] = {}
    for name, rows in lines.items():
        curve = tuple((r[column], r["core_tops_per_w"]) for r in rows if r["core_tops_per_w"])
        if curve:
            key = tuple((x, float(f"{y:.4g}")) for x, y in curve)
            curves.setdefault(key, []).append(name)
    dash = style.CORE_DASH
    for curve, names in curves.items():
        xs, ys = zip(*curve, strict=True)
        period = (dash, dash * (2 * len(names) - 1))
        for j, name in enumerate(names):
            ax.plot(
                xs,
                ys,
                color=colors[name],
                linewidth=style.SECONDARY_LINE_WIDTH,
                linestyle=(2 * j * dash, period),
                marker="o",
                markersize=style.MARKER_SIZE * 0.6,
            )
    return max((y for curve in curves for _, y in curve), default=0.0)


def _crosses(axes: Iterable[Axes], xs: list[float]) -> None:
    """Grey crosses on the x axis at the values where a line has no point."""
    for ax in axes:
        ax.plot(
            xs,
            [0.0] * len(xs),
            linestyle="none",
            marker=style.INFEASIBLE_MARKER,
            color=style.INFEASIBLE_TEXT_COLOR,
            markersize=style.MARKER_SIZE,
            clip_on=False,
            transform=ax.get_xaxis_transform(),
        )


def _unfit_label(bad: list[Row]) -> str:
    """What the crosses stand for: points that do not fit, or failed, or both."""
    failed = {r["status"] == "failed" for r in bad}
    return " or ".join(
        label
        for label, shown in ((style.INFEASIBLE_LABEL, False), (style.FAILED_LABEL, True))
        if shown in failed
    )


def series_styles(names: list[str]) -> dict[str, tuple[str, str]]:
    """(colour, marker) of each line: every line its own pair (colours cycle, the marker
    changes with each cycle), none a colour of an energy part or activity."""
    colors, markers = style.SERIES_COLORS, style.SERIES_MARKERS
    return {
        name: (colors[k % len(colors)], markers[(k // len(colors)) % len(markers)])
        for k, name in enumerate(names)
    }


@styled
def sweep_figure(points: list[Row], column: str, varying: Varying = NOT_VARYING) -> Figure:
    """System (solid) and core-only (dashed, or a number in the title when it does not vary)
    TOp/s/W, and the I/O share of a frame's
    energy, against the value of ``column``; one line per combination of the other
    varying settings (``varying``, e.g. from ``varying_columns``)."""
    lines = sweep_lines(points, column, varying)
    drawn = {name: [r for r in rows if _drawn(r)] for name, rows in lines.items()}
    series = [name for name in lines if drawn[name]]  # lines with a point
    # a legend of a dozen entries at most: the first lines, the others named in the title
    shown, hidden = series[: style.MAX_SWEEP_LINES], series[style.MAX_SWEEP_LINES :]
    if hidden:
        log.warning("sweep of %s: %d lines not drawn: %s", column, len(hidden), ", ".join(hidden))
    styles = series_styles(shown)
    colors = {n: c for n, (c, _) in styles.items()}
    fig = new_figure(*style.SWEEP_FIG_SIZE, layout=None)
    eff, share, traffic = fig.subplots(1, 3, sharex=True)
    top = 0.0
    for name, (color, marker) in styles.items():
        rows = drawn[name]
        xs = [r[column] for r in rows]
        look = {"marker": marker, "markersize": style.MARKER_SIZE, "color": color}
        system = [r["system_tops_per_w"] for r in rows]
        eff.plot(xs, system, linewidth=style.LINE_WIDTH, **look)
        share.plot(xs, [_io_share(r) for r in rows], linewidth=style.LINE_WIDTH, **look)
        mbit = [(r.get("offchip_bits") or 0) / style.BITS_PER_MBIT for r in rows]
        weights = [(r.get("weight_bits") or 0) / style.BITS_PER_MBIT for r in rows]
        traffic.plot(xs, mbit, linewidth=style.LINE_WIDTH, **look)
        traffic.plot(
            xs,
            weights,
            color=color,
            linewidth=style.SECONDARY_LINE_WIDTH,
            linestyle=style.SECONDARY_LINE_STYLE,
        )
        top = max(top, *system)
    # core-only efficiency rarely depends on the setting: then it is a number in the title,
    # and the axis spans 0 to the system-level curves instead of to the core's value
    core = [r["core_tops_per_w"] for n in shown for r in drawn[n] if r["core_tops_per_w"]]
    flat = bool(core) and max(core) - min(core) <= style.FLAT_SPREAD * max(core)
    if not flat:
        top = max(top, _core_lines(eff, column, {n: drawn[n] for n in shown}, colors))
    bad = [r for name, rows in lines.items() if name not in hidden for r in rows if not _drawn(r)]
    _crosses((eff, share, traffic), [r[column] for r in bad])
    never = [name for name in lines if not drawn[name]]  # no point at any value
    values = [r[column] for name, rows in lines.items() if name not in hidden for r in rows]
    for ax in (eff, share, traffic):
        _x_axis(ax, column, values)
    traffic.set_ylim(bottom=0)
    traffic.set_ylabel("off-chip traffic per frame (Mbit)")
    traffic.set_title("Off-chip bits: all (solid), weights (dashed)")
    eff.set_ylabel("efficiency (TOp/s/W)")
    # from zero, as every axis of a magnitude: a difference reads at its true size
    eff.set_ylim(0, (top or 1.0) * (1 + style.HEADROOM))
    if flat:
        eff.set_title(f"System-level efficiency\n(core only: {max(core):.1f} TOp/s/W throughout)")
    else:
        eff.set_title("Efficiency: system level (solid), core only (dashed)")
    share.set_ylim(0, style.PERCENT)
    share.set_ylabel("I/O share of energy per frame (%)")
    share.set_title("Off-chip + chip-to-chip I/O share of energy")
    handles = [
        Line2D([], [], color=c, marker=m, linewidth=style.LINE_WIDTH, label=n)
        for n, (c, m) in styles.items()
    ]
    if bad:
        handles.append(
            Line2D(
                [], [], color=style.INFEASIBLE_TEXT_COLOR, marker=style.INFEASIBLE_MARKER,
                linestyle="none", label=f"{_unfit_label(bad)} (cross on the x axis)",
            )
        )  # fmt: skip
    ncols = max(1, min(len(handles), 2))
    legend = fig.legend(handles=handles, loc="lower center", ncols=ncols)
    notes = []
    if never:
        notes.append(f"not drawn, {_unfit_label(_unfit_rows(lines, never))} at every value: "
                     + ", ".join(never))  # fmt: skip
    if hidden:
        notes.append(f"{len(hidden)} more lines not drawn: more than a legend tells apart")
    text = noted(
        f"Sweep of {column}: efficiency, I/O share and off-chip traffic",
        varying.without(column),
    )
    title = fig.suptitle("\n".join([text, *(f"({n})" for n in notes)]))
    grid = eff.get_subplotspec().get_gridspec()
    fit_grid(fig, grid, title=title, legend=legend, legend_columns=ncols)
    return fig
