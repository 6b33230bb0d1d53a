"""Non-dominated sorting, checked against a brute-force definition written apart from it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hyperdrive_sim.explore.pareto import front_2d, pareto_ranks


def brute_force_ranks(values: np.ndarray, maximise: list[bool]) -> list[int]:
    """Peel fronts by the textbook definition, pair by pair, with plain Python loops."""
    sign = [-1 if m else 1 for m in maximise]
    cost = [[v * s for v, s in zip(row, sign, strict=True)] for row in values.tolist()]

    def dominates(a, b):
        return all(x <= y for x, y in zip(a, b, strict=True)) and any(
            x < y for x, y in zip(a, b, strict=True)
        )

    ranks = [0] * len(cost)
    left = set(range(len(cost)))
    rank = 0
    while left:
        rank += 1
        front = {i for i in left if not any(dominates(cost[j], cost[i]) for j in left if j != i)}
        for i in front:
            ranks[i] = rank
        left -= front
    return ranks


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    values=arrays(
        np.float64,
        st.tuples(st.integers(0, 40), st.integers(1, 4)),
        elements=st.sampled_from([0.0, 1.0, 2.0, 2.5, 3.0, 10.0]),  # ties are common
    ),
    data=st.data(),
)
def test_ranks_match_brute_force(values, data) -> None:
    maximise = data.draw(
        st.lists(st.booleans(), min_size=values.shape[1], max_size=values.shape[1])
    )
    assert pareto_ranks(values, maximise).tolist() == brute_force_ranks(values, maximise)


def test_front_by_hand() -> None:
    # energy (min), fps (max): (1, 10) and (2, 20) are both best at something; (2, 5) is
    # dominated by (1, 10); (3, 20) by (2, 20). Ranks by hand: 1, 1, 2, 2.
    values = np.array([[1, 10], [2, 20], [2, 5], [3, 20]], dtype=float)
    assert pareto_ranks(values, [False, True]).tolist() == [1, 1, 2, 2]


def test_front_2d_staircase() -> None:
    x = np.array([3.0, 1.0, 2.0, 4.0])
    y = np.array([1.0, 3.0, 2.0, 0.5])
    # minimise both: every point is on the front, sorted by x
    assert front_2d(x, y, False, False).tolist() == [1, 2, 0, 3]
    # maximise y: the point with the highest y at the lowest x (x=1, y=3) dominates all
    assert front_2d(x, y, False, True).tolist() == [1]


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError):
        pareto_ranks(np.zeros((3, 2)), [True])
