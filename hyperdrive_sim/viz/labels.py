"""Point labels that do not overlap: once a figure is laid out, each label that overlaps an
earlier one or a marker, or leaves its panel, moves to the first of ``CANDIDATES`` where it
overlaps no earlier label and no marker and stays inside the panel (measured with the
renderer)."""

from __future__ import annotations

from collections.abc import Iterator

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox

#: offsets (points) and horizontal alignment tried in turn: above right, above left, below
#: right, below left, then further out, a line at a time
CANDIDATES: tuple[tuple[tuple[float, float], str], ...] = tuple(
    ((dx, dy), align)
    for dy in (5, -11, 14, -20, 23, -29, 32, -38)
    for dx, align in ((3, "left"), (-4, "right"))
)


def declutter(fig: Figure, axes: list[Axes]) -> None:
    """Move the point labels (offset annotations) of ``axes`` of the laid-out ``fig`` so no
    two overlap and none leaves its panel (so none covers a tick label); a label keeps its
    own offset when that is free."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    for ax in axes:
        frame = ax.get_window_extent(renderer)  # tick labels are outside it
        taken: list[Bbox] = list(_markers(ax, renderer))
        for label in [t for t in ax.texts if isinstance(t, Annotation)]:
            if not label.get_visible() or label.get_anncoords() != "offset points":
                continue
            own = (tuple(label.xyann), label.get_ha())
            for offset, align in (own, *CANDIDATES):
                label.xyann = offset
                label.set_ha(align)
                box = label.get_window_extent(renderer)
                if _inside(box, frame) and not any(box.overlaps(b) for b in taken):
                    break
            else:
                label.xyann, _ = own
                label.set_ha(own[1])
                box = label.get_window_extent(renderer)
            taken.append(box)


def _inside(box: Bbox, frame: Bbox) -> bool:
    return box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0 and box.y1 <= frame.y1


def _markers(ax: Axes, renderer) -> Iterator[Bbox]:
    """The extent of every marker drawn in ``ax`` (a label must not hide a point)."""
    for line in ax.lines:
        if not line.get_visible() or line.get_marker() in ("None", "none", "", " ", None):
            continue
        half = renderer.points_to_pixels(line.get_markersize()) / 2
        for x, y in line.get_transform().transform(line.get_xydata()):
            yield Bbox.from_extents(x - half, y - half, x + half, y + half)
