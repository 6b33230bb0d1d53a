"""Names, groups and selection of result points (rows of results.json)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hyperdrive_sim.errors import InputError
from hyperdrive_sim.viz.load import Row, cell_key


def input_name(row: Row) -> str:
    """The input resolution as the user writes it: WIDTHxHEIGHT."""
    return f"{row['input_w']}x{row['input_h']}"


def mesh_name(row: Row) -> str:
    """The mesh as the user writes it: ROWSxCOLS."""
    return f"{row['mesh_rows']}x{row['mesh_cols']}"


def _base(row: Row) -> tuple[str, ...]:
    return (str(row["network"]), input_name(row), mesh_name(row))


def varying_columns(points: list[Row], extra_columns: Iterable[str]) -> tuple[str, ...]:
    """Sweep columns that tell apart points of one network, input and mesh.

    Columns that merely restate those (e.g. ``mesh``, or ``tiling`` when each mesh belongs
    to one tiling family) are left out of labels and groups.
    """
    varying = []
    for col in extra_columns:
        seen: dict[tuple[str, ...], str] = {}
        for row in points:
            value = cell_key(row.get(col))
            if seen.setdefault(_base(row), value) != value:
                varying.append(col)
                break
    return tuple(varying)


def _setting(row: Row, col: str) -> str:
    return f"{col.rsplit('.', 1)[-1]}={cell_key(row.get(col))}"


def point_label(row: Row, varying: tuple[str, ...] = ()) -> str:
    """E.g. ``resnet34 224x224 4x4`` plus the sweep settings that tell the point apart."""
    return " ".join((*_base(row), *(_setting(row, c) for c in varying)))


def series_label(row: Row, varying: tuple[str, ...] = ()) -> str:
    """A point's label without its mesh: the name of a line across tilings."""
    return " ".join((str(row["network"]), input_name(row), *(_setting(row, c) for c in varying)))


def tiling_series(points: list[Row], varying: tuple[str, ...]) -> dict[str, list[Row]]:
    """Points grouped by network, input and varying settings, where a group spans meshes.

    Groups with a single mesh shape are dropped: they have no tiling to compare.
    """
    groups: dict[str, list[Row]] = {}
    for row in points:
        groups.setdefault(series_label(row, varying), []).append(row)
    return {
        name: sorted(rows, key=lambda r: (r["chips"], r["mesh_rows"]))
        for name, rows in groups.items()
        if len({mesh_name(r) for r in rows}) > 1
    }


@dataclass(frozen=True)
class PointSelector:
    """Picks a point by network, input (WIDTHxHEIGHT) and mesh (ROWSxCOLS); None matches all."""

    network: str | None = None
    input: str | None = None
    mesh: str | None = None

    def matches(self, row: Row) -> bool:
        return (
            (self.network is None or row["network"] == self.network)
            and (self.input is None or input_name(row) == self.input)
            and (self.mesh is None or mesh_name(row) == self.mesh)
        )

    def __str__(self) -> str:
        parts = (self.network, self.input, self.mesh)
        return " ".join(p for p in parts if p is not None) or "any point"


def select_point(points: list[Row], selector: PointSelector | None = None) -> Row:
    """The first point ``selector`` matches that fits, else the first it matches at all."""
    matches = [r for r in points if selector is None or selector.matches(r)]
    if not matches:
        known = ", ".join(dict.fromkeys(point_label(r) for r in points)) or "no points"
        raise InputError(f"no point matches {selector}; the results hold: {known}")
    return next((r for r in matches if r["fits"]), matches[0])
