"""Per-point result cache: one JSON file per point hash, written atomically.

A run that is killed keeps every finished point; the next run reuses them. An entry that
cannot be read, or whose hash does not match its name, is ignored and recomputed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hyperdrive_sim.report.writers import write_json


class PointCache:
    """Results of finished points under ``folder/<hash>.json``."""

    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            entry = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("hash") != key:
            return None
        if not isinstance(entry.get("row"), dict):
            return None
        if not all(isinstance(entry.get(k), list) for k in ("layers", "chips")):
            return None
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        write_json(self.path(key), {**entry, "hash": key})
