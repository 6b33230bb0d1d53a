"""The summary table `hyperdrive-sim run` prints: its columns (``--columns``) and footer.

By default it answers a sizing question on one line per point: how many chips and how much
silicon, how fast, how much energy per frame and where that energy goes (core, on-chip
memory, off-chip I/O, chip-to-chip I/O, leakage, as shares that add up to 100%), the I/O
share and the system efficiency. ``--columns`` picks and orders the columns by the names
below, or by any results.csv column name. Column widths follow the cells shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hyperdrive_sim.errors import InputError
from hyperdrive_sim.report.words import plural

__all__ = ["COLUMNS", "DEFAULT", "FOOTER", "Column", "footer", "parse_columns", "plural", "render"]

Row = dict[str, Any]

#: energy parts of a row, in table order: column name, header, results.csv column
ENERGY_PARTS = (
    ("core", "core%", "core_energy_j"),
    ("memory", "mem%", "onchip_mem_energy_j"),
    ("offchip", "off%", "offchip_io_energy_j"),
    ("c2c", "c2c%", "c2c_io_energy_j"),
    ("leakage", "leak%", "leakage_energy_j"),
)
#: the parts the I/O share counts
IO_PARTS = ("offchip_io_energy_j", "c2c_io_energy_j")


def number(row: Row, key: str) -> float | None:
    """A numeric cell of a results row, or None (missing, blank, not a number)."""
    value = row.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def share(row: Row, keys: Sequence[str]) -> float | None:
    """The parts ``keys`` of the energy per frame, in percent of ``total_energy_j``."""
    total, parts = number(row, "total_energy_j"), [number(row, k) for k in keys]
    if not total or None in parts:
        return None
    return 100 * sum(parts) / total  # type: ignore[arg-type]


def _fmt(value: float | None, spec: str, scale: float = 1) -> str:
    return "-" if value is None else format(value * scale, spec)


@dataclass(frozen=True)
class Column:
    """One table column: its ``--columns`` name, header, cell text and alignment."""

    name: str
    header: str
    cell: Callable[[Row], str]
    numeric: bool = True


def _key(key: str, spec: str, scale: float = 1) -> Callable[[Row], str]:
    return lambda row: _fmt(number(row, key), spec, scale)


def _pair(first: str, second: str) -> Callable[[Row], str]:
    def cell(row: Row) -> str:
        a, b = row.get(first), row.get(second)
        return "-" if a is None or b is None else f"{a}x{b}"

    return cell


def _die(row: Row) -> str:
    """One chip's die area, marked ``p`` when the pad ring sets it (pad-limited)."""
    cell = _fmt(number(row, "chip_area_mm2"), ".2f")
    return cell + ("p" if row.get("pad_limited") is True else " ")


COLUMNS: dict[str, Column] = {
    c.name: c
    for c in (
        Column("network", "network", lambda r: str(r.get("network", "-")), numeric=False),
        Column("accelerator", "accelerator", lambda r: str(r.get("accelerator", "-")), False),
        Column("input", "input", _pair("input_w", "input_h")),
        Column("mesh", "mesh", _pair("mesh_rows", "mesh_cols")),
        Column("chips", "chips", _key("chips", "d")),
        Column("area", "mm2 total", _key("silicon_area_mm2", ".1f")),
        Column("die", "die mm2", _die),
        Column("fps", "fps", _key("fps", ".1f")),
        Column("energy", "mJ/frame", _key("total_energy_j", ".3f", 1e3)),
        *(
            Column(name, header, lambda r, k=key: _fmt(share(r, (k,)), ".1f"))
            for name, header, key in ENERGY_PARTS
        ),
        Column("io", "I/O %", lambda r: _fmt(share(r, IO_PARTS), ".1f")),
        Column("efficiency", "TOp/s/W", _key("system_tops_per_w", ".2f")),
    )
}
DEFAULT = tuple(COLUMNS)

#: the footer line that defines the shares a table shows
FOOTER = {
    "io": "I/O % = off-chip plus chip-to-chip I/O energy (off% + c2c%), as a share of the "
    "energy per frame",
    "die": "die mm2 = one chip's die area; p: pad-limited (the pad ring, not the core, sets it)",
    "parts": "shares of the energy per frame: core% core, mem% on-chip memory, off% off-chip "
    "I/O, c2c% chip-to-chip I/O, leak% leakage",
}


def parse_columns(values: Sequence[str], available: Sequence[str] = ()) -> tuple[Column, ...]:
    """The columns ``--columns`` asks for (repeatable or comma-separated), in that order:
    names of :data:`COLUMNS` or of the results' own columns (``available``). InputError
    naming the option and the closest name otherwise."""
    if not values:
        return tuple(COLUMNS.values())
    chosen = []
    for name in (v.strip() for value in values for v in value.split(",")):
        if not name:
            continue
        if name in COLUMNS:
            chosen.append(COLUMNS[name])
        elif name in available:
            chosen.append(Column(name, name, _any(name)))
        else:
            import difflib

            names = [*COLUMNS, *available]
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(
                f"unknown column {name!r}{hint}; expected any of {', '.join(COLUMNS)}, "
                "or a results.csv column",
                key="--columns",
            )
    return tuple(chosen)


def _any(key: str) -> Callable[[Row], str]:
    def cell(row: Row) -> str:
        value = row.get(key)
        if value is None:
            return "-"
        return format(value, ".4g") if number(row, key) is not None else str(value)

    return cell


def render(rows: Sequence[Row], columns: Sequence[Column], notes: Sequence[str]) -> list[str]:
    """The table's lines: header, one line per row (with its note last), then the footer
    lines that define the shares shown. Widths follow the widest cell of each column."""
    cells = [[c.cell(row) for c in columns] for row in rows]
    widths = [
        max([len(c.header)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)
    ]

    def join(texts: Sequence[str], note: str) -> str:
        parts = [
            t.rjust(w) if c.numeric else t.ljust(w)
            for t, w, c in zip(texts, widths, columns, strict=True)
        ]
        return (" ".join(parts) + (f"  {note}" if note else "")).rstrip()

    lines = [join([c.header for c in columns], "note")]
    lines += [join(line, note) for line, note in zip(cells, notes, strict=True)]
    return lines


def footer(columns: Sequence[Column]) -> list[str]:
    """Lines defining the share columns among ``columns`` (none when there are none)."""
    names = {c.name for c in columns}
    lines = []
    if "die" in names:
        lines.append(FOOTER["die"])
    if "io" in names:
        lines.append(FOOTER["io"])
    if names & {name for name, _, _ in ENERGY_PARTS}:
        lines.append(FOOTER["parts"])
    return lines
