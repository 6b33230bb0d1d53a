"""Read a results folder (results.json, layers.csv, traces/) into typed rows: the only input
of viz.

Rows are plain dicts keyed by the column names of ``RESULT_COLUMNS`` / ``LAYER_COLUMNS``
plus the experiment's sweep columns. Metric cells of points that do not fit stay None.
Every point row has a ``status`` (ok, infeasible, failed) and ``fits`` that agree, and its
input and mesh keys, whatever version of the format wrote the folder (see ``_normalise``).
Timeline traces (Chrome trace-event JSON) are read back into intervals in cycles.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperdrive_sim import limits
from hyperdrive_sim.errors import InputError
from hyperdrive_sim.readfile import read_input
from hyperdrive_sim.result import LAYER_COLUMNS, RESULT_COLUMNS

Row = dict[str, Any]

#: layers.csv columns that are text even when they look like numbers
_TEXT_COLUMNS = frozenset(
    (
        "point_id",
        "network",
        "evaluator",
        "accelerator",
        "layer",
        "type",
        "placement",
        "in_shape",
        "out_shape",
    )
)
#: columns that identify a point (with the sweep columns) when rows carry no point_id
_POINT_KEY = ("network", "input_h", "input_w", "mesh_rows", "mesh_cols", "evaluator", "accelerator")
#: columns that identify or classify a row: never sweep settings, whichever list holds them
META_COLUMNS = ("status", "point_id")
#: row status: simulated and fits / does not fit / the simulator failed on it
STATUSES = ("ok", "infeasible", "failed")
#: how the runner words the reason of a point it failed on (older rows have no status)
_FAILED_PREFIX = "internal error"
#: sweep cells ("224x224", "2x2") -> the size columns they give, in the order they write them
_SIZE_CELLS = {"input": ("input_w", "input_h"), "mesh": ("mesh_rows", "mesh_cols")}


@dataclass(frozen=True)
class Results:
    """A results folder: point rows, layer rows, and the sweep columns beyond the standard."""

    points: list[Row]
    layers: list[Row]
    extra_columns: tuple[str, ...]

    def layers_of(self, point: Row) -> list[Row]:
        """The layer rows of ``point``, in execution order (empty when layers.csv is absent).

        Matched by ``point_id`` when both sides have one, else by network, input, mesh,
        evaluator, accelerator and the sweep columns.
        """
        pid = point.get("point_id")
        if pid and any(r.get("point_id") for r in self.layers):
            rows = [r for r in self.layers if cell_key(r.get("point_id")) == cell_key(pid)]
        else:
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
    if not path.exists():
        raise InputError("no results.json: not a results folder", file=str(path))
    raw = read_input(path, limit=limits.MAX_RESULTS_BYTES, what="results.json")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"results.json is not valid JSON ({exc})", file=str(path)) from None
    columns = data.get("columns") or list(RESULT_COLUMNS)
    extra = tuple(c for c in columns if c not in RESULT_COLUMNS and c not in META_COLUMNS)
    base = dict.fromkeys((*RESULT_COLUMNS, *META_COLUMNS, *columns))
    points = [_normalise({**base, **row}) for row in data.get("rows", [])]
    layers_path = Path(results_dir) / "layers.csv"
    layers = read_layers(layers_path) if layers_path.is_file() else []
    return Results(points, layers, extra)


def _normalise(row: Row) -> Row:
    """Fill in what older or partial rows lack, in place.

    - ``status`` from ``fits`` and ``reason`` when absent; ``fits`` from ``status`` when
      present (the two never disagree afterwards);
    - input and mesh sizes from the ``input`` / ``mesh`` sweep cells (rows of failed points
      carry only the sweep labels), and ``chips`` from the mesh.
    """
    status = row.get("status")
    if status not in STATUSES:
        if row.get("fits"):
            status = "ok"
        elif str(row.get("reason") or "").startswith(_FAILED_PREFIX):
            status = "failed"
        else:
            status = "infeasible"
    row["status"] = status
    row["fits"] = status == "ok"
    for column, (first, second) in _SIZE_CELLS.items():
        sizes = _pair(row.get(column))
        if sizes is not None and row.get(first) is None and row.get(second) is None:
            row[first], row[second] = sizes
    if row.get("chips") is None and row.get("mesh_rows") and row.get("mesh_cols"):
        row["chips"] = row["mesh_rows"] * row["mesh_cols"]
    return row


def _pair(text: Any) -> tuple[int, int] | None:
    """``"224x224"`` -> (224, 224); None for anything else."""
    first, sep, second = str(text or "").partition("x")
    if sep and first.isdigit() and second.isdigit():
        return int(first), int(second)
    return None


def read_layers(path: Path) -> list[Row]:
    """layers.csv as typed rows: empty cells None, numbers int/float, True/False bool."""
    text = read_input(path, limit=limits.MAX_RESULTS_BYTES, what="layers.csv")
    rows = list(csv.DictReader(io.StringIO(text.decode("utf-8", errors="replace"), newline="")))
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


# -- timeline traces ---------------------------------------------------------------------

#: (start, end, label) in cycles
Interval = tuple[int, int, str]
#: folder of the traces inside a results folder
TRACE_DIR = "traces"
_US_PER_S = 1e6


@dataclass(frozen=True)
class Trace:
    """A Chrome/Perfetto trace of one simpy point, back in cycles.

    ``groups`` maps each process of the trace (chips, links, off-chip) to its tracks
    (threads), each a list of intervals in cycles, all in the trace's display order.
    """

    name: str
    groups: dict[str, dict[str, list[Interval]]]
    frequency_hz: float
    end_cycles: int

    def group(self, name: str) -> dict[str, list[Interval]]:
        return self.groups.get(name, {})


def trace_files(results_dir: Path) -> list[Path]:
    """The trace files of a results folder, in sorted (deterministic) order."""
    folder = Path(results_dir) / TRACE_DIR
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def trace_point(path: Path) -> tuple[str, str, str, str] | None:
    """(network, WxH, RxC, hash8) from a trace file name ``<network>_<WxH>_<RxC>_<hash8>``;
    None when the name has another form."""
    parts = Path(path).stem.rsplit("_", 3)
    if len(parts) != 4 or _pair(parts[1]) is None or _pair(parts[2]) is None:
        return None
    return parts[0], parts[1], parts[2], parts[3]


def stale_trace(points: list[Row], path: Path) -> bool:
    """A trace written by an earlier run: its file names a point id that no row has (the
    cache keeps such traces, and a re-run with other settings leaves them behind)."""
    parsed = trace_point(path)
    ids = [str(r.get("point_id") or "") for r in points]
    if parsed is None or not any(ids):
        return False
    return not any(i.startswith(parsed[3]) for i in ids)


def trace_row(points: list[Row], path: Path) -> Row | None:
    """The results row a trace file belongs to: by point_id (the file name holds its first
    eight characters), else by network, input and mesh when that is unambiguous."""
    parsed = trace_point(path)
    if parsed is None:
        return None
    network, size, mesh, short = parsed
    by_id = [r for r in points if str(r.get("point_id") or "").startswith(short)]
    if by_id:
        return by_id[0]
    same = [
        r
        for r in points
        if r.get("network") == network
        and f"{r.get('input_w')}x{r.get('input_h')}" == size
        and f"{r.get('mesh_rows')}x{r.get('mesh_cols')}" == mesh
        and r.get("evaluator") != "baseline"
    ]
    frequencies = {r.get("frequency_mhz") for r in same}
    return same[0] if same and len(frequencies) == 1 else None


def load_trace(path: Path, frequency_hz: float | None = None) -> Trace:
    """Read a trace written by the simpy evaluator (``evaluators.des.timeline.write_trace``).

    ``ts``/``dur`` are microseconds at the frequency the trace records in ``otherData``;
    ``frequency_hz`` is used only when the trace records none. InputError when the file is
    not a trace or no frequency is known.
    """
    path = Path(path)
    raw = read_input(path, limit=limits.MAX_RESULTS_BYTES, what="trace file")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"trace is not valid JSON ({exc})", file=str(path)) from None
    events = data.get("traceEvents") if isinstance(data, dict) else data
    if not isinstance(events, list):
        raise InputError("not a Chrome trace: no traceEvents list", file=str(path))
    other = data.get("otherData") if isinstance(data, dict) else None
    other = other if isinstance(other, dict) else {}
    frequency = other.get("frequency_hz") or frequency_hz
    if not frequency:
        raise InputError(
            "the trace records no frequency and none was given to convert it to cycles",
            file=str(path),
        )
    try:
        process, thread, order, spans = _read_events(events, float(frequency) / _US_PER_S)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"not a trace of the simpy evaluator ({exc!r})", file=str(path)) from None

    def sort_key(key: tuple[Any, Any]) -> tuple:
        pid, tid = key
        return (order.get((pid,), 0), _rank(pid), order.get((pid, tid), 0), _rank(tid))

    groups: dict[str, dict[str, list[Interval]]] = {}
    for key in sorted({*thread, *spans}, key=sort_key):
        pid, tid = key
        group = groups.setdefault(process.get(pid, f"process {pid}"), {})
        group[thread.get(key, f"track {tid}")] = sorted(spans.get(key, []))
    end = other.get("end_cycles")
    if end is None:
        end = max((e for g in groups.values() for ivs in g.values() for _, e, _ in ivs), default=0)
    return Trace(path.stem, groups, float(frequency), int(end))


def _read_events(events: list, cycles_per_us: float) -> tuple[dict, dict, dict, dict]:
    """Process names, thread names, sort indices and ``X`` intervals (in cycles) by thread."""
    process: dict[Any, str] = {}
    thread: dict[tuple[Any, Any], str] = {}
    order: dict[tuple[Any, ...], float] = {}
    spans: dict[tuple[Any, Any], list[Interval]] = {}
    for ev in events:
        kind, pid, tid = ev.get("ph"), ev.get("pid"), ev.get("tid")
        args = ev.get("args") or {}
        if kind == "M":
            name = ev.get("name")
            if name == "process_name":
                process[pid] = str(args.get("name"))
            elif name == "thread_name":
                thread[(pid, tid)] = str(args.get("name"))
            elif name == "process_sort_index":
                order[(pid,)] = float(args.get("sort_index", 0))
            elif name == "thread_sort_index":
                order[(pid, tid)] = float(args.get("sort_index", 0))
        elif kind == "X":
            ts = float(ev["ts"])
            start = round(ts * cycles_per_us)
            end = round((ts + float(ev.get("dur", 0))) * cycles_per_us)
            spans.setdefault((pid, tid), []).append((start, end, str(ev.get("name", ""))))
    return process, thread, order, spans


def _rank(ident: Any) -> tuple[int, float, str]:
    """Sort key of a pid / tid: numbers in numeric order, before anything else."""
    if isinstance(ident, int | float) and not isinstance(ident, bool):
        return (0, float(ident), "")
    return (1, 0.0, str(ident))
