"""Which design points to re-evaluate with a second evaluator, and what moved when they were.

A front found with the analytic schedule is refined with the event model: the front and
every point within a margin of it are evaluated again, the space is re-ranked, and this is
repeated until no point that is not yet refined lies within the margin of the new front.
A point is left unrefined only when some front point is no worse in every objective the
evaluator cannot change (chips, area) and beats it by more than a factor ``1 + margin`` in
every objective it can change (frame rate, energy, latency); so every point of the final
front has been refined, and a point left out would have to be more than ``margin`` better
than the analytic schedule says to reach it.

Points that meet the constraints are ranked; a point that fits but misses a constraint on
an evaluator-dependent column by no more than the margin may meet it once refined, so it is
a candidate as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: result columns both evaluators give the same value (the spec, the areas and the counts:
#: both evaluate the same plan, so they count the same actions and bits)
EVALUATOR_FIXED = frozenset({
    "chips", "mesh_rows", "mesh_cols", "input_h", "input_w", "voltage_v", "frequency_mhz",
    "fmm_capacity_bits", "fmm_peak_bits", "chip_area_mm2", "silicon_area_mm2", "ops", "macs",
    "macs_skipped", "xnor_macs", "offchip_bits", "weight_bits", "image_bits", "result_bits",
    "c2c_bits", "c2c_border_bits", "c2c_weight_bits", "c2c_reduce_bits", "c2c_gather_bits",
})  # fmt: skip

#: what happened to a refined point's place on the front
JOINED, LEFT, STAYED_ON, STAYED_OFF = "joined", "left", "stayed on", "stayed off"


def _worsen(values: np.ndarray, maximise: bool, margin: float) -> np.ndarray:
    """``values`` made worse by a factor ``1 + margin`` (whatever their sign)."""
    up = np.where(values >= 0, values * (1 + margin), values / (1 + margin))
    down = np.where(values >= 0, values / (1 + margin), values * (1 + margin))
    return down if maximise else up


def shielded(
    front: np.ndarray, points: np.ndarray, objectives: Sequence[tuple[str, bool]], margin: float
) -> np.ndarray:
    """For each row of ``points``: does a row of ``front`` beat it by more than ``margin`` in
    every evaluator-dependent objective and no worse in the fixed ones? (``objectives`` are
    (column, maximise), the columns of both arrays.)"""
    if front.size == 0 or points.size == 0:
        return np.zeros(len(points), dtype=bool)
    beats = np.ones((len(points), len(front)), dtype=bool)
    for k, (column, maximise) in enumerate(objectives):
        f, q = front[None, :, k], points[:, None, k]
        if column in EVALUATOR_FIXED:
            beats &= (f >= q) if maximise else (f <= q)
        else:
            worse = _worsen(f, maximise, margin)
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

        front = values(fronts.get(case, [])).reshape(-1, len(objectives))
        safe = shielded(front, values(pool), objectives, margin)
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
