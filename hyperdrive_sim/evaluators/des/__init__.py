"""The discrete-event (SimPy) evaluator: contention, stalls and pipelining of a Plan.

See docs/simulation.md for the model. ``evaluate`` returns Counts like every evaluator;
``simulate_timeline`` also returns the Timeline, which ``write_trace`` exports.
"""

from __future__ import annotations

from hyperdrive_sim.evaluators.counts import Counts
from hyperdrive_sim.evaluators.des.engine import run
from hyperdrive_sim.evaluators.des.timeline import Timeline, write_trace
from hyperdrive_sim.mapping.plan import Plan


def evaluate(plan: Plan) -> Counts:
    """Simulate one frame of ``plan`` event by event."""
    return run(plan).counts


def simulate_timeline(plan: Plan) -> tuple[Counts, Timeline]:
    """Simulate one frame and keep every component's busy and stall intervals."""
    result = run(plan, record=True)
    assert result.timeline is not None
    return result.counts, result.timeline


__all__ = ["Timeline", "evaluate", "run", "simulate_timeline", "write_trace"]
