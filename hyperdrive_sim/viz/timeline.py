"""Gantt chart of a frame: what each chip (track) does over time."""

from __future__ import annotations

from pathlib import Path

from matplotlib.patches import Patch

from hyperdrive_sim.viz import style
from hyperdrive_sim.viz.save import new_figure, save_figure, styled

Interval = tuple[int, int, str]


def activity(label: str) -> str:
    """The activity (busy, stall_weight, ...) of an interval label; unknown labels are busy."""
    return style.INTERVAL_ACTIVITY.get(label, "busy")


def _time_unit(end_s: float) -> tuple[float, str]:
    if end_s >= 1 / style.MS_PER_S:
        return style.MS_PER_S, "ms"
    return style.US_PER_S, "µs"


@styled
def timeline_figure(intervals: dict[str, list[Interval]], frequency_hz: float, path: Path) -> None:
    """Draw ``intervals`` (track -> ``(start, end, label)`` in cycles) as a Gantt chart.

    Tracks are drawn top to bottom in dict order, coloured by activity: compute, stall on
    weights, stall on halo pixels, waiting for the image. Writes ``path`` with the suffixes
    .png and .svg (whatever suffix ``path`` has).
    """
    tracks = list(intervals)
    end = max((e for ivs in intervals.values() for _, e, _ in ivs), default=0)
    scale, unit = _time_unit(end / frequency_hz)
    to_time = scale / frequency_hz
    height = max(
        style.FIG_MIN_HEIGHT, len(tracks) * style.TIMELINE_ROW_HEIGHT + style.FIG_MARGIN_HEIGHT
    )
    fig = new_figure(style.TIMELINE_FIG_WIDTH, height)
    ax = fig.add_subplot()
    seen: set[str] = set()
    half = style.TIMELINE_BAR_HEIGHT / 2
    # busy intervals alternate between two shades by label (layer), so layers stand apart
    order: dict[str, int] = {}
    for y, track in enumerate(tracks):
        spans: dict[str, list[tuple[float, float]]] = {}
        for start, stop, label in intervals[track]:
            kind = activity(label)
            if kind == "busy" and order.setdefault(label, len(order)) % 2:
                kind = "busy_alt"
            seen.add(kind)
            spans.setdefault(kind, []).append((start * to_time, (stop - start) * to_time))
        for kind, ranges in spans.items():
            ax.broken_barh(
                ranges, (y - half, 2 * half), facecolors=style.ACTIVITY_COLORS[kind], linewidth=0
            )
    ax.set_yticks(range(len(tracks)), tracks)
    ax.set_ylim(len(tracks) - 0.5, -0.5)
    ax.set_xlim(0, end * to_time if end else 1)
    ax.set_xlabel(f"time ({unit}) at {frequency_hz / style.HZ_PER_MHZ:g} MHz")
    ax.grid(axis="x", alpha=style.GRID_ALPHA)
    ax.set_axisbelow(True)
    handles = [
        Patch(color=style.ACTIVITY_COLORS[k], label=style.ACTIVITY_LABELS[k])
        for k in style.ACTIVITY_COLORS
        if k in seen
    ]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=style.TIMELINE_LEGEND_COLUMNS)
    else:
        ax.text(0.5, 0.5, "no intervals", transform=ax.transAxes, ha="center", va="center")
    ax.set_title("Timeline of one frame (compute in two shades: successive layers)")
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lstrip(".") in style.FORMATS else path
    save_figure(fig, stem.parent, stem.name)
