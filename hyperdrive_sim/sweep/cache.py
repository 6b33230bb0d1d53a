"""Per-point result cache: one JSON file per point hash, written atomically.

A run that is killed keeps every finished point; the next run reuses them. Only results
are cached: ``ok`` and ``infeasible`` points. A point that failed with an internal error
is never stored, so the next run computes it again.

An entry is trusted only when it is whole: its name matches its ``hash``, its ``status``
is ``ok`` or ``infeasible``, its ``row`` has every results.csv column, ``layers`` and
``chips`` are lists of objects, and ``sha256`` matches the checksum of that payload
(canonical JSON), so an entry edited or truncated by hand is never reused. Anything else
is ignored silently and the point is recomputed (and its entry overwritten).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hyperdrive_sim.readfile import read_output_file
from hyperdrive_sim.report.writers import json_default, remove_stale_temps, write_json
from hyperdrive_sim.result import RESULT_COLUMNS

#: statuses a cache entry may hold; "failed" (an internal error) is never cached
CACHEABLE = ("ok", "infeasible")
PAYLOAD = ("status", "row", "layers", "chips")


def _digest(data: Any) -> str:
    """sha256 of the canonical JSON of ``data`` (sorted keys, no spaces)."""
    text = json.dumps(
        data, sort_keys=True, separators=(",", ":"), allow_nan=False, default=json_default
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def checksum(entry: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the entry's payload (status, row, layers, chips)."""
    return _digest({k: entry[k] for k in PAYLOAD})


def valid_entry(entry: Any) -> bool:
    """Does ``entry`` have the shape of a cached result (checksum aside)?"""
    if not isinstance(entry, dict) or entry.get("status") not in CACHEABLE:
        return False
    row = entry.get("row")
    if not isinstance(row, dict) or not all(k in row for k in RESULT_COLUMNS):
        return False
    return all(
        isinstance(entry.get(k), list) and all(isinstance(r, dict) for r in entry[k])
        for k in ("layers", "chips")
    )


def _read_entry(path: Path) -> Any:
    """The JSON of a cache file, or None when it is missing, not a regular file, larger
    than ``limits.MAX_RESULTS_BYTES`` or not JSON (it is then recomputed)."""
    text = read_output_file(path)
    try:
        return json.loads(text) if text is not None else None
    except (ValueError, RecursionError):
        return None


class PointCache:
    """Results of finished points under ``folder/<hash>.json``."""

    def __init__(self, folder: Path):
        self.folder = folder
        remove_stale_temps(folder)  # left by a run that was killed while writing an entry

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry of ``key``, or None when there is none or it cannot be trusted."""
        entry = _read_entry(self.path(key))
        if not valid_entry(entry) or entry.get("hash") != key:
            return None
        try:
            if entry.get("sha256") != checksum(entry):
                return None
        except ValueError:  # NaN or infinity edited in: never written by put
            return None
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> bool:
        """Store ``entry`` if it is a cacheable result; return whether it was stored.

        Raises OutputError when the file cannot be written (a full disk, say).
        """
        if not valid_entry(entry):
            return False
        payload = {k: entry[k] for k in PAYLOAD}
        write_json(self.path(key), {**payload, "hash": key, "sha256": checksum(payload)})
        return True

    def get_payload(self, key: str) -> dict[str, Any] | None:
        """A free-form entry stored by :meth:`put_payload` (design exploration), or None
        when there is none or its hash or checksum does not match."""
        entry = _read_entry(self.path(key))
        if not isinstance(entry, dict) or entry.get("hash") != key:
            return None
        payload = entry.get("payload")
        try:
            if not isinstance(payload, dict) or entry.get("sha256") != _digest(payload):
                return None
        except ValueError:  # NaN or infinity edited in: never written by put_payload
            return None
        return payload

    def put_payload(self, key: str, payload: dict[str, Any]) -> None:
        """Store a free-form JSON object under ``key``, checksummed like a point entry."""
        write_json(self.path(key), {"payload": payload, "hash": key, "sha256": _digest(payload)})
