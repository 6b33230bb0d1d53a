"""Where a frame's energy goes: parts per point (io_vs_core_energy) and I/O share (energy_share)."""

from __future__ import annotations

from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from hyperdrive_sim.viz import style
from hyperdrive_sim.viz.bars import (
    PointBars,
    fit_annotations,
    infeasible_patch,
    is_horizontal,
    part_patch,
    point_figure_size,
)
from hyperdrive_sim.viz.grid import fit_grid
from hyperdrive_sim.viz.load import Row
from hyperdrive_sim.viz.palette import frame_energy
from hyperdrive_sim.viz.points import (
    NOT_VARYING,
    Varying,
    input_groups,
    input_name,
    noted,
    point_label,
)
from hyperdrive_sim.viz.save import new_figure, styled

#: the 50 % line of the I/O share: above it I/O, not compute, sets the frame's energy
_HALF = 50.0
_HALF_STYLE: dict[str, object] = {
    "color": "black",
    "linewidth": style.SECONDARY_LINE_WIDTH,
    "linestyle": ":",
}


def _split(points: list[Row]) -> tuple[list[int], list[int]]:
    """Indices of the points with energies, and of the others (do not fit)."""
    ok = [r["fits"] and r["total_energy_j"] is not None for r in points]
    return [i for i, f in enumerate(ok) if f], [i for i, f in enumerate(ok) if not f]


def _unfit_labels(points: list[Row], index: list[int]) -> list[str]:
    """What a slot without energies says: does not fit, or the simulator failed on it."""
    failed = (points[i].get("status") == "failed" for i in index)
    return [style.FAILED_LABEL if f else style.INFEASIBLE_LABEL for f in failed]


def _share(row: Row, part: str) -> float:
    """Percent of the frame's energy spent in ``part`` (a key of ``style.ENERGY_PARTS``)."""
    return frame_energy(row, part) / row["total_energy_j"] * style.PERCENT


def _panel_label(row: Row, varying: Varying) -> str:
    """A point's label without the network and input its panel is titled with."""
    name = f"{row['network']} {input_name(row)} "
    label = point_label(row, varying)
    return label.removeprefix(name) if label.startswith(name) else label


def _layout(groups: dict[str, list[Row]], labels: list[str]) -> tuple[bool, tuple[float, float]]:
    """Horizontal bars (panels stacked) when a group has many points or the labels are long
    (sweep settings: rotated, they would take more room than the bars), else vertical bars
    (panels side by side); and the figure size."""
    sizes = [len(rows) for rows in groups.values()]
    if is_horizontal(max(sizes), labels):
        height = sum(n * style.POINT_ROW_HEIGHT + style.FIG_MARGIN_HEIGHT / 2 for n in sizes)
        return True, (style.POINT_FIG_WIDTH, max(style.FIG_MIN_HEIGHT, height))
    width = max(style.POINT_FIG_WIDTH, sum(sizes) * style.POINT_SLOT_WIDTH)
    return False, (width, style.POINT_FIG_HEIGHT)


@styled
def io_vs_core_figure(points: list[Row], varying: Varying = NOT_VARYING) -> Figure:
    """Stacked energy per frame (mJ) by part, per point, with system TOp/s/W on top; a panel
    with its own scale per network and input (a 1080p frame does not squash 224x224 bars),
    meshes in numeric order."""
    groups = input_groups(points)
    stacked, size = _layout(groups, [_panel_label(r, varying) for r in points])
    fig = new_figure(*size, layout=None)
    counts = [len(rows) for rows in groups.values()]
    if stacked:
        axes = fig.subplots(len(groups), 1, squeeze=False, height_ratios=counts)[:, 0]
    else:
        axes = fig.subplots(1, len(groups), squeeze=False, width_ratios=counts)[0]
    unfit = False
    for ax, (name, rows) in zip(axes, groups.items(), strict=True):
        bars = PointBars(ax, [_panel_label(r, varying) for r in rows], horizontal=stacked)
        feasible, infeasible = _split(rows)
        base = [0.0] * len(feasible)
        for part in style.ENERGY_PARTS:
            values = [frame_energy(rows[i], part) * style.MJ_PER_J for i in feasible]
            bars.bar(feasible, values, base, color=style.color(part))
            base = [b + v for b, v in zip(base, values, strict=True)]
        for i, total in zip(feasible, base, strict=True):
            bars.annotate(i, total, f"{rows[i]['system_tops_per_w']:.2f}\nTOp/s/W")
        bars.mark_infeasible(infeasible, _unfit_labels(rows, infeasible))
        bars.set_extent(max(base, default=0.0))
        bars.set_value_label("energy per frame (mJ)")
        ax.set_title(name, loc="left", fontweight="bold")
        unfit = unfit or bool(infeasible)
    handles: list[Artist] = [part_patch(p) for p in style.ENERGY_PARTS]
    handles += [infeasible_patch()] if unfit else []
    legend = fig.legend(handles=handles, loc="lower center", ncols=style.LEGEND_COLUMNS)
    title = fig.suptitle(
        noted(
            "Energy per frame by part (numbers: system-level TOp/s/W, I/O included)\n"
            "one panel and scale per network and input",
            varying,
        )
    )
    grid = axes[0].get_subplotspec().get_gridspec()
    fit_grid(
        fig,
        grid,
        title=title,
        legend=legend,
        legend_columns=style.LEGEND_COLUMNS,
        axes_height=sum(counts) * style.POINT_ROW_HEIGHT if stacked else None,
    )
    fit_annotations(fig)
    return fig


@styled
def energy_share_figure(points: list[Row], varying: Varying = NOT_VARYING) -> Figure:
    """Share of the frame's energy spent on off-chip and chip-to-chip I/O, per point (%),
    next to system TOp/s/W against that share. Points by network and input, meshes in
    numeric order (a share is comparable across inputs: one common 0-100 % scale)."""
    points = [r for rows in input_groups(points).values() for r in rows]
    labels = [point_label(r, varying) for r in points]
    horizontal = is_horizontal(len(points), labels)
    width, height = point_figure_size(len(points), horizontal)
    fig = new_figure(width + style.SCATTER_WIDTH, height, layout=None)
    rows = max(1, round(height / style.SCATTER_WIDTH))
    grid = fig.add_gridspec(rows, 2, width_ratios=(width, style.SCATTER_WIDTH))
    ax = fig.add_subplot(grid[:, 0])
    bars = PointBars(ax, labels, horizontal=horizontal)
    feasible, infeasible = _split(points)
    shares = {part: [_share(points[i], part) for i in feasible] for part in style.IO_PARTS}
    base = [0.0] * len(feasible)
    handles: list[Artist] = [part_patch(p) for p in style.IO_PARTS]
    for part, values in shares.items():
        bars.bar(feasible, values, base, color=style.color(part))
        base = [b + v for b, v in zip(base, values, strict=True)]
    for i, share in zip(feasible, base, strict=True):
        bars.annotate(i, share, f"{share:.0f} %")
    bars.mark_infeasible(infeasible, _unfit_labels(points, infeasible))
    bars.set_extent(style.PERCENT)
    line = ax.axvline if bars.horizontal else ax.axhline
    line(_HALF, **_HALF_STYLE)
    handles.append(Line2D([], [], **_HALF_STYLE, label="half of the energy"))
    bars.set_value_label("I/O share of energy per frame (%)")
    ax.set_title("Energy per frame spent moving data off-chip and between chips")
    if infeasible:
        handles.append(infeasible_patch())
    legend = fig.legend(handles=handles, loc="lower center", ncols=len(handles))

    sc = fig.add_subplot(grid[0, 1])
    efficiency = [points[i]["system_tops_per_w"] for i in feasible]
    sc.scatter(base, efficiency, color="black")
    sc.axvline(_HALF, **_HALF_STYLE)
    sc.set_xlim(0, style.PERCENT)
    sc.set_ylim(0, max(efficiency, default=1.0) * (1 + style.HEADROOM))
    sc.set_xlabel("I/O share (%)")
    sc.set_ylabel("system-level efficiency (TOp/s/W)")
    sc.grid(alpha=style.GRID_ALPHA)
    sc.set_title("System efficiency vs I/O share")
    title = fig.suptitle(noted("I/O share of system energy", varying))
    fit_grid(fig, grid, title=title, legend=legend, legend_columns=len(handles))
    fit_annotations(fig)
    return fig
