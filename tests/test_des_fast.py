"""The simpy evaluator's fast path gives exactly the results of its plain reference path.

``des.run(plan)`` (fast) schedules lean events and delivers a message's last hop without
an event of its own; ``des.run(plan, fast=False)`` simulates every event with simpy's own
classes and loop. On random small systems with contention (narrow links and interface,
latencies, one to three weight-buffer slots, frames back to back, every distribution,
routing, exchange and partitioning) both must give identical counts, cycles and
timelines, and the same number of model events (simpy's event ids: the fast path takes the
same ids in the same order), while processing fewer events.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_des_properties import networks

from hyperdrive_sim.errors import HyperdriveSimError
from hyperdrive_sim.evaluators import des
from hyperdrive_sim.mapping.plan import Plan
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, SystemSpec

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CHIP = yaml.safe_load((CONFIGS / "chips/hyperdrive.yaml").read_text())
SYSTEM = yaml.safe_load((CONFIGS / "systems/hyperdrive_mesh.yaml").read_text())
ENERGY = EnergyTable.model_validate(
    yaml.safe_load((CONFIGS / "energy/hyperdrive_22fdx.yaml").read_text())
)


@st.composite
def plans(draw) -> Plan:
    """A few convs (maybe grouped, strided, an add, a pool, a classifier) on a small mesh."""
    b, _ = draw(networks(inputs=(8, 16), outputs=(16, 32, 48), groupings=(1, 2), classes=(10,)))
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    chip = {k: v for k, v in CHIP.items() if k != "sources"} | {
        "tile_rows": draw(st.integers(1, 4)),
        "tile_cols": draw(st.integers(1, 4)),
        "fmpus_per_tile": draw(st.sampled_from([4, 8, 16])),
        "weight_buffer_blocks": draw(st.integers(1, 3)),
    }
    system = {k: v for k, v in SYSTEM.items() if k != "sources"} | {
        "offchip_bandwidth_gbps": draw(st.sampled_from([0.8, 3.2, 12.8])),
        "offchip_latency_ns": draw(st.sampled_from([0, 100])),
        "link_bandwidth_gbps": draw(st.sampled_from([0.2, 1.6, 6.4])),
        "link_latency_ns": draw(st.sampled_from([0, 20, 200])),
        "weight_distribution": draw(st.sampled_from(["bus", "chain"])),
        "corner_routing": draw(st.sampled_from(["relay", "diagonal"])),
        "border_exchange": draw(st.sampled_from(["bulk", "streamed"])),
        "partitioning": draw(st.sampled_from(["spatial", "spatial", "hybrid", "channel"])),
        "frames": draw(st.integers(1, 3)),
    }
    hw = Hardware(
        ChipSpec.model_validate(chip),
        SystemSpec.model_validate(system),
        ENERGY,
        Mesh.model_validate(f"{rows}x{cols}"),
    )
    side = draw(st.sampled_from([16, 24, 32, 48]))
    try:
        plan = build_plan(b.build().at(side, side), hw)
    except HyperdriveSimError:  # e.g. a map too small for the mesh: not this test's subject
        assume(False)
    assume(plan.fits)
    return plan


def assert_same_counts(a, b) -> None:
    for field in dataclasses.fields(a):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), field.name
        else:
            assert x == y, field.name


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans())
def test_fast_path_gives_the_reference_results(plan: Plan) -> None:
    fast, plain = des.run(plan), des.run(plan, fast=False)
    assert_same_counts(fast.counts, plain.counts)
    assert fast.events == plain.events
    assert plain.processed == plain.events
    assert fast.processed <= fast.events


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans())
def test_fast_path_gives_the_reference_timeline(plan: Plan) -> None:
    fast, plain = des.run(plan, record=True), des.run(plan, record=True, fast=False)
    assert_same_counts(fast.counts, plain.counts)
    assert fast.timeline is not None and plain.timeline is not None
    assert fast.timeline.tracks == plain.timeline.tracks
    assert fast.timeline.end == plain.timeline.end
