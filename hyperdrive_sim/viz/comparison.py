"""Hyperdrive against other accelerators (baselines) on the same network and input.

Per (network, input), one row of two panels: core-only and system-level efficiency per
accelerator on a log scale, joined by a line and annotated with the loss, and energy per
frame by part (compute side in cool colours, I/O in warm ones).
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from hyperdrive_sim.viz import style
from hyperdrive_sim.viz.bars import PointBars, fit_annotations, is_horizontal, part_patch
from hyperdrive_sim.viz.grid import fit_grid
from hyperdrive_sim.viz.load import Row
from hyperdrive_sim.viz.palette import frame_energy
from hyperdrive_sim.viz.points import (
    ACCELERATOR,
    NOT_VARYING,
    Varying,
    input_name,
    is_baseline,
    mesh_name,
    noted,
    settings,
)
from hyperdrive_sim.viz.save import new_figure, styled

Group = tuple[str, str]  # (network, WIDTHxHEIGHT)


def _has_energy(row: Row) -> bool:
    return bool(row["fits"]) and bool(row.get("total_energy_j"))


def comparison_groups(points: list[Row]) -> dict[Group, list[Row]]:
    """Per (network, input) with baselines that fit: the Hyperdrive points that fit, then
    the baselines, each in results order. Empty when there are no baselines."""
    keys = dict.fromkeys(
        (str(r["network"]), input_name(r)) for r in points if is_baseline(r) and _has_energy(r)
    )
    groups: dict[Group, list[Row]] = {}
    for key in keys:
        same = [r for r in points if (str(r["network"]), input_name(r)) == key and _has_energy(r)]
        groups[key] = [r for r in same if not is_baseline(r)] + [r for r in same if is_baseline(r)]
    return groups


def _label(row: Row, varying: Varying) -> str:
    """Accelerator, then (Hyperdrive) mesh and sweep settings on a second line; the panel
    row names the network and input."""
    if is_baseline(row):
        return str(row[ACCELERATOR])
    return f"{row[ACCELERATOR]}\n" + " ".join((mesh_name(row), *settings(row, varying)))


def _loss(row: Row) -> float | None:
    """Change from core-only to system-level efficiency (negative: lost), or None."""
    core, system = row["core_tops_per_w"], row["system_tops_per_w"]
    return system / core - 1 if core and system else None


def _slots(ax: Axes, rows: list[Row], labels: list[str]) -> PointBars:
    """One slot per accelerator; Hyperdrive's labels in bold, upright when vertical."""
    bars = PointBars(ax, labels)
    ticks = ax.get_yticklabels() if bars.horizontal else ax.get_xticklabels()
    for tick, row in zip(ticks, rows, strict=True):
        if not bars.horizontal:
            tick.set(rotation=0, ha="center")
        if not is_baseline(row):
            tick.set_fontweight("bold")
    return bars


def _efficiency_panel(ax: Axes, rows: list[Row], labels: list[str]) -> None:
    bars = _slots(ax, rows, labels)

    def at(pos: float, value: float) -> tuple[float, float]:
        return (value, pos) if bars.horizontal else (pos, value)

    values = []
    for i, row in enumerate(rows):
        pos = bars.pos[i]
        core, system = row["core_tops_per_w"], row["system_tops_per_w"]
        if core and system:
            line = list(zip(at(pos, core), at(pos, system), strict=True))
            ax.plot(*line, color=style.LOSS_COLOR, linewidth=style.LINE_WIDTH)
        if core:
            ax.plot(*at(pos, core), style.CORE_MARKER, color=style.color("compute"), zorder=3)
        ax.plot(*at(pos, system), style.SYSTEM_MARKER, color="black", zorder=3)
        values += [v for v in (core, system) if v]
        loss = _loss(row)
        if loss is not None:
            gap = style.LABEL_OFFSET[0] + 2
            ax.annotate(
                f"{loss:+.0%}".replace("-", "\u2212"),
                at(pos, system),
                xytext=(-gap, 0) if bars.horizontal else (gap, 0),  # away from the line
                textcoords="offset points",
                ha="right" if bars.horizontal else "left",
                va="center",
                fontsize=style.SMALL_FONT_SIZE,
                bbox=style.TEXT_BOX,
            )
    axis = ax.xaxis if bars.horizontal else ax.yaxis
    (ax.set_xscale if bars.horizontal else ax.set_yscale)("log")
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    low, high = min(values), max(values)
    (ax.set_xlim if bars.horizontal else ax.set_ylim)(low / 2, high * 2)
    bars.set_value_label("efficiency (TOp/s/W, log scale)")


def _energy_panel(ax: Axes, rows: list[Row], labels: list[str]) -> None:
    bars = _slots(ax, rows, labels)
    index = list(range(len(rows)))
    base = [0.0] * len(rows)
    for part in style.ENERGY_PARTS:
        values = [frame_energy(r, part) * style.MJ_PER_J for r in rows]
        bars.bar(index, values, base, color=style.color(part))
        base = [b + v for b, v in zip(base, values, strict=True)]
    for i, (row, total) in enumerate(zip(rows, base, strict=True)):
        io = sum(frame_energy(row, p) for p in style.IO_PARTS) / row["total_energy_j"]
        bars.annotate(i, total, f"{total:.3g} mJ\n{io:.0%} I/O")
    bars.set_extent(max(base))
    bars.set_value_label("energy per frame (mJ)")


@styled
def comparison_figure(groups: dict[Group, list[Row]], varying: Varying = NOT_VARYING) -> Figure:
    """One row per (network, input) of ``comparison_groups``: efficiency (log) and energy
    per frame by part, per accelerator."""
    slots = max(len(rows) for rows in groups.values())
    row_height = style.COMPARISON_ROW_HEIGHT
    if is_horizontal(slots):  # one slot per accelerator row, labels on two lines
        row_height = max(row_height, slots * style.COMPARISON_SLOT_HEIGHT + style.FIG_MARGIN_HEIGHT)
    height = len(groups) * row_height + style.FIG_MARGIN_HEIGHT
    fig = new_figure(style.COMPARISON_FIG_WIDTH, height, layout=None)
    axes = fig.subplots(len(groups), 2, squeeze=False)
    for (eff, energy), ((network, size), rows) in zip(axes, groups.items(), strict=True):
        labels = [_label(r, varying) for r in rows]
        _efficiency_panel(eff, rows, labels)
        eff.set_title(f"{network} {size}: core-only vs system-level efficiency")
        _energy_panel(energy, rows, labels)
        energy.set_title(f"{network} {size}: energy per frame by part")
    handles = [
        Line2D(
            [],
            [],
            marker=style.CORE_MARKER,
            color=style.color("compute"),
            linestyle="none",
            label="core only (published / simulated core energy)",
        ),
        Line2D(
            [],
            [],
            marker=style.SYSTEM_MARKER,
            color="black",
            linestyle="none",
            label="system level (I/O included)",
        ),
        Line2D(
            [],
            [],
            color=style.LOSS_COLOR,
            linewidth=style.LINE_WIDTH,
            label="loss: I/O (+ on-chip memory, leakage)",
        ),
        *(part_patch(p) for p in style.ENERGY_PARTS),
    ]
    legend = fig.legend(handles=handles, loc="lower center", ncols=style.LEGEND_COLUMNS)
    title = fig.suptitle(
        noted(
            "Accelerator comparison: what I/O costs each design (same I/O energy model)",
            varying,
        )
    )
    grid = axes[0, 0].get_subplotspec().get_gridspec()
    fit_grid(fig, grid, title=title, legend=legend, legend_columns=style.LEGEND_COLUMNS)
    fit_annotations(fig)
    return fig
