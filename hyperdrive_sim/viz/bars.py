"""Bar charts with one slot per point: vertical for a few points, horizontal for many."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Annotation

from hyperdrive_sim.viz import style


def is_horizontal(points: int, labels: Sequence[str] = ()) -> bool:
    """Many points, or long labels (sweep settings), get horizontal bars: their labels then
    read left to right and never overlap, where rotated they would take more room than the
    bars."""
    long = max(map(len, labels), default=0) > style.MAX_VERTICAL_LABEL_CHARS
    return points > style.MAX_VERTICAL_POINTS or long


def point_figure_size(points: int, horizontal: bool) -> tuple[float, float]:
    """Width and height (inches) of a figure with one bar slot per point."""
    if horizontal:
        rows = max(style.FIG_MIN_HEIGHT, points * style.POINT_ROW_HEIGHT + style.FIG_MARGIN_HEIGHT)
        return style.POINT_FIG_WIDTH, rows
    return style.POINT_FIG_WIDTH, style.POINT_FIG_HEIGHT


def infeasible_patch() -> Patch:
    """Legend entry of a point that does not fit."""
    return Patch(
        facecolor="none",
        edgecolor=style.INFEASIBLE_COLOR,
        hatch=style.INFEASIBLE_HATCH,
        linewidth=0,
        label=style.INFEASIBLE_LABEL,
    )


def part_patch(part: str) -> Patch:
    """Legend entry of energy part ``part`` (a key of ``style.ENERGY_PARTS``)."""
    return Patch(facecolor=style.color(part), label=style.label(part))


class PointBars:
    """Draws bars, labels and does-not-fit slots on ``ax``, one slot per point, in order."""

    def __init__(self, ax: Axes, labels: Sequence[str], horizontal: bool | None = None) -> None:
        """``horizontal`` None: horizontal for many labels (``is_horizontal``)."""
        self.ax = ax
        self.labels = list(labels)
        self.horizontal = is_horizontal(len(labels)) if horizontal is None else horizontal
        self.pos = np.arange(len(labels))
        if self.horizontal:
            ax.set_yticks(self.pos, self.labels)
            ax.set_ylim(len(labels) - 0.5, -0.5)  # first point on top
            ax.grid(axis="x", alpha=style.GRID_ALPHA)
        else:
            ax.set_xticks(self.pos, self.labels, rotation=style.TICK_ROTATION, ha="right")
            ax.set_xlim(-0.5, len(labels) - 0.5)
            ax.grid(axis="y", alpha=style.GRID_ALPHA)
        ax.set_axisbelow(True)

    def set_value_label(self, text: str) -> None:
        (self.ax.set_xlabel if self.horizontal else self.ax.set_ylabel)(text)

    def bar(
        self, index: Sequence[int], values: Sequence[float], base: Sequence[float], **kw
    ) -> BarContainer:
        """One segment per point in ``index``, starting at ``base``."""
        pos = self.pos[list(index)]
        kw.setdefault("edgecolor", "white")
        kw.setdefault("linewidth", style.BAR_EDGE_WIDTH)
        if self.horizontal:
            return self.ax.barh(pos, values, left=base, height=style.BAR_WIDTH, **kw)
        return self.ax.bar(pos, values, bottom=base, width=style.BAR_WIDTH, **kw)

    def annotate(self, index: int, end: float, text: str) -> None:
        """Text just past the end of the bar of point ``index``; line breaks in ``text``
        are kept for vertical bars (narrow slots) and become spaces for horizontal ones."""
        gap = style.ANNOTATION_GAP
        if self.horizontal:
            text = text.replace("\n", " ")
            xy, offset = (end, self.pos[index]), (gap, 0)
            align = {"ha": "left", "va": "center"}
        else:
            xy, offset = (self.pos[index], end), (0, gap)
            align = {"ha": "center", "va": "bottom"}
        self.ax.annotate(
            text,
            xy,
            xytext=offset,
            textcoords="offset points",
            fontsize=style.SMALL_FONT_SIZE,
            bbox=style.TEXT_BOX,
            **align,
        )

    def mark_infeasible(self, index: Sequence[int], labels: Sequence[str] = ()) -> None:
        """Shade the whole slot of each point in ``index`` and label it "does not fit" (or
        the matching entry of ``labels``, e.g. "failed")."""
        span = self.ax.axhspan if self.horizontal else self.ax.axvspan
        half = style.BAR_WIDTH / 2
        texts = list(labels) or [style.INFEASIBLE_LABEL] * len(index)
        for i, text in zip(index, texts, strict=True):
            span(
                self.pos[i] - half,
                self.pos[i] + half,
                facecolor="none",
                edgecolor=style.INFEASIBLE_COLOR,
                hatch=style.INFEASIBLE_HATCH,
                linewidth=0,
            )
            xy = (0.5, self.pos[i]) if self.horizontal else (self.pos[i], 0.5)
            transform = (
                self.ax.get_yaxis_transform() if self.horizontal else self.ax.get_xaxis_transform()
            )
            self.ax.text(
                *xy,
                text,
                transform=transform,
                rotation=0 if self.horizontal else 90,
                ha="center",
                va="center",
                fontsize=style.SMALL_FONT_SIZE,
                color=style.INFEASIBLE_TEXT_COLOR,
                bbox=style.TEXT_BOX,
            )

    def set_extent(self, top: float) -> None:
        """Value-axis range from 0 to ``top`` plus head-room for the annotations; no value
        ticks when ``top`` is 0 (nothing fits: no scale to read)."""
        limit = top * (1 + style.HEADROOM) if top > 0 else 1.0
        (self.ax.set_xlim if self.horizontal else self.ax.set_ylim)(0, limit)
        if top <= 0:
            (self.ax.set_xticks if self.horizontal else self.ax.set_yticks)([])


def infeasible_strip_handle() -> Line2D:
    """Legend entry of the crosses ``infeasible_strip`` draws."""
    return Line2D(
        [], [], color=style.INFEASIBLE_TEXT_COLOR, marker=style.INFEASIBLE_MARKER,
        linestyle="none", label=f"{style.INFEASIBLE_LABEL} (grey strip)",
    )  # fmt: skip


def infeasible_strip(ax: Axes, xs: Sequence[float], low: float, high: float, **marker) -> None:
    """A grey strip along the bottom of ``ax`` with a cross at each ``xs`` (points that do
    not fit), the y range extended below ``low`` so the strip covers no data point."""
    strip = style.INFEASIBLE_STRIP
    ax.set_ylim(low - (high - low) * strip / (1 - strip), high)
    ax.add_patch(
        Rectangle(
            (0, 0), 1, strip, transform=ax.transAxes, color=style.INFEASIBLE_BAND_COLOR,
            linewidth=0, zorder=0,
        )
    )  # fmt: skip
    ax.plot(
        list(xs), [strip / 2] * len(xs), linestyle="none", marker=style.INFEASIBLE_MARKER,
        color=style.INFEASIBLE_TEXT_COLOR, markersize=style.MARKER_SIZE,
        transform=ax.get_xaxis_transform(), **marker,
    )  # fmt: skip


def fit_annotations(fig: Figure) -> None:
    """Once ``fig`` is laid out, widen each linear value axis so the annotations past the
    ends of its bars stay inside their panel (they fit by construction, whatever their
    length); the axes start at zero, so a bar at ``v`` reaches ``v / limit`` of the panel."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    for ax in fig.axes:
        frame = ax.get_window_extent(renderer)
        need = {"x": ax.get_xlim()[1], "y": ax.get_ylim()[1]}
        for note in (t for t in ax.texts if isinstance(t, Annotation)):
            if note.get_anncoords() != "offset points" or not note.get_visible():
                continue
            dx, dy = note.xyann
            axis = "x" if dx > 0 and dy == 0 else "y" if dx == 0 and dy > 0 else None
            if axis is None or (ax.get_xscale() if axis == "x" else ax.get_yscale()) != "linear":
                continue
            box = note.get_window_extent(renderer)
            value = note.xy[0 if axis == "x" else 1]
            start, size, end = (
                (frame.x0, frame.width, box.x1) if axis == "x" else (frame.y0, frame.height, box.y1)
            )
            limit = need[axis]
            reach = end - (start + value / limit * size)  # pixels past the bar's end
            if value > 0 and reach < size:
                need[axis] = max(limit, value * size / (size - reach))
        if need["x"] != ax.get_xlim()[1]:
            ax.set_xlim(right=need["x"])
        if need["y"] != ax.get_ylim()[1]:
            ax.set_ylim(top=need["y"])
