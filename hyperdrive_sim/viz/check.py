"""The figure check: what a reader needs of every figure, checked on the drawn figure.

``figure_problems`` draws a figure once with the PNG renderer and lists what is wrong:

- a text outside the figure (a title, label, tick label, point label or legend cut off);
- two tick labels, point labels (texts inside a panel), titles, axis labels or legends
  overlapping each other, or a title, label or legend over a panel other than its own;
- a legend entry for something that is not drawn (no line, marker, bar or patch of its
  colour, marker and hatch in any panel);
- a numeric axis (numbers as tick labels) whose label gives no unit in parentheses
  (``energy per frame (mJ)``; ``(log scale)`` is not a unit);
- more than ``MAX_LEGEND_ENTRIES`` legend entries in the figure.

``results_figures`` builds every figure ``plot_results`` would draw from a results folder,
without saving, so tests and ``scripts/make_plots.py`` can check each of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib as mpl
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure, SubFigure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from hyperdrive_sim.viz import style

#: the most legend entries a figure may have (all its legends together)
MAX_LEGEND_ENTRIES = 12
#: a unit in an axis label: text in parentheses other than "log scale"
_UNIT = re.compile(r"\((?!log scale\))[^()]*[A-Za-zµ%/][^()]*\)")
#: a tick label that is a number (signs, separators, SI prefixes, % and powers of ten)
_NUMBER = re.compile(
    r"^[-−+]?(\d[\d,]*(\.\d*)?|\.\d+)([eE][-−+]?\d+)?\s*[kMG%]?$|^\$?\\mathdefault\{.*\}\$?$"
)
#: pixels two boxes may share without counting as overlapping (anti-aliased edges)
_TOLERANCE = 1.0


def figure_problems(fig: Figure) -> list[str]:
    """Everything the figure check finds wrong with ``fig`` (empty: nothing)."""
    with mpl.rc_context(style.RC):
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw(renderer)
        texts = list(_texts(fig, renderer))
        frames = [(ax, ax.get_window_extent(renderer)) for ax in _axes(fig)]
    return [
        *_outside(fig, texts),
        *_overlaps(texts, frames),
        *_legend_problems(fig),
        *_unitless_axes(fig),
    ]


# -- texts --------------------------------------------------------------------------------


class _Placed:
    """A drawn text: what it is, its panel (None: the figure's), its kind and extent."""

    def __init__(self, name: str, owner: Axes | None, kind: str, box: Bbox) -> None:
        self.name, self.owner, self.kind, self.box = name, owner, kind, box


def _axes(fig: Figure | SubFigure) -> list[Axes]:
    return [ax for ax in fig.get_axes() if ax.get_visible()]


def _figures(fig: Figure | SubFigure) -> Iterator[Figure | SubFigure]:
    yield fig
    for sub in fig.subfigs:
        yield from _figures(sub)


def _shown(text: Text) -> bool:
    return bool(text.get_visible() and text.get_text().strip())


def _tick_labels(ax: Axes) -> Iterator[Text]:
    """The tick labels the axes draws: visible, within the view limits."""
    for axis, index in ((ax.xaxis, 0), (ax.yaxis, 1)):
        low, high = sorted(ax.get_xlim() if index == 0 else ax.get_ylim())
        for tick in axis.get_major_ticks() + axis.get_minor_ticks():
            loc = tick.get_loc()
            if loc is None or not low - 1e-9 * abs(high - low) <= loc <= high + 1e-9 * abs(
                high - low
            ):
                continue
            for label in (tick.label1, tick.label2):
                if _shown(label):
                    yield label


def _texts(fig: Figure, renderer) -> Iterator[_Placed]:
    for ax in _axes(fig):
        layout = [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        for text in layout:
            if _shown(text):
                yield _Placed(repr(text.get_text()), ax, "label", text.get_window_extent(renderer))
        for text in _tick_labels(ax):
            yield _Placed(
                f"tick label {text.get_text()!r}", ax, "tick", text.get_window_extent(renderer)
            )
        for text in ax.texts:
            if _shown(text) and _in_view(text, ax, renderer):
                yield _Placed(
                    f"point label {text.get_text()!r}",
                    ax,
                    "point",
                    text.get_window_extent(renderer),
                )
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            yield _Placed("legend", ax, "legend", legend.get_window_extent(renderer))
    for figure in _figures(fig):
        for text in figure.texts:
            if _shown(text):
                yield _Placed(
                    f"figure text {text.get_text()!r}",
                    None,
                    "label",
                    text.get_window_extent(renderer),
                )
        for legend in figure.legends:
            if legend.get_visible():
                yield _Placed("legend", None, "legend", legend.get_window_extent(renderer))


def _in_view(text: Text, ax: Axes, renderer) -> bool:
    """Whether matplotlib draws ``text`` (an annotation whose point is outside the panel is
    not drawn)."""
    check = getattr(text, "_check_xy", None)
    return check(renderer) if check is not None else True


def _short(name: str) -> str:
    return name if len(name) <= 80 else name[:77] + "...'"


def _outside(fig: Figure, texts: list[_Placed]) -> Iterator[str]:
    page = fig.bbox
    for t in texts:
        b = t.box
        if (
            b.x0 < page.x0 - _TOLERANCE
            or b.y0 < page.y0 - _TOLERANCE
            or b.x1 > page.x1 + _TOLERANCE
            or b.y1 > page.y1 + _TOLERANCE
        ):
            yield f"outside the figure: {_short(t.name)}"


def _inset(box: Bbox) -> Bbox:
    d = _TOLERANCE
    return Bbox.from_extents(box.x0 + d, box.y0 + d, box.x1 - d, box.y1 - d)


def _overlaps(texts: list[_Placed], frames: list[tuple[Axes, Bbox]]) -> Iterator[str]:
    boxes = [(t, _inset(t.box)) for t in texts]
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1 :]:
            # labels inside a panel may sit on its other texts' panel only if they are its own
            if box_a.overlaps(box_b):
                yield f"overlap: {_short(a.name)} and {_short(b.name)}"
    for t, box in boxes:
        if t.kind == "point":
            continue  # a point label sits inside its panel
        for ax, frame in frames:
            if ax is not t.owner and _inset(frame).overlaps(box):
                yield f"over another panel: {_short(t.name)}"


# -- legends ------------------------------------------------------------------------------


def _legends(fig: Figure) -> list[Legend]:
    found = [lg for f in _figures(fig) for lg in f.legends]
    found += [ax.get_legend() for ax in _axes(fig) if ax.get_legend() is not None]
    return [lg for lg in found if lg.get_visible()]


def _legend_problems(fig: Figure) -> Iterator[str]:
    legends = _legends(fig)
    entries = sum(len(lg.texts) for lg in legends)
    if entries > MAX_LEGEND_ENTRIES:
        yield f"{entries} legend entries, more than {MAX_LEGEND_ENTRIES}"
    drawn = [a for ax in _axes(fig) for a in _drawn(ax)]
    for legend in legends:
        for handle, text in zip(legend.legend_handles, legend.texts, strict=True):
            if handle is not None and not any(_matches(handle, a) for a in drawn):
                yield f"legend entry not drawn: {_short(repr(text.get_text()))}"


def _drawn(ax: Axes) -> Iterator[Artist]:
    for line in ax.lines:
        if line.get_visible() and len(line.get_xdata()) > 0:
            yield line
    for patch in ax.patches:
        if patch.get_visible():
            yield patch
    for coll in ax.collections:
        if coll.get_visible() and (len(coll.get_offsets()) or len(coll.get_paths())):
            yield coll


def _hex(color) -> str | None:
    """A colour as #rrggbb; None when it is fully transparent (nothing drawn)."""
    try:
        rgba = mpl.colors.to_rgba(color)
    except (TypeError, ValueError):
        return None
    return None if rgba[3] == 0 else to_hex(rgba, keep_alpha=False)


def _solid(style_: object) -> bool:
    return style_ in ("-", "solid")


def _no_line(style_: object) -> bool:
    return style_ in ("None", "none", "", " ", None)


def _no_marker(marker: object) -> bool:
    return marker in ("None", "none", "", " ", None)


def _matches(handle: Artist, artist: Artist) -> bool:
    """Whether ``artist`` (drawn in a panel) is what legend ``handle`` stands for: a line of
    its colour, line style and marker; a patch or bar of its fill and hatch; markers (a
    scatter) of its colour."""
    if isinstance(handle, Line2D):
        color = _hex(handle.get_color())
        if isinstance(artist, Line2D):
            if _hex(artist.get_color()) != color:
                return False
            if not _no_marker(handle.get_marker()) and artist.get_marker() != handle.get_marker():
                return False
            if _no_line(handle.get_linestyle()):
                return not _no_marker(artist.get_marker())
            if _no_line(artist.get_linestyle()):
                return False
            return _solid(handle.get_linestyle()) == _solid(artist.get_linestyle())
        if isinstance(artist, Collection) and _no_line(handle.get_linestyle()):
            return color in _colors(artist)
        return False
    if isinstance(handle, Patch):
        fill, hatch = _hex(handle.get_facecolor()), handle.get_hatch()
        if isinstance(artist, Patch):
            if hatch and artist.get_hatch() != hatch:
                return False
            if fill is None:  # an outline or hatch only: its edge colour
                return bool(hatch) or _hex(artist.get_edgecolor()) == _hex(handle.get_edgecolor())
            return _hex(artist.get_facecolor()) == fill
        if isinstance(artist, Collection):
            return fill in _colors(artist)
        return False
    if isinstance(handle, Collection):
        return isinstance(artist, Collection) and bool(_colors(handle) & _colors(artist))
    return True  # a kind of handle this check does not know: not judged


def _colors(coll: Collection) -> set[str]:
    """The fill colours of a collection's items, or their edge colours when unfilled (rings,
    line segments)."""
    fills = {c for c in map(_hex, coll.get_facecolors()) if c is not None}
    return fills or {c for c in map(_hex, coll.get_edgecolors()) if c is not None}


# -- units --------------------------------------------------------------------------------


def _unitless_axes(fig: Figure) -> Iterator[str]:
    for i, ax in enumerate(_axes(fig)):
        if not ax.axison:
            continue
        for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            if not axis.get_visible():
                continue
            labels = [t.get_text() for t in _tick_labels(ax) if _on(t, axis)]
            numeric = [s for s in labels if _NUMBER.match(s.strip())]
            if numeric and not _UNIT.search(axis.label.get_text()):
                where = ax.get_title() or ax.get_title(loc="left") or f"panel {i}"
                yield (
                    f"no unit on the numeric {name} axis of {_short(repr(where))}: "
                    f"{_short(repr(axis.label.get_text()))}"
                )


def _on(text: Text, axis) -> bool:
    """Whether tick label ``text`` belongs to ``axis``."""
    ticks = axis.get_major_ticks() + axis.get_minor_ticks()
    return any(text is t.label1 or text is t.label2 for t in ticks)


# -- every figure of a results folder -----------------------------------------------------


def results_figures(results_dir: Path) -> Iterator[tuple[str, Callable[[], Figure]]]:
    """(file stem, build) of every figure ``plot_results`` draws from ``results_dir`` (or
    the sensitivity figures of a sensitivity run's folder); each ``build()`` returns the
    figure, unsaved. The Pareto figures of an explore run: ``viz.pareto.pareto_builds``."""
    from hyperdrive_sim.viz import _figure_jobs, _TimelineJob, load_results, select_point
    from hyperdrive_sim.viz import figures as fg
    from hyperdrive_sim.viz.load import load_trace
    from hyperdrive_sim.viz.uncertainty import uncertainty_builds

    if (Path(results_dir) / "uncertainty.csv").is_file():
        yield from uncertainty_builds(results_dir)
        return
    results = load_results(Path(results_dir))
    if not results.points:
        return
    point = select_point(results.points)
    for name, job in _figure_jobs(Path(results_dir), results, point, Path("."), ("png",)):
        if isinstance(job, _TimelineJob):
            mhz = job.row.get("frequency_mhz") if job.row else None

            def build(job=job, mhz=mhz) -> Figure:
                trace = load_trace(job.path, mhz * style.HZ_PER_MHZ if mhz else None)
                return fg.trace_figure(trace, job.title)

            yield name, build
        else:
            _, builder, *args = job.args  # partial(save, name, builder, *args)
            yield name, (lambda b=builder, a=tuple(args): b(*a))
