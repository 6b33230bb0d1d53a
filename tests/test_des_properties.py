"""Property tests of the simpy evaluator against the analytic one (the oracle).

On a contention-free system both must agree: identical action counts and total cycles
within 0.5%. Contention-free here means off-chip and link bandwidths
so high that every transfer takes one cycle, zero latencies, and a weight buffer with room
for every block. The buffer matters: with the preset's double buffer, a ``bus`` read waits
until every chip that needs the block has a free slot, so the chip with the largest share
paces the others' weights (back-pressure), which the analytic evaluator does not model;
chips with smaller shares then finish layers later than it predicts, and when that puts a
cross-chip reduction on the critical path the totals differ by more than 0.5%.
What is left are one-cycle transfers queueing behind each other (image tiles and weight
blocks share the off-chip interface, halos share links), a few cycles per layer, which the
analytic evaluator ignores; the networks are made heavy enough (thousands of cycles) for
0.5% to cover them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hyperdrive_sim.evaluators import analytic, des
from hyperdrive_sim.limits import MAX_BUFFER_BLOCKS
from hyperdrive_sim.mapping.plan import Plan
from hyperdrive_sim.mapping.streaming import image_rows
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, SystemSpec
from hyperdrive_sim.workload.builder import NetBuilder

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CHIP = yaml.safe_load((CONFIGS / "chips/hyperdrive.yaml").read_text())
SYSTEM = yaml.safe_load((CONFIGS / "systems/hyperdrive_mesh.yaml").read_text())
ENERGY = EnergyTable.model_validate(
    yaml.safe_load((CONFIGS / "energy/hyperdrive_22fdx.yaml").read_text())
)
HUGE_GBPS = 1e6  # 1e7 bits per cycle at 100 MHz: every transfer here takes one cycle
MIN_CYCLES = 6000  # 0.5% of it covers the one-cycle queueing described above

# Fields of Counts that are fixed by the plan or by what is sent, not by timing.
EXACT = (
    "macs",
    "fp16_adds",
    "fmm_read_bits",
    "fmm_write_bits",
    "wbuf_read_bits",
    "wbuf_write_bits",
    "busy_cycles",
    "offchip_weight_bits",
    "c2c_border_bits",
    "c2c_weight_bits",
    "c2c_reduce_bits",
    "c2c_gather_bits",
    "image_in_bits",
    "result_out_bits",
)


def hardware(mesh: str, chip: dict | None = None, system: dict | None = None) -> Hardware:
    """The presets with overrides."""
    chip_d = {k: v for k, v in CHIP.items() if k != "sources"} | (chip or {})
    system_d = {k: v for k, v in SYSTEM.items() if k != "sources"} | (system or {})
    return Hardware(
        ChipSpec.model_validate(chip_d),
        SystemSpec.model_validate(system_d),
        ENERGY,
        Mesh.model_validate(mesh),
    )


@st.composite
def networks(
    draw,
    inputs: tuple[int, ...] = (16, 32),
    outputs: tuple[int, ...] = (32, 48, 64),
    groupings: tuple[int, ...] = (1, 2, 4),
    classes: tuple[int, ...] = (10, 100),
) -> tuple[NetBuilder, int]:
    """A few convs (kernel 1/3, stride 1/2, groups), maybe an add, a pool, a classifier;
    and an input scale (2 or 3)."""
    cin = draw(st.sampled_from(inputs))
    b = NetBuilder("random", input_channels=cin)
    for _ in range(draw(st.integers(1, 3))):
        out = draw(st.sampled_from(outputs))
        groups = draw(st.sampled_from([g for g in groupings if out % g == 0 and cin % g == 0]))
        b.conv(out, draw(st.sampled_from([1, 3])), draw(st.sampled_from([1, 1, 2])), groups=groups)
        cin = out
    if draw(st.booleans()):
        x = b.last
        b.add(x, b.conv(cin, 3, src=x))
    if draw(st.booleans()):
        b.pool(2)
    if draw(st.booleans()):
        b.global_pool()
        b.dense(draw(st.sampled_from(classes)))
    return b, draw(st.sampled_from([2, 3]))


@st.composite
def contention_free_plans(draw) -> Plan:
    b, scale = draw(networks())
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    chip = {
        "tile_rows": draw(st.integers(1, 8)),
        "tile_cols": draw(st.integers(1, 8)),
        "fmpus_per_tile": draw(st.integers(1, 32)),
        "fmm_bits": 10**12,
        # room for every block: at most 3 convs x 64 + 100 dense blocks (1 FMPU) here
        "weight_buffer_blocks": MAX_BUFFER_BLOCKS,
    }
    system = {
        "offchip_bandwidth_gbps": HUGE_GBPS,
        "link_bandwidth_gbps": HUGE_GBPS,
        "offchip_latency_ns": 0,
        "link_latency_ns": 0,
        "weight_distribution": draw(st.sampled_from(["bus", "chain"])),
        "corner_routing": draw(st.sampled_from(["relay", "diagonal"])),
        "border_exchange": draw(st.sampled_from(["bulk", "streamed"])),
        "partitioning": draw(st.sampled_from(["spatial", "spatial", "hybrid", "channel"])),
    }
    hw = hardware(f"{rows}x{cols}", chip, system)
    # every chip gets `scale` Tile-PU passes per row and column of the first map, or more
    side = scale * max(rows * chip["tile_rows"], cols * chip["tile_cols"], 16)
    plan = build_plan(b.build().at(side, side), hw)
    assume(plan.fits)
    return plan


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contention_free_plans())
def test_simpy_agrees_with_analytic_when_contention_free(plan: Plan) -> None:
    a = analytic.evaluate(plan)
    assume(a.total_cycles >= MIN_CYCLES)
    s = des.evaluate(plan)
    for name in EXACT:
        assert np.array_equal(getattr(a, name), getattr(s, name)), name
    assert s.layer_names == a.layer_names
    assert abs(s.total_cycles - a.total_cycles) <= 0.005 * a.total_cycles
    # contention only ever delays
    assert s.total_cycles >= a.total_cycles


@settings(max_examples=15, deadline=None)
@given(contention_free_plans())
def test_per_chip_ops_sum_to_the_network_ops(plan: Plan) -> None:
    s = des.evaluate(plan)
    assert int(s.macs.sum()) == plan.network.macs
    assert int(s.offchip_weight_bits.sum()) == sum(lp.weight_bits for lp in plan.layers)
    # every chip finishes each layer no earlier than the previous one
    assert (np.diff(s.layer_end) >= 0).all()
    # layer times add up from the frame's start: cycle 0 where the first layer reads its
    # tile as it arrives, else when the last whole tile arrived (the io stall)
    whole = [c for c, rows in enumerate(image_rows(plan)) if rows is None]
    start = int(s.stall_io_cycles[whole].max()) if whole else 0
    assert int(s.layer_cycles.sum()) == int(s.layer_end[-1]) - start
