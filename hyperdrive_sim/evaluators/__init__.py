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


#: evaluators that also return a Timeline (for ``--trace``)
TIMELINES: dict[str, Callable[[Plan], tuple[Counts, des.Timeline]]] = {
    "analytic": analytic.evaluate_timeline,
    "simpy": des.simulate_timeline,
}


def evaluate(plan: Plan, evaluator: str) -> Counts:
    if plan.stages is not None:
        from hyperdrive_sim.evaluators.pipeline import evaluate_pipeline

        return evaluate_pipeline(plan, evaluator)
    return EVALUATORS[evaluator](plan)


def evaluate_timeline(plan: Plan, evaluator: str) -> tuple[Counts, des.Timeline]:
    """Counts and the frame's timeline, from either evaluator."""
    if plan.stages is not None:
        from hyperdrive_sim.evaluators.pipeline import pipeline_timeline

        return pipeline_timeline(plan, evaluator)
    return TIMELINES[evaluator](plan)


__all__ = ["EVALUATORS", "TIMELINES", "Counts", "evaluate", "evaluate_timeline"]
