"""Non-dominated sorting: the Pareto front and the rank of every point behind it.

A point dominates another when it is no worse in every objective and better in at least
one. Rank 1 is the front; rank k is the front of what remains after removing ranks < k.
Objectives are turned into "smaller is better" by negating the maximised ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: rows of the dominance matrix computed at once (bounds memory to CHUNK x n booleans)
CHUNK = 2048


def _costs(values: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    costs = np.asarray(values, dtype=float).copy()
    if costs.ndim != 2 or costs.shape[1] != len(maximise):
        raise ValueError("values must be (points, objectives) with one sense per objective")
    costs[:, np.asarray(maximise, dtype=bool)] *= -1
    return costs


def dominance(costs: np.ndarray) -> np.ndarray:
    """``d[i, j]`` is True when point i dominates point j (all costs <=, one <)."""
    n = len(costs)
    d = np.zeros((n, n), dtype=bool)
    for start in range(0, n, CHUNK):
        block = costs[start : start + CHUNK]
        le = np.ones((len(block), n), dtype=bool)
        lt = np.zeros((len(block), n), dtype=bool)
        for k in range(costs.shape[1]):  # one objective at a time: 2-D, no (n, n, k) array
            a, b = block[:, k, None], costs[None, :, k]
            le &= a <= b
            lt |= a < b
        d[start : start + CHUNK] = le & lt
    return d


def pareto_ranks(values: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """Rank (1 = non-dominated) of every row of ``values`` (points x objectives)."""
    costs = _costs(values, maximise)
    n = len(costs)
    ranks = np.zeros(n, dtype=np.int64)
    if n == 0:
        return ranks
    dom = dominance(costs)
    dominated_by = dom.sum(axis=0, dtype=np.int64)
    rank = 0
    current = np.flatnonzero(dominated_by == 0)
    while current.size:
        rank += 1
        ranks[current] = rank
        dominated_by -= dom[current].sum(axis=0, dtype=np.int64)
        dominated_by[current] = -1  # ranked: never picked again
        current = np.flatnonzero(dominated_by == 0)
    return ranks


def front_2d(x: np.ndarray, y: np.ndarray, max_x: bool, max_y: bool) -> np.ndarray:
    """Indices of the 2-objective front of (x, y), sorted by x: the staircase a plot draws."""
    costs = _costs(np.column_stack([x, y]), [max_x, max_y])
    order = np.lexsort((costs[:, 1], costs[:, 0]))
    keep, best = [], np.inf
    for i in order:
        if costs[i, 1] < best:
            keep.append(i)
            best = costs[i, 1]
    return np.asarray(keep, dtype=np.int64)
