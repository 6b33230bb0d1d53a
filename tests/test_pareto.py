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


@pytest.mark.parametrize("objectives", [2, 3])
def test_fast_paths_match_the_general_sort(objectives) -> None:
    """The two- and three-objective sorts (staircases) against the all-members comparison
    of the general path, on 3,000 points with many ties and duplicates."""
    from hyperdrive_sim.explore import pareto

    rng = np.random.default_rng(7)
    costs = rng.integers(0, 12, size=(3000, objectives)).astype(float)
    order = np.lexsort(costs.T[::-1])
    fast, general = np.zeros(3000, dtype=np.int64), np.zeros(3000, dtype=np.int64)
    (pareto._ranks_2d if objectives == 2 else pareto._ranks_3d)(costs, order, fast)
    pareto._ranks_nd(costs, order, general)
    assert fast.tolist() == general.tolist()
    assert fast.min() == 1 and fast.max() > 5  # many fronts: the search is exercised


def test_front_of_100000_points_is_bounded_in_time_and_memory() -> None:
    """The documented limit (limits.MAX_POINTS = 100,000 design points) sorted in a child
    process: the former points x points dominance matrix needed 10 GB here (10^10 booleans);
    the sort now stays under 1 GB and well under a minute."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import resource, time
        import numpy as np
        from hyperdrive_sim import limits
        from hyperdrive_sim.explore.pareto import pareto_ranks
        values = np.random.default_rng(0).random((limits.MAX_POINTS, 3))
        start = time.perf_counter()
        ranks = pareto_ranks(values, [False, True, False])
        print(time.perf_counter() - start, ranks.min(),
              resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()  # fmt: skip
    seconds, first, peak_kb = float(out[0]), int(out[1]), int(out[2])
    assert first == 1
    assert peak_kb < 1024 * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"
    assert seconds < 60
