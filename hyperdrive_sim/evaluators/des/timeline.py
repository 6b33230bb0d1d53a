"""What the simpy evaluator saw over time, and its export as a Chrome/Perfetto trace."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hyperdrive_sim.evaluators.des.labels import IDLE_LABELS
from hyperdrive_sim.evaluators.des.links import Interval
from hyperdrive_sim.report.writers import write_json

#: track groups, in display order
GROUPS = ("chips", "links", "off-chip")


@dataclass(frozen=True, eq=False)
class Timeline:
    """Intervals ``(start, end, label)`` in cycles, per track (a chip, a link, off-chip).

    Chip tracks hold compute intervals (labelled with the layer) and idle ones (stalls and
    waits, see ``IDLE_LABELS``); link and off-chip tracks hold transfers.
    """

    tracks: dict[str, list[Interval]]
    groups: dict[str, tuple[str, ...]]  # group -> its track names, in display order
    end: int  # cycle at which the frame is done
    events: int  # simpy events processed

    def busy_cycles(self, track: str) -> int:
        return sum(e - s for s, e, label in self.tracks[track] if label not in IDLE_LABELS)

    def utilisation(self, track: str, bin_cycles: int) -> np.ndarray:
        """Busy fraction of ``track`` in consecutive bins of ``bin_cycles`` cycles."""
        bins = max(1, -(-self.end // bin_cycles))
        busy = np.zeros(bins + 1, dtype=np.float64)
        for start, end, label in self.tracks[track]:
            if label in IDLE_LABELS:
                continue
            first, last = divmod(start, bin_cycles), divmod(end, bin_cycles)
            if first[0] == last[0]:
                busy[first[0]] += end - start
                continue
            busy[first[0]] += bin_cycles - first[1]
            busy[first[0] + 1 : last[0]] += bin_cycles
            busy[last[0]] += last[1]
        return busy[:bins] / bin_cycles


def write_trace(timeline: Timeline, path: str | Path, frequency_hz: float) -> None:
    """Write ``timeline`` as Chrome trace-event JSON (open in ui.perfetto.dev or chrome://tracing).

    One process per group (chips, links, off-chip), one thread (track) per component,
    ``X`` complete events with ``ts``/``dur`` in microseconds at ``frequency_hz``.
    """
    us_per_cycle = 1e6 / frequency_hz
    events: list[dict] = []
    for pid, group in enumerate(GROUPS, start=1):
        names = timeline.groups.get(group, ())
        events.append({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": group}})
        events.append(
            {"ph": "M", "name": "process_sort_index", "pid": pid, "args": {"sort_index": pid}}
        )
        for tid, track in enumerate(names, start=1):
            meta = {"ph": "M", "pid": pid, "tid": tid}
            events.append({**meta, "name": "thread_name", "args": {"name": track}})
            events.append({**meta, "name": "thread_sort_index", "args": {"sort_index": tid}})
            for start, end, label in timeline.tracks[track]:
                events.append(
                    {
                        "ph": "X",
                        "name": label,
                        "cat": group,
                        "pid": pid,
                        "tid": tid,
                        "ts": start * us_per_cycle,
                        "dur": (end - start) * us_per_cycle,
                    }
                )
    write_json(
        Path(path),
        {
            "traceEvents": events,
            "displayTimeUnit": "ns",
            "otherData": {"end_cycles": timeline.end, "frequency_hz": frequency_hz},
        },
    )
