"""Evaluators time a Plan and count what happens; all of them return Counts."""

from __future__ import annotations

from collections.abc import Callable

from hyperdrive_sim.evaluators import analytic, des
from hyperdrive_sim.evaluators.counts import Counts
from hyperdrive_sim.mapping.plan import Plan

EVALUATORS: dict[str, Callable[[Plan], Counts]] = {
    "analytic": analytic.evaluate,
    "simpy": des.evaluate,
}


def evaluate(plan: Plan, evaluator: str) -> Counts:
    return EVALUATORS[evaluator](plan)


__all__ = ["EVALUATORS", "Counts", "evaluate"]
