"""Checks shared by the figure tests."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib as mpl
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from hyperdrive_sim.viz import style


def _boxes(fig: Figure) -> tuple[Bbox, list[tuple[str, Bbox]]]:
    """The figure's box and the drawn extent of each panel (ticks, labels and title
    included), each text placed on the figure and the legend, in pixels."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    with mpl.rc_context(style.RC):
        fig.draw(renderer)
        parts = [(f"panel {i}", ax.get_tightbbox(renderer)) for i, ax in enumerate(fig.axes)]
        parts += [(f"text {t.get_text()!r}", t.get_window_extent(renderer)) for t in fig.texts]
        parts += [("legend", lg.get_window_extent(renderer)) for lg in fig.legends]
    return fig.bbox, parts


def _assert_laid_out(fig: Figure) -> None:
    """Nothing drawn outside the figure, and no two panels, titles or the legend overlap."""
    page, parts = _boxes(fig)
    for name, box in parts:
        assert box.x0 >= page.x0 - 1 and box.y0 >= page.y0 - 1, (name, box, page)
        assert box.x1 <= page.x1 + 1 and box.y1 <= page.y1 + 1, (name, box, page)
    for i, (a, box_a) in enumerate(parts):
        for b, box_b in parts[i + 1 :]:
            assert not box_a.overlaps(box_b), (a, b, box_a, box_b)


@pytest.fixture
def assert_laid_out() -> Callable[[Figure], None]:
    """Fails when a figure draws outside itself or two of its panels, titles or legends
    overlap (the check of figures laid out by hand)."""
    return _assert_laid_out
