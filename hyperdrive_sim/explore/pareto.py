"""Non-dominated sorting: the Pareto front and the rank of every point behind it.

A point dominates another when it is no worse in every objective and better in at least
one. Rank 1 is the front; rank k is the front of what remains after removing ranks < k.
Objectives are turned into "smaller is better" by negating the maximised ones.

The ranks are found by efficient non-dominated sorting with binary search over the fronts
(Zhang et al., "An efficient approach to non-dominated sorting for evolutionary
multiobjective optimization", IEEE TEVC 2015): points are visited in lexicographic order, so
a point can only be dominated by points visited before it, and its rank is the first front
none of whose members dominates it; dominance by front k implies dominance by every front
before k, so that front is found by binary search. Memory is O(points x objectives), never a
points x points matrix. With two objectives each front is summarised by its lowest second
cost and with three by the staircase of its members' last two costs, so a point costs
O(log fronts x log members): O(n log^2 n) in all. With more objectives a point is compared
with all members of O(log fronts) fronts (numpy).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def _costs(values: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    costs = np.asarray(values, dtype=float).copy()
    if costs.ndim != 2 or costs.shape[1] != len(maximise):
        raise ValueError("values must be (points, objectives) with one sense per objective")
    costs[:, np.asarray(maximise, dtype=bool)] *= -1
    return costs


def _first_front(count: int, dominated_by: Callable[[int], bool]) -> int:
    """The first front index f in [0, count] with ``dominated_by(f)`` False (binary search;
    the predicate is True for a prefix of the fronts and False after it)."""
    lo, hi = 0, count
    while lo < hi:
        mid = (lo + hi) // 2
        if dominated_by(mid):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _ranks_2d(costs: np.ndarray, order: np.ndarray, ranks: np.ndarray) -> None:
    """Two objectives: front f is summarised by its lowest second cost and the lowest first
    cost among its members with that second cost (the first such member visited)."""
    best_y: list[float] = []
    x_at_best: list[float] = []
    xs, ys = costs[:, 0].tolist(), costs[:, 1].tolist()
    for i in order.tolist():
        x, y = xs[i], ys[i]

        def dominated(f: int, x: float = x, y: float = y) -> bool:
            # every member visited so far has first cost <= x
            return best_y[f] < y or (best_y[f] == y and x_at_best[f] < x)

        f = _first_front(len(best_y), dominated)
        if f == len(best_y):
            best_y.append(y)
            x_at_best.append(x)
        elif y < best_y[f]:
            best_y[f], x_at_best[f] = y, x
        ranks[i] = f + 1


def _ranks_3d(costs: np.ndarray, order: np.ndarray, ranks: np.ndarray) -> None:
    """Three objectives: every member visited so far has a first cost <= the point's, so a
    front dominates it when a member lies in the quadrant below its other two costs. Each
    front keeps the staircase of its members' (second, third) costs: sorted by the second,
    strictly falling in the third, each with the lowest first cost seen for that pair.
    A query and an insertion cost O(log members) (plus a list shift, done in C)."""
    from bisect import bisect_left, bisect_right

    stairs: list[tuple[list[float], list[float], list[float]]] = []  # (c1, c2, c0) lists
    c0s, c1s, c2s = costs[:, 0].tolist(), costs[:, 1].tolist(), costs[:, 2].tolist()
    for i in order.tolist():
        x, y, z = c0s[i], c1s[i], c2s[i]

        def dominated(f: int, x: float = x, y: float = y, z: float = z) -> bool:
            ys, zs, xs = stairs[f]
            j = bisect_right(ys, y) - 1
            if j < 0 or zs[j] > z:
                return False
            if zs[j] < z or ys[j] < y:
                return True
            return xs[j] < x  # same second and third cost: dominated unless a duplicate

        f = _first_front(len(stairs), dominated)
        if f == len(stairs):
            stairs.append(([], [], []))
        ys, zs, xs = stairs[f]
        j = bisect_left(ys, y)
        covered = (j > 0 and zs[j - 1] <= z) or (j < len(ys) and ys[j] == y and zs[j] <= z)
        if not covered:
            end = j
            while end < len(ys) and zs[end] >= z:
                end += 1
            ys[j:end], zs[j:end], xs[j:end] = [y], [z], [x]
        ranks[i] = f + 1


def _ranks_nd(costs: np.ndarray, order: np.ndarray, ranks: np.ndarray) -> None:
    """Any number of objectives: each front keeps its members' costs in a growing array."""
    fronts: list[np.ndarray] = []
    sizes: list[int] = []
    for i in order.tolist():
        p = costs[i]

        def dominated(f: int, p: np.ndarray = p) -> bool:
            members = fronts[f][: sizes[f]]
            return bool(np.any(np.all(members <= p, axis=1) & np.any(members < p, axis=1)))

        f = _first_front(len(fronts), dominated)
        if f == len(fronts):
            fronts.append(np.empty((16, costs.shape[1])))
            sizes.append(0)
        if sizes[f] == len(fronts[f]):  # grow by doubling: amortised O(1) per member
            fronts[f] = np.concatenate([fronts[f], np.empty_like(fronts[f])])
        fronts[f][sizes[f]] = p
        sizes[f] += 1
        ranks[i] = f + 1


def pareto_ranks(values: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """Rank (1 = non-dominated) of every row of ``values`` (points x objectives)."""
    costs = _costs(values, maximise)
    n, k = costs.shape
    ranks = np.zeros(n, dtype=np.int64)
    if n == 0:
        return ranks
    order = np.lexsort(costs.T[::-1])  # by the first cost, ties by the next, ...
    (_ranks_2d if k == 2 else _ranks_3d if k == 3 else _ranks_nd)(costs, order, ranks)
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
