"""How the mesh shape changes speed and efficiency: metrics against the number of chips."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from hyperdrive_sim.viz import style
from hyperdrive_sim.viz.load import Row
from hyperdrive_sim.viz.points import mesh_name
from hyperdrive_sim.viz.save import new_figure, styled

#: (column, scale, y label, title) of the four panels, left to right, top to bottom
PANELS = (
    ("fps", 1.0, "frames/s", "Throughput"),
    ("total_energy_j", style.MJ_PER_J, "energy per frame (mJ)", "Energy per frame"),
    ("system_tops_per_w", 1.0, "TOp/s/W", "Efficiency: system (solid), core only (dashed)"),
    ("utilization", style.PERCENT, "utilisation (%)", "Compute utilisation"),
)
#: panel column -> dashed companion column on the same axes
COMPANION = {"system_tops_per_w": "core_tops_per_w"}
#: the panel whose points are labelled with their mesh shape (when there is a single line:
#: labels of several lines collide; chips and marker shape then name the mesh)
LABELLED_PANEL = "fps"


def _aspect(row: Row) -> float:
    return row["mesh_cols"] / row["mesh_rows"]


def _aspect_label(aspect: float) -> str:
    if aspect == 1:
        return "square mesh (rows = cols)"
    return f"mesh cols/rows = {aspect:g}"


def _marker(aspect: float) -> str:
    return style.ASPECT_MARKERS.get(aspect, style.MARKER_OTHER)


def _chips_axis(ax: Axes) -> None:
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(LogLocator(base=2))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
    ax.set_xlabel("chips in the mesh (log scale)")
    ax.grid(alpha=style.GRID_ALPHA)


def _plot_panel(ax: Axes, column: str, scale: float, series: dict[str, list[Row]]) -> None:
    label_points = column == LABELLED_PANEL and len(series) == 1
    for k, (_name, rows) in enumerate(series.items()):
        color = style.SERIES_COLORS[k % len(style.SERIES_COLORS)]
        fits = [r for r in rows if r["fits"] and r[column] is not None]
        for aspect in sorted({_aspect(r) for r in fits}):
            same = [r for r in fits if _aspect(r) == aspect]
            xs = [r["chips"] for r in same]
            for col, ls, lw in (
                (column, "-", style.LINE_WIDTH),
                (COMPANION.get(column), style.SECONDARY_LINE_STYLE, style.SECONDARY_LINE_WIDTH),
            ):
                if col is None:
                    continue
                ys = [r[col] * scale for r in same]
                ax.plot(
                    xs,
                    ys,
                    color=color,
                    linestyle=ls,
                    linewidth=lw,
                    marker=_marker(aspect),
                    markersize=style.MARKER_SIZE,
                )
            if label_points:
                # square meshes labelled above their line, other shapes below
                offset = style.LABEL_OFFSET if aspect == 1 else style.LABEL_OFFSET_BELOW
                for r in same:
                    ax.annotate(
                        mesh_name(r),
                        (r["chips"], r[column] * scale),
                        xytext=offset,
                        textcoords="offset points",
                        fontsize=style.SMALL_FONT_SIZE,
                        color=color,
                    )
    _infeasible_band(ax, series, label_points)


def _infeasible_band(ax: Axes, series: dict[str, list[Row]], label_points: bool) -> None:
    """Crosses for meshes that do not fit, in a grey band below zero (one row per line)."""
    top = ax.get_ylim()[1] * (1 + style.HEADROOM)
    bad = {k: [r for r in rows if not r["fits"]] for k, rows in enumerate(series.values())}
    if not any(bad.values()):
        ax.set_ylim(0, top)
        return
    band = style.INFEASIBLE_BAND * top
    ax.set_ylim(-band, top)
    ax.axhspan(-band, 0, color=style.INFEASIBLE_BAND_COLOR, linewidth=0)
    ax.set_yticks([t for t in ax.get_yticks() if 0 <= t <= top])
    for k, rows in bad.items():
        y = -band * (k + 1) / (len(series) + 1)
        ax.plot(
            [r["chips"] for r in rows],
            [y] * len(rows),
            linestyle="none",
            marker=style.INFEASIBLE_MARKER,
            color=style.SERIES_COLORS[k % len(style.SERIES_COLORS)],
            markersize=style.MARKER_SIZE,
        )
        for r in rows if label_points else ():
            ax.annotate(
                mesh_name(r),
                (r["chips"], y),
                xytext=(style.LABEL_OFFSET[0], 0),
                textcoords="offset points",
                va="center",
                fontsize=style.SMALL_FONT_SIZE,
                color=style.INFEASIBLE_TEXT_COLOR,
            )


def _legend(fig: Figure, series: dict[str, list[Row]]) -> None:
    handles = [
        Line2D([], [], color=style.SERIES_COLORS[k % len(style.SERIES_COLORS)], label=name)
        for k, name in enumerate(series)
    ]
    aspects = sorted({_aspect(r) for rows in series.values() for r in rows})
    handles += [
        Line2D([], [], color="black", marker=_marker(a), linestyle="none", label=_aspect_label(a))
        for a in aspects
    ]
    handles.append(
        Line2D(
            [],
            [],
            color="black",
            linestyle=style.SECONDARY_LINE_STYLE,
            linewidth=style.SECONDARY_LINE_WIDTH,
            label="core-only TOp/s/W",
        )
    )
    if any(not r["fits"] for rows in series.values() for r in rows):
        handles.append(
            Line2D(
                [],
                [],
                color="black",
                marker=style.INFEASIBLE_MARKER,
                linestyle="none",
                label=f"{style.INFEASIBLE_LABEL} (grey band)",
            )
        )
    fig.legend(handles=handles, loc="outside lower center", ncols=style.LEGEND_COLUMNS)


@styled
def tiling_figure(series: dict[str, list[Row]]) -> Figure:
    """2x2 panels of throughput, energy, efficiency and utilisation vs chips, one line per
    network and input (and sweep setting); meshes that do not fit are crosses at the bottom."""
    fig = new_figure(*style.TILING_FIG_SIZE)
    axes = fig.subplots(2, 2, sharex=True)
    for ax, (column, scale, ylabel, title) in zip(axes.flat, PANELS, strict=True):
        _plot_panel(ax, column, scale, series)
        _chips_axis(ax)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
    for ax in axes[0]:
        ax.set_xlabel("")
    _legend(fig, series)
    fig.suptitle("Tiling comparison: the same network on meshes of different size and shape")
    return fig
