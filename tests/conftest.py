"""Checks shared by the figure tests."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib as mpl
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from hyperdrive_sim.viz import style
from hyperdrive_sim.viz.check import figure_problems


def _layout_texts(fig: Figure, renderer) -> list[tuple[str, int | None, Bbox]]:
    """(name, panel index or None, extent in pixels) of every text the layout places: the
    panels' titles, axis labels and visible tick labels, the figure's texts and legends
    (not the data annotations inside a panel, which may crowd by design)."""
    texts: list[tuple[str, int | None, Bbox]] = []
    for i, ax in enumerate(fig.axes):
        own = [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        low, high = sorted(ax.get_xlim())
        own += [t for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high]
        low, high = sorted(ax.get_ylim())
        own += [t for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high]
        texts += [
            (f"panel {i} {t.get_text()!r}", i, t.get_window_extent(renderer))
            for t in own
            if t.get_visible() and t.get_text()
        ]
    texts += [(f"figure {t.get_text()!r}", None, t.get_window_extent(renderer)) for t in fig.texts]
    texts += [
        (f"legend {k}", None, lg.get_window_extent(renderer)) for k, lg in enumerate(fig.legends)
    ]
    return texts


def _assert_laid_out(fig: Figure) -> None:
    """Every title, label, tick label and legend inside the figure; none overlaps another,
    nor a panel other than its own; and the figure check (viz.check) finds nothing."""
    assert figure_problems(fig) == []
    renderer = FigureCanvasAgg(fig).get_renderer()
    with mpl.rc_context(style.RC):
        fig.draw(renderer)
        texts = _layout_texts(fig, renderer)
        frames = [ax.get_window_extent(renderer) for ax in fig.axes]
    page = fig.bbox
    for name, _, box in texts:
        assert box.x0 >= page.x0 - 1 and box.y0 >= page.y0 - 1, (name, box, page)
        assert box.x1 <= page.x1 + 1 and box.y1 <= page.y1 + 1, (name, box, page)
    boxes = [(name, owner, _inset(box)) for name, owner, box in texts]
    for i, (a, _, box_a) in enumerate(boxes):
        for b, _, box_b in boxes[i + 1 :]:
            assert not box_a.overlaps(box_b), (a, b, box_a, box_b)
    for name, owner, box in boxes:
        for k, frame in enumerate(frames):
            if k != owner:
                assert not _inset(frame).overlaps(box), (name, f"panel {k}", box, frame)


def _inset(box: Bbox) -> Bbox:
    """``box`` one pixel smaller on every side: texts that merely touch do not overlap."""
    return Bbox.from_extents(box.x0 + 1, box.y0 + 1, box.x1 - 1, box.y1 - 1)


@pytest.fixture
def assert_laid_out() -> Callable[[Figure], None]:
    """Fails when a figure draws outside itself, two of its panels, titles or legends
    overlap, or the figure check (viz.check.figure_problems) finds a problem."""
    return _assert_laid_out
