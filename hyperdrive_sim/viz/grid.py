"""Panels laid out by hand, the figure's title on top and its legend at the bottom: rows
of equal panels under a bold row title each (``panel_rows``, ``place_panels``), or any
grid of panels (``fit_grid``).

The margins come from what the panels hold, measured with the PNG renderer's text metrics
without drawing: the widest tick labels (rotated ones too), the axis labels, the title
lines. Constrained layout measures every text in an extra drawing pass, 30-45 % of the
time these figures take (a twelve-row tiling comparison: 7.1 s with it, 4.0 s so).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.gridspec import GridSpec
from matplotlib.legend import Legend
from matplotlib.text import Text

from hyperdrive_sim.viz import style
from hyperdrive_sim.viz.save import new_figure


def text_width(texts: Iterable[str], size: float, weight: str | int = "normal") -> float:
    """Width (inches) of the widest line of ``texts`` at font ``size`` (points), as the PNG
    renderer will draw it (its hinting at ``style.DPI`` included)."""
    prop = FontProperties(size=size, weight=weight)
    lines = {line for text in texts for line in text.split("\n") if line}
    widths = (_MEASURE.get_text_width_height_descent(s, prop, ismath=False)[0] for s in lines)
    return max(widths, default=0.0) / style.DPI


#: measures texts only: its one-pixel canvas is never drawn on
_MEASURE = RendererAgg(1, 1, style.DPI)


def wrap(text: str, width: float, size: float, weight: str | int = "normal") -> str:
    """``text`` with each line broken at spaces so that none is wider than ``width`` inches
    at font ``size`` (a single word wider than that stays whole)."""
    out = []
    for line in text.split("\n"):
        current = ""
        for word in line.split(" "):
            trial = f"{current} {word}" if current else word
            if current and text_width([trial], size, weight) > width:
                out.append(current)
                current = word
            else:
                current = trial
        out.append(current)
    return "\n".join(out)


def fit_title(title: Text, width: float) -> None:
    """Wrap ``title`` (a figure's title) to a figure ``width`` inches wide, its margins
    left: titles fit by construction, never clipped."""
    room = width - 2 * style.FIG_PAD
    size, weight = title.get_fontsize(), title.get_fontweight()
    title.set_text(wrap(title.get_text(), room, size, weight))


def legend_width(legend: Legend) -> float:
    """Width (inches) of ``legend`` as the PNG renderer lays it out."""
    return legend.get_window_extent(_MEASURE).width / style.DPI


def line_height(size: float, lines: int = 1) -> float:
    """Height (inches) of ``lines`` lines of text at font ``size`` (points)."""
    return lines * size * style.LINE_SPACING / style.POINTS_PER_INCH


@dataclass(frozen=True)
class PanelRows:
    """A figure of ``axes`` in rows of equal panels, each row ``row_height`` inches tall
    with its title, its panels' titles and their x axes."""

    fig: Figure
    axes: list[list[Axes]]
    row_height: float


def panel_rows(rows: int, cols: int, panel: tuple[float, float]) -> PanelRows:
    """A figure for ``rows`` rows of ``cols`` panels of ``panel`` inches (width, height);
    ``place_panels`` sizes and places everything once the content is drawn."""
    fig = new_figure(panel[0] * cols, panel[1] * rows, layout=None)
    axes = fig.subplots(rows, cols, squeeze=False)
    return PanelRows(fig, [list(row) for row in axes], panel[1])


def place_panels(
    rows: PanelRows,
    *,
    title: Text,
    row_titles: list[str],
    legend: Legend,
    legend_columns: int,
) -> list[Text]:
    """Size the figure and place its ``title``, a bold title over each row, the panels
    and the ``legend`` (made by ``fig.legend(..., loc="lower center",
    ncols=legend_columns)``): each column of panels as wide as its widest y tick label and
    its y label need, each row's panels under its titles. Returns the row titles."""
    fig, row_height = rows.fig, rows.row_height
    width = max(fig.get_figwidth(), legend_width(legend) + 2 * style.FIG_PAD)
    fit_title(title, width)
    top = style.FIG_PAD + line_height(style.TITLE_SIZE, _lines(title.get_text()))
    bottom = style.FIG_PAD + _legend_height(legend, legend_columns)
    height = row_height * len(rows.axes) + top + bottom
    fig.set_size_inches(width, height)
    title.set(y=1 - style.FIG_PAD / height, va="top")
    legend.set_bbox_to_anchor((0.5, style.FIG_PAD / height), transform=fig.transFigure)
    cols = max(len(r) for r in rows.axes)
    lefts = [
        style.FIG_PAD + _left_margin([r[j] for r in rows.axes if j < len(r)]) for j in range(cols)
    ]
    panel = width / cols
    texts = []
    for i, (axes, name) in enumerate(zip(rows.axes, row_titles, strict=True)):
        row_top = height - top - i * row_height
        texts.append(
            fig.text(
                style.FIG_PAD / width,
                (row_top - style.ROW_TITLE_PAD) / height,
                name,
                ha="left",
                va="top",
                fontsize=style.TITLE_SIZE,
                fontweight="bold",
            )
        )
        titles = max((_lines(a.get_title()) for a in axes), default=0)
        above = (
            2 * style.ROW_TITLE_PAD
            + line_height(style.TITLE_SIZE, _lines(name))
            + line_height(style.FONT_SIZE + 1, titles)
            + style.TITLE_PAD
        )
        below = _x_axis_height(axes) + style.ROW_GAP
        y0 = row_top - row_height + below
        h = row_height - below - above
        for j, ax in enumerate(axes):
            w = panel - lefts[j] - style.PANEL_RIGHT_PAD
            ax.set_position(((j * panel + lefts[j]) / width, y0 / height, w / width, h / height))
    return texts


def _lines(text: str) -> int:
    """Lines of a title, 0 when it is empty."""
    return text.count("\n") + 1 if text else 0


def _left_margin(axes: list[Axes]) -> float:
    """Room (inches) left of a column of panels: the widest y tick label, the tick, and the
    y label (its lines' height when rotated, as usual; its width when upright)."""
    labels = [t for ax in axes for t in _tick_labels(ax.yaxis, *ax.get_ylim())]
    ticks = text_width(labels, style.SMALL_FONT_SIZE + 1)
    ylabel = 0.0
    for ax in (a for a in axes if a.get_ylabel()):
        text = ax.get_ylabel()
        upright = ax.yaxis.label.get_rotation() % 180 == 0
        room = (
            text_width([text], style.FONT_SIZE)
            if upright
            else line_height(style.FONT_SIZE, _lines(text))
        )
        ylabel = max(ylabel, room + style.Y_LABEL_PAD)
    return ylabel + ticks + style.TICK_ROOM


#: the tick parameter that shows an axis's labels, by axis (bottom and left: ours)
_LABELS_ON = {"x": "labelbottom", "y": "labelleft"}


def _tick_labels(axis: Axis, low: float, high: float) -> list[str]:
    """The labels of an axis's major ticks between ``low`` and ``high``, as they will be
    drawn (none when hidden, as under a shared x axis)."""
    if not axis.get_tick_params().get(_LABELS_ON[axis.axis_name], True):
        return []
    low, high = sorted((low, high))
    locs = [t for t in axis.get_majorticklocs() if low <= t <= high]
    return axis.get_major_formatter().format_ticks(locs)


def _x_axis_height(axes: list[Axes]) -> float:
    """Room (inches) under a row of panels: the tick, the tick labels (their lines, or
    their extent when rotated) and the x label."""
    labels = [t for ax in axes for t in _tick_labels(ax.xaxis, *ax.get_xlim())]
    lines = max(map(_lines, labels), default=0)
    ticks = line_height(style.SMALL_FONT_SIZE + 1, lines)
    angle = max((_rotation(ax) for ax in axes), default=0.0)
    if angle:
        run = text_width(labels, style.SMALL_FONT_SIZE + 1)
        ticks = run * math.sin(math.radians(angle)) + ticks * math.cos(math.radians(angle))
    xlabel = any(ax.get_xlabel() for ax in axes)
    return (
        style.TICK_ROOM
        + ticks
        + (line_height(style.FONT_SIZE) + style.Y_LABEL_PAD if xlabel else 0.0)
    )


def _rotation(ax: Axes) -> float:
    """Rotation (degrees) of the x tick labels, 0 without labels."""
    labels = ax.xaxis.get_majorticklabels()
    return labels[0].get_rotation() if labels else 0.0


def _legend_height(legend: Legend, columns: int) -> float:
    """Height (inches) of a legend: its entry rows and its title's lines."""
    rows = math.ceil(len(legend.legend_handles) / max(1, columns))
    return (
        rows * style.LEGEND_ROW_HEIGHT
        + style.LEGEND_PAD
        + line_height(style.SMALL_FONT_SIZE + 1, _lines(legend.get_title().get_text()))
    )


def fit_grid(
    fig: Figure,
    grid: GridSpec,
    *,
    title: Text,
    legend: Legend,
    legend_columns: int,
    axes_height: float | None = None,
) -> None:
    """Margins and gaps of the panels on ``grid`` from what they hold (tick labels, axis
    labels, titles), the ``title`` on top and the ``legend`` (``loc="lower center"``,
    ``legend_columns`` columns) at the bottom: constrained layout's result for a grid of
    panels, measured without drawing. ``axes_height`` (inches, the panels of a column
    together): the figure's height is set to give them that, else it is kept; the figure
    grows when its panels would be smaller than ``style.MIN_PANEL_SIZE``."""
    width, height = fig.get_size_inches()
    nrows, ncols = grid.get_geometry()
    cell = width / ncols
    panels = [
        (ax, spec)
        for ax in fig.axes
        if (spec := ax.get_subplotspec()) is not None and spec.get_gridspec() is grid
    ]
    ratios = grid.get_width_ratios() or [1.0] * ncols
    heights = grid.get_height_ratios() or [1.0] * nrows
    mean_w, mean_h = sum(ratios) / ncols, sum(heights) / nrows
    # long labels, titles or legends grow the figure rather than squeeze the panels away:
    # each panel as wide as its title and its x label, as tall as its y label
    min_w, min_h = style.MIN_PANEL_SIZE
    rooms = []
    for ax, spec in panels:
        titles = max(_lines(ax.get_title(loc)) for loc in ("left", "center", "right"))
        rooms.append(
            _Room(
                spec.rowspan,
                spec.colspan,
                left=max(_left_margin([ax]), _overhang(ax, cell * len(spec.colspan))),
                below=_x_axis_height([ax]),
                above=line_height(style.FONT_SIZE + 1, titles) + style.TITLE_PAD if titles else 0.0,
            )
        )
        widest = max(_title_width(ax), text_width([ax.get_xlabel()], style.FONT_SIZE))
        min_w = max(min_w, widest * mean_w / sum(ratios[c] for c in spec.colspan))
        if ax.yaxis.label.get_rotation() % 180:
            tall = text_width([ax.get_ylabel()], style.FONT_SIZE)
            min_h = max(min_h, tall * mean_h / sum(heights[r] for r in spec.rowspan))
    left = style.FIG_PAD + max((r.left for r in rooms if r.cols.start == 0), default=0.0)
    gap_x = max((r.left for r in rooms if r.cols.start > 0), default=0.0) + style.PANEL_RIGHT_PAD
    right = style.PANEL_RIGHT_PAD
    width = max(
        width,
        left + right + (ncols - 1) * gap_x + ncols * min_w,
        legend_width(legend) + 2 * style.FIG_PAD,
    )
    fit_title(title, width)
    top = (
        style.FIG_PAD
        + line_height(style.TITLE_SIZE, _lines(title.get_text()))
        + max((r.above for r in rooms if r.rows.start == 0), default=0.0)
    )
    bottom = (
        style.FIG_PAD
        + _legend_height(legend, legend_columns)
        + max((r.below for r in rooms if r.rows.stop == nrows), default=0.0)
    )
    gap_y = (
        max((r.below for r in rooms if r.rows.stop < nrows), default=0.0)
        + max((r.above for r in rooms if r.rows.start > 0), default=0.0)
        + style.PANEL_GAP_Y
    )
    if axes_height is None:
        axes_height = height - top - bottom - (nrows - 1) * gap_y
    height = top + bottom + (nrows - 1) * gap_y + max(axes_height, nrows * min_h)
    fig.set_size_inches(width, height)
    axes_w = (width - left - right - (ncols - 1) * gap_x) / ncols
    axes_h = (height - top - bottom - (nrows - 1) * gap_y) / nrows
    grid.update(
        left=left / width,
        right=1 - right / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=gap_x / axes_w,
        hspace=gap_y / axes_h,
    )
    for ax, spec in panels:  # GridSpec.update moves the panels of pyplot's figures only
        ax.set_position(spec.get_position(fig))
    title.set(y=1 - style.FIG_PAD / height, va="top")
    legend.set_bbox_to_anchor((0.5, style.FIG_PAD / height), transform=fig.transFigure)


@dataclass(frozen=True, slots=True)
class _Room:
    """What a panel on ``rows`` and ``cols`` of a grid needs around it (inches): left of
    it, under it and above it."""

    rows: range
    cols: range
    left: float
    below: float
    above: float


def _title_width(ax: Axes) -> float:
    """Width (inches) of the panel's widest title line (left, centre and right titles;
    measured bold, as some are)."""
    titles = [ax.get_title(loc) for loc in ("left", "center", "right")]
    return text_width(titles, style.FONT_SIZE + 1, "bold")


def _overhang(ax: Axes, width: float) -> float:
    """How far (inches) rotated, right-aligned x tick labels reach left of the axes
    (``width`` inches wide): the first label's run, less its tick's distance from the edge."""
    labels = ax.xaxis.get_majorticklabels()
    if not labels or not labels[0].get_rotation() or labels[0].get_ha() != "right":
        return 0.0
    low, high = ax.get_xlim()
    first = labels[0]
    run = text_width([first.get_text()], style.SMALL_FONT_SIZE + 1) * math.cos(
        math.radians(first.get_rotation())
    )
    return max(0.0, run - (first.get_position()[0] - low) / (high - low) * width)
