"""Which design points to re-evaluate with a second evaluator, and what moved when they were.

A front found with the analytic schedule is refined with the event model: the front and
every point within a margin of it are evaluated again, the space is re-ranked, and this is
repeated until no point that is not yet refined lies within the margin of the new front.
A point is left unrefined only when some front point is no worse in every objective the
evaluator cannot change (chips, area) and beats it by more than a factor ``1 + margin`` in
every objective it can change (frame rate, latency); so every point of the final front has
been refined, and a point left out would have to be more than ``margin`` better than the
analytic schedule says to reach it. The evaluators differ in time only: the energy of a
frame moves with it only through the leakage (power x time), so the margin of the energy
(and of the system efficiency) is ``margin`` times the front point's leakage share.

Points that meet the constraints are ranked; a point that fits but misses a constraint on
an evaluator-dependent column by no more than the margin may meet it once refined, so it is
a candidate as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: result columns both evaluators give the same value: the spec, the areas, the counts (both
#: evaluate the same plan, so they count the same actions and bits) and the energies priced
#: from the counts
EVALUATOR_FIXED = frozenset({
    "chips", "mesh_rows", "mesh_cols", "input_h", "input_w", "voltage_v", "frequency_mhz",
    "fmm_capacity_bits", "fmm_peak_bits", "chip_area_mm2", "silicon_area_mm2", "ops", "macs",
    "macs_skipped", "xnor_macs", "offchip_bits", "weight_bits", "image_bits", "result_bits",
    "c2c_bits", "c2c_border_bits", "c2c_weight_bits", "c2c_reduce_bits", "c2c_gather_bits",
    "core_energy_j", "onchip_mem_energy_j", "offchip_io_energy_j", "c2c_io_energy_j",
    "offchip_weight_energy_j", "image_io_energy_j", "core_tops_per_w",
})  # fmt: skip
#: columns that change with time only through the leakage energy (power x time): the
#: evaluators' difference in time reaches them scaled by the leakage's share of the energy
LEAKAGE_SCALED = frozenset({"total_energy_j", "system_tops_per_w"})

#: what happened to a refined point's place on the front
JOINED, LEFT, STAYED_ON, STAYED_OFF = "joined", "left", "stayed on", "stayed off"


def _worsen(values: np.ndarray, maximise: bool, margin: np.ndarray) -> np.ndarray:
    """``values`` made worse by a factor ``1 + margin`` (whatever their sign)."""
    up = np.where(values >= 0, values * (1 + margin), values / (1 + margin))
    down = np.where(values >= 0, values / (1 + margin), values * (1 + margin))
    return down if maximise else up


def margins(
    rows: Sequence[dict[str, Any]], objectives: Sequence[tuple[str, bool]], margin: float
) -> np.ndarray:
    """The margin of each row's objectives (rows x objectives): ``margin`` for a time-like
    column, ``margin`` x the row's leakage share of its energy for the frame energy and the
    system efficiency, 0 for a column the evaluator cannot change."""
    out = np.zeros((len(rows), len(objectives)))
    for i, row in enumerate(rows):
        total, leak = row.get("total_energy_j"), row.get("leakage_energy_j")
        share = leak / total if total and leak is not None else 1.0
        for k, (column, _) in enumerate(objectives):
            if column in LEAKAGE_SCALED:
                out[i, k] = margin * min(max(share, 0.0), 1.0)
            elif column not in EVALUATOR_FIXED:
                out[i, k] = margin
    return out


def shielded(
    front: np.ndarray,
    front_margins: np.ndarray,
    points: np.ndarray,
    objectives: Sequence[tuple[str, bool]],
) -> np.ndarray:
    """For each row of ``points``: does a row of ``front`` beat it in every objective the
    evaluator can change by more than that front point's margin (``front_margins``, same
    shape) and is it no worse in the others? (``objectives`` are (column, maximise), the
    columns of the arrays.)"""
    if front.size == 0 or points.size == 0:
        return np.zeros(len(points), dtype=bool)
    beats = np.ones((len(points), len(front)), dtype=bool)
    for k, (column, maximise) in enumerate(objectives):
        f, q = front[None, :, k], points[:, None, k]
        if column in EVALUATOR_FIXED:
            beats &= (f >= q) if maximise else (f <= q)
        else:
            worse = _worsen(f, maximise, front_margins[None, :, k])
            beats &= (worse > q) if maximise else (worse < q)
    return beats.any(axis=1)


def near_feasible(
    row: dict[str, Any], constraints: Sequence[tuple[str, Any]], margin: float
) -> bool:
    """A row that fits and misses only constraints on evaluator-dependent columns, each by
    no more than ``margin`` of its bound (``constraints``: (result column, constraint))."""
    if row.get("fits") is not True:
        return False
    for column, c in constraints:
        value = row.get(column)
        if c.holds(value):
            continue
        if column in EVALUATOR_FIXED or value is None:
            return False
        if abs(value - c.value) > margin * abs(c.value):
            return False
    return True


def candidates(
    rows: Sequence[dict[str, Any]],
    objectives: Sequence[tuple[str, bool]],
    constraints: Sequence[tuple[str, Any]],
    case_of: Callable[[dict[str, Any]], tuple],
    margin: float,
    refined: Callable[[dict[str, Any]], bool],
) -> list[int]:
    """Indices of the rows not yet refined that lie within ``margin`` of their case's front
    (``pareto_rank`` 1; ``constraints`` as (result column, constraint))."""
    fronts: dict[tuple, list[int]] = {}
    pools: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        case = case_of(row)
        if row.get("pareto_rank") == 1:
            fronts.setdefault(case, []).append(i)
        if refined(row):
            continue
        if row.get("constraints_ok") or near_feasible(row, constraints, margin):
            pools.setdefault(case, []).append(i)
    out: list[int] = []
    for case, pool in pools.items():

        def values(idx: list[int]) -> np.ndarray:
            return np.array([[rows[i][c] for c, _ in objectives] for i in idx], dtype=float)

        idx = fronts.get(case, [])
        front = values(idx).reshape(-1, len(objectives))
        spread = margins([rows[i] for i in idx], objectives, margin)
        safe = shielded(front, spread, values(pool), objectives)
        out += [i for i, s in zip(pool, safe, strict=True) if not s]
    return sorted(out)


def movement(before: int | None, after: int | None) -> str:
    """What refining did to a point's place on the front (ranks 1 = on it, None = unranked)."""
    if before == 1:
        return STAYED_ON if after == 1 else LEFT
    return JOINED if after == 1 else STAYED_OFF


def change(before: Any, after: Any) -> float | None:
    """Relative change from ``before`` to ``after`` (None where either is missing or 0)."""
    if before in (None, 0) or after is None:
        return None
    return after / before - 1
