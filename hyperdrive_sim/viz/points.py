"""Names, groups and selection of result points (rows of results.json)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from hyperdrive_sim.errors import InputError
from hyperdrive_sim.viz.load import Row, cell_key


def input_name(row: Row) -> str:
    """The input resolution as the user writes it: WIDTHxHEIGHT."""
    return f"{row['input_w']}x{row['input_h']}"


def mesh_name(row: Row) -> str:
    """The mesh as the user writes it: ROWSxCOLS."""
    return f"{row['mesh_rows']}x{row['mesh_cols']}"


#: the results column naming a point's alternative (``sweep.alternatives`` of the experiment)
ALTERNATIVE = "alternative"


def implied_by_alternative(points: list[Row], columns: Iterable[str]) -> tuple[str, ...]:
    """The ``columns`` whose value a point's alternative fixes (one value per alternative):
    the overrides that make each alternative, which its name already says. None without an
    ``alternative`` column."""
    named = [r for r in points if r.get(ALTERNATIVE) is not None]
    if not named:
        return ()
    implied = []
    for col in columns:
        if col == ALTERNATIVE:
            continue
        seen: dict[str, str] = {}
        if all(
            seen.setdefault(cell_key(r[ALTERNATIVE]), cell_key(r.get(col))) == cell_key(r.get(col))
            for r in named
        ):
            implied.append(col)
    return tuple(implied)


#: evaluator of the rows of other accelerators (hyperdrive_sim.baselines)
BASELINE = "baseline"
#: the result column naming the accelerator (chip) of a row
ACCELERATOR = "accelerator"


def is_baseline(row: Row) -> bool:
    """A row of another accelerator, priced by hyperdrive_sim.baselines (no mesh, no timing)."""
    return row.get("evaluator") == BASELINE


def _base(row: Row) -> tuple[str, ...]:
    if is_baseline(row):  # one chip of its own kind: the accelerator, not the mesh, names it
        return (str(row[ACCELERATOR]), str(row["network"]), input_name(row))
    return (str(row["network"]), input_name(row), mesh_name(row))


@dataclass(frozen=True)
class Varying:
    """The sweep columns that tell points of one network, input and mesh apart (iterating
    gives them), and the value most points share in each: labels name a setting only where
    a point departs from it, as the ``run`` table does, and ``note`` says what an unnamed
    setting is."""

    columns: tuple[str, ...] = ()
    #: (column, value as ``cell_key``) of the columns where one value is the most common
    usual: tuple[tuple[str, str], ...] = ()

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __contains__(self, column: object) -> bool:
        return column in self.columns

    def __len__(self) -> int:
        return len(self.columns)

    def without(self, column: str) -> Varying:
        """The same settings but ``column`` (e.g. the axis of a sweep curve)."""
        return Varying(
            tuple(c for c in self.columns if c != column),
            tuple((c, v) for c, v in self.usual if c != column),
        )

    def note(self) -> str:
        """``settings not named: name=value, ...`` (empty when every setting is named)."""
        named = ", ".join(f"{c.rsplit('.', 1)[-1]}={v}" for c, v in self.usual)
        return f"settings not named: {named}" if named else ""


#: no sweep setting tells points apart
NOT_VARYING = Varying()


def noted(title: str, varying: Varying) -> str:
    """``title`` with a last line saying which settings the labels leave unnamed."""
    note = varying.note()
    return f"{title}\n({note})" if note else title


def varying_columns(points: list[Row], extra_columns: Iterable[str]) -> Varying:
    """Sweep columns that tell apart points of one network, input and mesh, with the value
    most points share in each (when one is strictly the most common).

    Columns that merely restate those (e.g. ``mesh``, or ``tiling`` when each mesh belongs
    to one tiling family) are left out of labels and groups. ``accelerator`` comes first
    when the points run on more than one kind of chip (e.g. next to baselines), and is
    always named.
    """
    varying = []
    if len({r.get(ACCELERATOR) for r in points} - {None}) > 1:  # failed rows may have none
        varying.append(ACCELERATOR)
    extra_columns = tuple(extra_columns)
    implied = implied_by_alternative(points, extra_columns)  # the alternative's name says it
    for col in (c for c in extra_columns if c not in implied):
        seen: dict[tuple[str, ...], str] = {}
        for row in points:
            value = cell_key(row.get(col))
            if seen.setdefault(_base(row), value) != value:
                varying.append(col)
                break
    usual = []
    for col in (c for c in varying if c != ACCELERATOR):  # the accelerator: always named
        counts = Counter(cell_key(r[col]) for r in points if r.get(col) is not None)
        top = counts.most_common(2)
        if top and (len(top) == 1 or top[0][1] > top[1][1]):
            usual.append((col, top[0][0]))
    return Varying(tuple(varying), tuple(usual))


def settings(row: Row, varying: Varying, *, every: bool = False) -> tuple[str, ...]:
    """``name=value`` of each varying sweep setting the row has where it departs from the
    usual value (``every``: all of them); baselines have none."""
    usual = () if every else varying.usual
    return tuple(
        (
            cell_key(row.get(col))  # an alternative is named by its name alone
            if col == ALTERNATIVE
            else f"{col.rsplit('.', 1)[-1]}={cell_key(row.get(col))}"
        )
        for col in varying
        if col != ACCELERATOR
        and row.get(col) is not None
        and (col, cell_key(row.get(col))) not in usual
    )


def _head(row: Row, varying: Varying) -> tuple[str, ...]:
    """The accelerator's name, when it tells points apart."""
    named = row.get(ACCELERATOR) is not None and (ACCELERATOR in varying or is_baseline(row))
    return (str(row[ACCELERATOR]),) if named else ()


def point_label(row: Row, varying: Varying = NOT_VARYING, *, every: bool = False) -> str:
    """E.g. ``resnet34 224x224 4x4`` plus the sweep settings that tell the point apart
    (those that depart from the usual value; ``every``: all); prefixed with the accelerator
    when several run (``yodann resnet34 224x224``)."""
    mesh = () if is_baseline(row) else (mesh_name(row),)
    body = (str(row["network"]), input_name(row), *mesh)
    return " ".join((*_head(row, varying), *body, *settings(row, varying, every=every)))


def series_label(row: Row, varying: Varying = NOT_VARYING) -> str:
    """A point's label without its mesh: the name of a line across tilings."""
    body = (str(row["network"]), input_name(row))
    return " ".join((*_head(row, varying), *body, *settings(row, varying)))


def mesh_shape(row: Row) -> str:
    """``square``, ``wide`` (more columns than rows) or ``tall`` (more rows than columns)."""
    rows, cols = row["mesh_rows"], row["mesh_cols"]
    return "square" if rows == cols else "wide" if cols > rows else "tall"


def mesh_order(row: Row) -> tuple[int, int, int]:
    """Sort key of meshes in numeric order: chips, then rows (1x2 < 2x2 < 2x4 < 16x16);
    baselines (no mesh) after every mesh."""
    if is_baseline(row) or not row.get("mesh_rows") or not row.get("mesh_cols"):
        return (1, 0, 0)
    return (0, row["mesh_rows"] * row["mesh_cols"], row["mesh_rows"])


def input_groups(points: list[Row]) -> dict[str, list[Row]]:
    """Points by network and input (``resnet34 224x224``), in order of first appearance;
    within a group meshes in numeric order (``mesh_order``), ties in results order."""
    groups: dict[str, list[Row]] = {}
    for row in points:
        groups.setdefault(f"{row['network']} {input_name(row)}", []).append(row)
    return {name: sorted(rows, key=mesh_order) for name, rows in groups.items()}


#: characters kept in file names built from point labels; the rest become "_"
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def file_label(row: Row, varying: Varying = NOT_VARYING) -> str:
    """A point as a file-name part: ``resnet34_224x224_2x2_link_bandwidth_gbps-0.8``, only
    ``[A-Za-z0-9_.-]`` (every varying sweep setting as ``name-value``: file names do not
    change with the other points)."""
    text = point_label(row, varying, every=True).replace("=", "-").replace(" ", "_")
    return "".join(c if c in _SAFE else "_" for c in text)


def tiling_series(points: list[Row], varying: Varying) -> dict[str, list[Row]]:
    """Hyperdrive points grouped by network, input and varying settings, where a group spans
    meshes (baselines have no mesh to tile).

    Groups with a single mesh shape are dropped: they have no tiling to compare.
    """
    groups: dict[str, list[Row]] = {}
    for row in (r for r in points if not is_baseline(r)):
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

    @classmethod
    def parse(cls, text: str, key: str = "--layer-point") -> PointSelector:
        """``NETWORK,WxH,RxC``; trailing parts may be left out and any part left empty
        (``resnet34,,2x2``) to match every value. InputError naming ``key`` otherwise."""
        parts = [p.strip() or None for p in text.split(",")]
        if len(parts) > 3 or not any(parts):
            raise InputError(
                f"expected NETWORK,WxH,RxC (e.g. resnet34,224x224,2x2), got {text!r}", key=key
            )
        parts += [None] * (3 - len(parts))
        for part, what in zip(parts[1:], ("input WIDTHxHEIGHT", "mesh ROWSxCOLS"), strict=True):
            size = (part or "1x1").split("x")
            if len(size) != 2 or not all(s.isdigit() for s in size):
                raise InputError(f"expected the {what} as e.g. 224x224, got {part!r}", key=key)
        return cls(*parts)


def select_point(points: list[Row], selector: PointSelector | None = None) -> Row:
    """The first point ``selector`` matches that fits, else the first it matches at all;
    Hyperdrive points before baselines (which have no layer timing)."""
    matches = [r for r in points if selector is None or selector.matches(r)]
    if not matches:
        known = ", ".join(dict.fromkeys(point_label(r) for r in points)) or "no points"
        raise InputError(f"no point matches {selector}; the results hold: {known}")
    ranked = sorted(matches, key=lambda r: (is_baseline(r), not r["fits"]))  # stable
    return ranked[0]
