"""Labels of a chip's time that is not work, and how intervals are recorded."""

from __future__ import annotations

from hyperdrive_sim.evaluators.des.links import Interval

STALL_WEIGHT = "stall: weights"
STALL_BORDER = "stall: halo"
WAIT_PARTIAL = "wait: partial vector"
#: the time a chip waits for image data (before or within its first layer)
WAIT_IMAGE = "wait: image"
#: labels of chip intervals that are not work
IDLE_LABELS = (STALL_WEIGHT, STALL_BORDER, WAIT_IMAGE, WAIT_PARTIAL)


def mark(intervals: list[Interval], start: int, end: int, label: str) -> None:
    """Append an interval, merging it into the previous one when they touch."""
    if end <= start:
        return
    if intervals and intervals[-1][1] == start and intervals[-1][2] == label:
        intervals[-1] = (intervals[-1][0], end, label)
    else:
        intervals.append((start, end, label))
