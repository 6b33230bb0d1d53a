"""Gantt chart of a frame: what each chip (track) does over time, and how busy the links
and the off-chip interface are."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from hyperdrive_sim.viz import style
from hyperdrive_sim.viz.grid import fit_grid
from hyperdrive_sim.viz.load import Interval, Trace
from hyperdrive_sim.viz.save import new_figure, save_figure, styled

#: trace groups (processes) of chips and of transfers, as the simpy evaluator names them
CHIPS = "chips"
TRANSFER_GROUPS = ("links", "off-chip")


def activity(label: str) -> str:
    """The activity (busy, stall_weight, ...) of an interval label; unknown labels are busy."""
    return style.INTERVAL_ACTIVITY.get(label, "busy")


def transfer_kind(label: str, group: str = "links") -> str:
    """The meaning (key of ``style.MEANINGS``) of a transfer label of trace group ``group``
    (``"halo layer1.0.conv1"`` on the links -> ``"link_halo"``)."""
    return style.TRANSFERS.get((group, label.split(" ", 1)[0]), style.TRANSFER_OTHER)


def _time_unit(end_s: float) -> tuple[float, str]:
    if end_s >= 1 / style.MS_PER_S:
        return style.MS_PER_S, "ms"
    return style.US_PER_S, "µs"


def _gantt(ax: Axes, intervals: dict[str, list[Interval]], to_time: float) -> set[str]:
    """One bar row per track, top to bottom; returns the activities drawn."""
    tracks = list(intervals)
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
    ax.grid(axis="x", alpha=style.GRID_ALPHA)
    ax.set_axisbelow(True)
    return seen


def _busy(intervals: list[Interval], edges: np.ndarray) -> np.ndarray:
    """Busy cycles of ``intervals`` in each bin between ``edges`` (sorted, in cycles).

    Uses the busy time up to t, F(t) = sum (t - start) over starts < t minus the same over
    ends: O((intervals + bins) log intervals), however many tracks a large mesh has.
    """
    if not intervals:
        return np.zeros(len(edges) - 1)
    starts = np.sort(np.array([s for s, _, _ in intervals], dtype=float))
    ends = np.sort(np.array([e for _, e, _ in intervals], dtype=float))

    def upto(points: np.ndarray) -> np.ndarray:
        total = 0.0
        for sign, values in ((1.0, starts), (-1.0, ends)):
            cum = np.concatenate(([0.0], np.cumsum(values)))
            k = np.searchsorted(values, points, side="left")
            total = total + sign * (k * points - cum[k])
        return total

    return np.diff(upto(edges))


def _activity_panel(
    ax: Axes, tracks: dict[str, list[Interval]], edges: np.ndarray, to_time: float, name: str
) -> set[str]:
    """Stacked share of ``tracks`` busy per bin, by transfer kind (percent of track time)."""
    width = np.diff(edges) * len(tracks)
    by_kind: dict[str, list[Interval]] = {}
    for ivs in tracks.values():
        for iv in ivs:
            by_kind.setdefault(transfer_kind(iv[2], name), []).append(iv)
    kinds = [k for k in style.MEANINGS if k in by_kind]
    mids = (edges[:-1] + edges[1:]) / 2 * to_time
    shares = [_busy(by_kind[k], edges) / width * style.PERCENT for k in kinds]
    if shares:
        ax.stackplot(mids, *shares, colors=[style.color(k) for k in kinds], linewidth=0, step="mid")
    ax.set_ylim(0, style.PERCENT)
    ax.set_yticks([0, style.PERCENT / 2, style.PERCENT])
    count = f"{len(tracks)} links" if len(tracks) != 1 else "1 port"
    ax.set_ylabel(f"{name}\nbusy (%)", rotation=0, ha="right", va="center")
    ax.set_title(f"{name}: share of time busy ({count}), by what is transferred", loc="left")
    ax.grid(alpha=style.GRID_ALPHA)
    ax.set_axisbelow(True)
    return set(kinds)


@styled
def timeline_plot(
    intervals: dict[str, list[Interval]],
    frequency_hz: float,
    *,
    transfers: dict[str, dict[str, list[Interval]]] | None = None,
    end_cycles: int | None = None,
    title: str | None = None,
) -> Figure:
    """Gantt chart of ``intervals`` (track -> ``(start, end, label)`` in cycles), coloured by
    activity; under it, per group of ``transfers`` (e.g. links, off-chip: group -> track ->
    intervals), the share of its tracks busy over time, by transfer kind."""
    groups = {g: t for g, t in (transfers or {}).items() if t}
    end = max((e for ivs in intervals.values() for _, e, _ in ivs), default=0)
    end = max(end, end_cycles or 0)
    scale, unit = _time_unit(end / frequency_hz)
    to_time = scale / frequency_hz
    gantt_height = max(
        style.FIG_MIN_HEIGHT, len(intervals) * style.TIMELINE_ROW_HEIGHT + style.FIG_MARGIN_HEIGHT
    )
    heights = [gantt_height] + [style.TIMELINE_LINK_HEIGHT] * len(groups)
    fig = new_figure(style.TIMELINE_FIG_WIDTH, sum(heights), layout=None)
    axes = fig.subplots(len(heights), 1, sharex=True, height_ratios=heights, squeeze=False)[:, 0]
    seen = _gantt(axes[0], intervals, to_time)
    handles = [
        Patch(color=style.ACTIVITY_COLORS[k], label=style.ACTIVITY_LABELS[k])
        for k in style.ACTIVITY_COLORS
        if k in seen
    ]
    if groups:
        edges = np.linspace(0, max(end, 1), style.TRANSFER_BINS + 1)
        kinds: set[str] = set()
        for ax, (group, tracks) in zip(axes[1:], groups.items(), strict=True):
            kinds |= _activity_panel(ax, tracks, edges, to_time, group)
        handles += [
            Patch(color=style.color(k), label=style.label(k)) for k in style.MEANINGS if k in kinds
        ]
    axes[0].set_xlim(0, end * to_time if end else 1)
    axes[-1].set_xlabel(f"time ({unit}) at {frequency_hz / style.HZ_PER_MHZ:g} MHz")
    legend = fig.legend(handles=handles, loc="lower center", ncols=style.TIMELINE_LEGEND_COLUMNS)
    if not handles:
        axes[0].text(
            0.5, 0.5, "no intervals", transform=axes[0].transAxes, ha="center", va="center"
        )
    axes[0].set_title("Chips (compute in two shades: successive layers)", loc="left")
    suptitle = fig.suptitle(title or "Timeline of one frame")
    grid = axes[0].get_subplotspec().get_gridspec()
    fit_grid(fig, grid, title=suptitle, legend=legend, legend_columns=style.TIMELINE_LEGEND_COLUMNS)
    return fig


def trace_figure(trace: Trace, title: str | None = None) -> Figure:
    """The chips of ``trace`` as a Gantt chart, with link and off-chip activity under it."""
    transfers = {g: trace.group(g) for g in TRANSFER_GROUPS}
    return timeline_plot(
        trace.group(CHIPS),
        trace.frequency_hz,
        transfers=transfers,
        end_cycles=trace.end_cycles,
        title=title,
    )


def timeline_figure(
    intervals: dict[str, list[Interval]],
    frequency_hz: float,
    path: Path,
    formats: Sequence[str] | None = None,
) -> list[Path]:
    """Draw ``intervals`` (track -> ``(start, end, label)`` in cycles) as a Gantt chart.

    Tracks are drawn top to bottom in dict order, coloured by activity: compute, stall on
    weights, stall on halo pixels, waiting for the image. Writes ``path`` in each of
    ``formats`` (default: the format its suffix names, else ``style.FORMATS``); returns the
    written paths.
    """
    fig = timeline_plot(intervals, frequency_hz)
    path = Path(path)
    suffix = path.suffix.lstrip(".")
    stem = path.with_suffix("") if suffix in style.ALL_FORMATS else path
    if formats is None:
        formats = (suffix,) if suffix in style.ALL_FORMATS else style.FORMATS
    return save_figure(fig, stem.parent, stem.name, formats)
