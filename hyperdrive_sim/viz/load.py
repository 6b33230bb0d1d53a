"""Read a results folder (results.json, layers.csv) into typed rows: the only input of viz.

Rows are plain dicts keyed by the column names of ``RESULT_COLUMNS`` / ``LAYER_COLUMNS``
plus the experiment's sweep columns. Metric cells of points that do not fit stay None.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperdrive_sim.errors import InputError
from hyperdrive_sim.result import LAYER_COLUMNS, RESULT_COLUMNS

Row = dict[str, Any]

#: layers.csv columns that are text even when they look like numbers
_TEXT_COLUMNS = frozenset(
    ("network", "evaluator", "accelerator", "layer", "type", "placement", "in_shape", "out_shape")
)
#: columns that identify a point (with the sweep columns)
_POINT_KEY = ("network", "input_h", "input_w", "mesh_rows", "mesh_cols", "evaluator")


@dataclass(frozen=True)
class Results:
    """A results folder: point rows, layer rows, and the sweep columns beyond the standard."""

    points: list[Row]
    layers: list[Row]
    extra_columns: tuple[str, ...]

    def layers_of(self, point: Row) -> list[Row]:
        """The layer rows of ``point``, in execution order (empty when layers.csv is absent)."""
        key = point_key(point, self.extra_columns)
        rows = [r for r in self.layers if point_key(r, self.extra_columns) == key]
        # a point repeated in a sweep repeats its layers: keep the first copy
        seen: set[str] = set()
        for i, row in enumerate(rows):
            if row["layer"] in seen:
                return rows[:i]
            seen.add(row["layer"])
        return rows


def load_results(results_dir: Path) -> Results:
    """Read ``results.json`` (required) and ``layers.csv`` (optional) of ``results_dir``."""
    path = Path(results_dir) / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no results.json: not a results folder", file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"results.json is not valid JSON ({exc})", file=str(path)) from None
    columns = data.get("columns") or list(RESULT_COLUMNS)
    extra = tuple(c for c in columns if c not in RESULT_COLUMNS)
    points = [{**dict.fromkeys(columns), **row} for row in data.get("rows", [])]
    for row in points:
        row["fits"] = bool(row.get("fits"))
    layers_path = Path(results_dir) / "layers.csv"
    layers = read_layers(layers_path) if layers_path.is_file() else []
    return Results(points, layers, extra)


def read_layers(path: Path) -> list[Row]:
    """layers.csv as typed rows: empty cells None, numbers int/float, True/False bool."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    typed = []
    for raw in rows:
        row: Row = dict.fromkeys(LAYER_COLUMNS)
        row.update({k: raw[k] if k in _TEXT_COLUMNS else parse_cell(raw[k]) for k in raw})
        for key in _TEXT_COLUMNS:
            if row.get(key) == "":
                row[key] = None
        typed.append(row)
    return typed


def parse_cell(text: str | None) -> Any:
    """A CSV cell as the value it was written from (see report.writers)."""
    if text is None or text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def cell_key(value: Any) -> str:
    """A value as its CSV cell text, so JSON and CSV values of one point compare equal."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def point_key(row: Row, extra_columns: tuple[str, ...]) -> tuple[str, ...]:
    """What identifies a point in both results.json and layers.csv."""
    return tuple(cell_key(row.get(c)) for c in (*_POINT_KEY, *extra_columns))
