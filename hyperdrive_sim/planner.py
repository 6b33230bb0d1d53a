"""The planner: one mapping per organisation, with the chip's weight techniques applied.

mapping/ holds pure geometry and never imports techniques/; this dispatcher computes what
the chip's optional weight techniques do (kernel reuse, kernel dictionary, weight cache)
and hands them to the organisation's planner as a value, the way a ZigZag stage hands a
transformed workload to the next one.
"""

from __future__ import annotations

from functools import partial

from hyperdrive_sim.evaluators import evaluate
from hyperdrive_sim.mapping.costs import WeightTechniques
from hyperdrive_sim.mapping.depth_first import depth_first_plan
from hyperdrive_sim.mapping.pipeline import pipeline_plan
from hyperdrive_sim.mapping.plan import Plan, tiled_plan
from hyperdrive_sim.pricing import price, weight_buffer_bits
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import ChipSpec
from hyperdrive_sim.techniques.effects import weight_technique_effects
from hyperdrive_sim.techniques.weight_cache import steady_state_hits
from hyperdrive_sim.workload.network import ShapedNetwork


def weight_techniques(net: ShapedNetwork, chip: ChipSpec) -> WeightTechniques:
    """What ``chip``'s weight techniques do to ``net``'s layers (nothing when all are off)."""
    rule = None
    if chip.weight_cache_bits:
        rule = partial(
            steady_state_hits,
            capacity_bits=chip.weight_cache_bits,
            policy=chip.weight_cache_policy,
        )
    return WeightTechniques(weight_technique_effects(net, chip), rule)


def frame_energy_j(plan: Plan) -> float:
    """A candidate plan's energy per frame, priced as a run prices it (analytic schedule):
    how the depth-first planner compares stacks and band heights."""
    counts = evaluate(plan, "analytic")
    return price(counts, plan.hw, weight_buffer_bits(plan)).total_j


def build_plan(net: ShapedNetwork, hw: Hardware) -> Plan:
    """Map ``net`` onto ``hw`` by its organisation (and, tiled, its fusion); problems make
    ``fits`` false."""
    techniques = weight_techniques(net, hw.chip)
    if hw.system.organisation == "pipeline":
        return pipeline_plan(net, hw, techniques)
    if hw.system.fusion == "depth_first":
        return depth_first_plan(net, hw, techniques, frame_energy_j)
    return tiled_plan(net, hw, techniques)
