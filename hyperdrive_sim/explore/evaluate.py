"""Evaluate one group of design points: one plan, one evaluation per system, priced per
variant.

The group's plan is built for its largest memory; each variant then only checks its own
memory capacity against the same geometry (``capacity_problems``) and prices the counts
with its own chip, energy and area tables. The plan does not depend on the system
(bandwidths, latencies, routing), so variants that differ in it share the plan and are
evaluated once per distinct system. A group whose geometry already rules out every variant
(a mesh finer than a map, or a peak need above the largest memory) is answered from the
geometry alone, without evaluating time.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from hyperdrive_sim.evaluators import evaluate
from hyperdrive_sim.mapping.fit import depth_first_peak, peak_of
from hyperdrive_sim.mapping.plan import Plan, capacity_problems, geometry
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.pricing import price, weight_buffer_bits
from hyperdrive_sim.result import Result
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import PointSpec


def _hardware(point: PointSpec) -> Hardware:
    return Hardware(point.chip, point.system, point.energy, point.mesh, point.area)


def evaluate_group(payload_json: str, base: str, _trace: str | None = None) -> dict[str, Any]:
    """Rows of every variant of a group (the worker task of ``hyperdrive-sim explore``)."""
    import json

    from hyperdrive_sim.simulate import resolve_network

    payload = json.loads(payload_json)
    point = PointSpec.model_validate(payload["point"])
    variants = [PointSpec.model_validate(v) for v in payload["variants"]]
    net = resolve_network(point.network, Path(base)).at(point.input.height, point.input.width)
    hw = _hardware(point)
    geo = geometry(net, hw)
    depth_first = hw.system.fusion == "depth_first"  # its planner's choice follows the FMM
    peak = depth_first_peak(net, hw, geo) if depth_first else peak_of(geo, hw.mesh.cols)
    evaluated = not geo.problems and peak.bits <= point.chip.fmm_bits
    plan = build_plan(net, hw) if evaluated else None
    counts_of: dict[str, Any] = {}  # counts per (system, evaluator)
    rows = []
    for v in variants:
        hw_v = _hardware(v)
        problems = (*capacity_problems(geo, hw_v), *geo.problems)
        chosen = plan
        if depth_first and plan is not None:  # the stack and bands that fit this FMM
            chosen = build_plan(net, hw_v)
            problems = chosen.problems
        if chosen is not None and not problems:
            plan_v = replace(chosen, hw=hw_v, problems=())
            key = v.system.model_dump_json() + v.evaluator
            key += str(v.chip.fmm_bits) if depth_first else ""
            if key not in counts_of:
                counts_of[key] = evaluate(plan_v, v.evaluator)
            counts = counts_of[key]
            result = Result(plan_v, counts, price(counts, hw_v, weight_buffer_bits(plan_v)))
        else:
            zeros = np.zeros(hw_v.chips, dtype=np.int64)
            plan_v = Plan(net, hw_v, (), zeros, zeros, problems)
            result = Result(plan_v, None, None)
        row = {**result.row, **v.labels, "fmm_peak_bits": peak.bits if not geo.problems else None}
        row["status"] = "ok" if result.fits else "infeasible"
        row["evaluator"] = v.evaluator
        rows.append(row)
    return {"rows": rows, "evaluated": evaluated}
