"""The analytic evaluator's closed form of chain forwarding against the recurrence it
unrolls, stepped hop by hop (a second method)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hyperdrive_sim.evaluators.analytic import _chain_arrivals


def _stepped(root: int, cycles: int, reach: int, free: list[int], latency: int):
    """leave_h = max(arrive_h, free_h) + cycles, arrive_{h+1} = leave_h + latency."""
    arrive, free = [root], list(free)
    for h in range(reach):
        leave = max(arrive[-1], free[h]) + cycles
        free[h] = leave
        arrive.append(leave + latency)
    return arrive, free


@pytest.mark.parametrize("seed", range(20))
def test_chain_closed_form_matches_the_stepped_recurrence(seed: int) -> None:
    # random busy links (a later hop may still be sending a longer earlier block), block
    # sizes, reaches and latencies: arrivals and the links' free times must be identical
    rng = np.random.default_rng(seed)
    hops = int(rng.integers(1, 9))
    free = rng.integers(0, 500, size=hops).astype(np.int64)
    root, cycles = int(rng.integers(0, 300)), int(rng.integers(1, 120))
    reach, latency = int(rng.integers(1, hops + 1)), int(rng.integers(0, 6))
    hw = SimpleNamespace(link_latency_cycles=latency)
    want_arrive, want_free = _stepped(root, cycles, reach, free.tolist(), latency)
    link_free = free.copy()
    got = _chain_arrivals(root, cycles, reach, link_free, hw)
    assert got.tolist() == want_arrive
    assert link_free.tolist() == want_free
