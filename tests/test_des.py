"""The simpy evaluator on small cases derived by hand, plus conservation, determinism, trace.

Units used in every derivation: the preset chip runs at 100 MHz, so a bandwidth of
``g`` Gbit/s moves ``10 * g`` bits per cycle and a latency of ``t`` ns is ``t / 10`` cycles.
Feature maps are FP16 (16 bits per value), weights 1 bit. Transfers take
``ceil(bits / bits_per_cycle)`` cycles on their channel (one at a time, in request order)
and arrive ``latency`` cycles after they leave it. The image loader is started before the
weight stream, so at time 0 the first image tile goes first; each of them asks for the
off-chip interface again when its previous transfer has left it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from hyperdrive_sim.errors import SimulationError
from hyperdrive_sim.evaluators import EVALUATORS, analytic, des
from hyperdrive_sim.mapping.plan import Plan
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.simulate import simulate
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, SystemSpec
from hyperdrive_sim.workload.builder import NetBuilder

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _preset(rel: str) -> dict:
    data = yaml.safe_load((CONFIGS / rel).read_text())
    data.pop("sources", None)
    return data


#: the hand derivations here follow one frame alone
ONE_FRAME = {"frames": 1}


def hardware(mesh: str, chip: dict | None = None, system: dict | None = None) -> Hardware:
    """The presets with overrides, one frame alone unless ``system`` says otherwise."""
    return Hardware(
        ChipSpec.model_validate(_preset("chips/hyperdrive.yaml") | (chip or {})),
        SystemSpec.model_validate(
            _preset("systems/hyperdrive_mesh.yaml") | ONE_FRAME | (system or {})
        ),
        EnergyTable.model_validate(_preset("energy/hyperdrive_22fdx.yaml")),
        Mesh.model_validate(mesh),
    )


HUGE = 1e6  # Gbit/s: one cycle for any transfer here
FAST_IO = {"offchip_bandwidth_gbps": HUGE, "offchip_latency_ns": 0}


def _plan(builder: NetBuilder, side: tuple[int, int], mesh: str, **system) -> Plan:
    plan = build_plan(builder.build().at(*side), hardware(mesh, system=system))
    assert plan.fits, plan.reason
    return plan


def _one_conv(cin: int, out: int, k: int = 1) -> NetBuilder:
    b = NetBuilder("one_conv", input_channels=cin)
    b.conv(out, k)
    return b


def test_registered_and_reachable_from_simulate() -> None:
    assert EVALUATORS["simpy"] is des.evaluate
    r = simulate(
        "resnet18",
        "64x64",
        CONFIGS / "chips/hyperdrive.yaml",
        CONFIGS / "systems/hyperdrive_mesh.yaml",
        CONFIGS / "energy/hyperdrive_22fdx.yaml",
        mesh="2x2",
        evaluator="simpy",
    )
    assert r.fits and r.counts is not None and r.counts.evaluator == "simpy"


# ------------------------------------------------------------------------------------------
# (a), (b): weight streaming slower than compute
#
# One 1x1 conv, 64 -> 64 channels, on a 1x1 input pixel, on one chip (C = 16 FMPUs, 7x7
# Tile-PUs, double-buffered weights). Blocks: 64/16 = 4 blocks of 16 ch x 64 taps x 1 bit =
# 1024 bits. A phase: ceil(1/7)*ceil(1/7) * 64 taps = 64 cycles, so the chip consumes
# 1024/64 = 16 bits/cycle (1.6 Gbit/s) of weights. Image and result: 64 values x 16 bits =
# 1024 bits each. Off-chip latency 100 ns = 10 cycles.


def _stream_plan(offchip_gbps: float) -> Plan:
    return _plan(
        _one_conv(64, 64),
        (1, 1),
        "1x1",
        offchip_bandwidth_gbps=offchip_gbps,
        offchip_latency_ns=100,
    )


def test_streaming_bound_layer_takes_the_streaming_time() -> None:
    # 0.8 Gbit/s = 8 bits/cycle: image and each block take 1024/8 = 128 cycles, twice a
    # phase (64); each phase's 16 result channels 32. Off-chip interface: image [0,128],
    # blocks [128,256], [256,384] (arrivals +10: 138, 266, 394). Each result is asked for
    # when its phase ends and takes turns with the reads: result 0 (330) [384,416], block
    # 2 [416,544] -> 554, result 1 (458) [544,576], block 3 [576,704] -> 714, result 2
    # (618) [704,736]. Phases: 266-330, 394-458, 554-618, 714-778; result 3 [778,810]
    # arrives at 820. So the chip finishes at 778, not at image + compute = 138 + 4*64.
    plan = _stream_plan(0.8)
    c = des.evaluate(plan)
    assert plan.layers[0].phases == 4
    assert int(plan.layers[0].phase_cycles[0]) == 64
    assert c.finish_cycles.tolist() == [778]
    assert c.total_cycles == 820
    assert c.stall_io_cycles.tolist() == [0]  # the image is there before block 0
    # waited 266 for block 0, then 394-330, 554-458 and 714-618
    assert c.stall_weight_cycles.tolist() == [[266 + 64 + 96 + 96]]
    assert c.busy_cycles.tolist() == [[4 * 64]]


def test_weight_stall_appears_and_grows_as_offchip_bandwidth_falls() -> None:
    # 3.2 Gbit/s (32 bits/cycle, twice the demand): transfers take 32 cycles, a phase's
    # results 8. Image [0,32] -> 42, block 0 [32,64] -> 74, block 1 [64,96] -> 106. The
    # chip waits 74 for block 0 (unavoidable: it comes after the image), then never again:
    # block 2 waits for the slot of block 0 (freed at the end of phase 0, 138) and, behind
    # at most result 0, arrives by 188, before phase 2 starts (202); block 3 likewise.
    # 0.8 Gbit/s: 266 + 64 + 96 + 96 = 522 (see the test above).
    # 0.4 Gbit/s (4 bits/cycle): transfers take 256, results 64; image [0,256], block 0
    # [256,512] -> 522, block 1 [512,768] -> 778; result 0 (586) [768,832], block 2
    # [832,1088] -> 1098, result 1 (842) [1088,1152], block 3 [1152,1408] -> 1418.
    # Stalls 522, 778-586 = 192, 1098-842 = 256, 1418-1162 = 256: 1226.
    stalls = [int(des.evaluate(_stream_plan(g)).stall_weight_cycles.sum()) for g in (3.2, 0.8, 0.4)]
    assert stalls == [74, 522, 1226]


def test_bus_back_pressure_lets_the_busiest_chip_pace_the_stream() -> None:
    # A 1x1 conv (16 -> 64 channels: 4 blocks) on a 1x3 input over a 1x2 mesh of chips with
    # one Tile-PU: chip 0 holds 2 pixels (phase 2*16 = 32 cycles), chip 1 one (16 cycles).
    # Off-chip: 1 cycle per transfer, latency 0: image 0 [0,1] -> 1, block 0 [1,2] -> 2,
    # image 1 [2,3] -> 3, block 1 [3,4] -> 4. Chip 0 computes 2-34 (2 cycles waiting for
    # block 0), 34-66, 66-98, 98-130; chip 1 (block 0 at 2, then 1 cycle for its image)
    # 3-19, 19-35. Each phase's results (one cycle) are read as it ends.
    # With double buffering one bus read needs a free slot on both chips: block 2 waits for
    # chip 0 to free block 0 (34) and arrives at 35, block 3 for block 1 (66) -> 67. Chip 1
    # computes block 2 at 35-51, then waits 67 - 51 = 16 for block 3: done at 83, not 67.
    net = _one_conv(16, 64).build().at(1, 3)
    one_tile = {"tile_rows": 1, "tile_cols": 1}
    plan = build_plan(net, hardware("1x2", one_tile, FAST_IO))
    assert plan.layers[0].phase_cycles.tolist() == [32, 16]
    c = des.evaluate(plan)
    assert c.finish_cycles.tolist() == [130, 83]
    assert c.stall_weight_cycles.tolist() == [[2, 2 + 16]]
    assert c.stall_io_cycles.tolist() == [0, 1]
    assert c.total_cycles == 130 + 1  # chip 0's last phase's one-cycle result read
    # with room for every block the stream never waits: chip 1 is done at 3 + 4*16 = 67
    roomy = build_plan(net, hardware("1x2", one_tile | {"weight_buffer_blocks": 4}, FAST_IO))
    assert des.evaluate(roomy).finish_cycles.tolist() == [130, 67]
    # the analytic evaluator shares the interface the same way (image 0, block 0, image 1,
    # block 1, ...) and holds a bus read until every chip needing it has a free slot: it
    # gives the same 83, and 67 with room for every block
    assert analytic.evaluate(plan).finish_cycles.tolist() == [130, 83]
    assert analytic.evaluate(roomy).finish_cycles.tolist() == [130, 67]


# ------------------------------------------------------------------------------------------
# (c): slow links make border stalls
#
# Two 3x3 convs (16 -> 16 channels) on a 4x4 input over a 1x2 mesh: each chip holds 4 rows
# x 2 columns. conv1 reads the image (halo from off-chip); conv2 needs one column of its
# neighbour's conv1 output: 4 px x 16 ch x 16 bits = 1024 bits each way. Per chip:
# 1 block, phase = 1 Tile-PU pass x 16*9 = 144 taps = 144 cycles. The 8 pixels of a chip
# sit on 8 Tile-PUs of the 7x7 array, one each, computed in the same lock-step pass, and
# the pass includes the border column: all 144 cycles of conv2 wait for the halo.


def _border_plan(link_gbps: float) -> Plan:
    b = NetBuilder("two_convs", input_channels=16)
    b.conv(16, 3)
    b.conv(16, 3)
    return _plan(b, (4, 4), "1x2", link_bandwidth_gbps=link_gbps, link_latency_ns=0, **FAST_IO)


def test_slow_links_make_border_stalls() -> None:
    # Off-chip: every transfer 1 cycle, latency 0: image 0 [0,1], conv1 block [1,2],
    # image 1 [2,3], conv2 block [3,4]. Chip 0: conv1 2-146; chip 1: conv1 3-147.
    # Fast links (1 cycle): the halos arrive at 147 (from chip 0) and 148 (from chip 1):
    # chip 0 waits 148 - 146 = 2 cycles, chip 1 none.
    # 0.1 Gbit/s = 1 bit/cycle: each halo takes 1024 cycles on its own link: chip 0's
    # arrives at chip 1 at 146 + 1024 = 1170, chip 1's at chip 0 at 147 + 1024 = 1171.
    # Stalls: chip 0 1171 - 146 = 1025, chip 1 1170 - 147 = 1023.
    plan = _border_plan(0.1)
    assert plan.layers[1].phase_border_cycles.tolist() == [144, 144]
    assert des.evaluate(_border_plan(HUGE)).stall_border_cycles.tolist() == [[0, 0], [2, 0]]
    slow = des.evaluate(plan)
    assert slow.stall_border_cycles.tolist() == [[0, 0], [1025, 1023]]
    assert slow.finish_cycles.tolist() == [1171 + 144, 1170 + 144]
    assert slow.c2c_border_bits.tolist() == [0, 2 * 1024]


# ------------------------------------------------------------------------------------------
# (d): chain distribution fills a pipeline


def test_chain_pipeline_fill_on_a_4x4_mesh() -> None:
    # A 1x1 conv (16 -> 16) on a 4x4 input over 4x4 chips: one pixel each, one block of
    # 16*16 = 256 bits, phase = 16 cycles. Off-chip: 1 cycle per transfer, latency 0:
    # image 0 [0,1] -> 1, the block [1,2] -> 2 at the root, image k >= 1 [k+1,k+2] -> k+2.
    # Links 0.8 Gbit/s = 8 bits/cycle, 20 ns = 2 cycles: a hop takes 256/8 + 2 = 34 cycles,
    # so the chip at snake position p has the block at 2 + 34 p (its image is long there).
    # Root: 2-18. Last in snake order, chip (3,0) at p = 15: 2 + 510 = 512, done at 528:
    # (chips - 1) = 15 hops of one block later than the root.
    plan = _plan(
        _one_conv(16, 16),
        (4, 4),
        "4x4",
        weight_distribution="chain",
        link_bandwidth_gbps=0.8,
        link_latency_ns=20,
        **FAST_IO,
    )
    c = des.evaluate(plan)
    finish = c.finish_cycles.reshape(4, 4)
    assert finish[0, 0] == 18
    assert finish[3, 0] == 528
    assert finish[3, 0] - finish[0, 0] == 15 * 34
    # every chip along the snake one hop later than the one before
    snake = [(r, c_) for r in range(4) for c_ in (range(4) if r % 2 == 0 else range(3, -1, -1))]
    assert [int(finish[p]) for p in snake] == [18 + 34 * p for p in range(16)]
    assert c.c2c_weight_bits.tolist() == [256 * 15]
    # the bus delivers to every chip at once: everyone done by its image + one phase
    bus = des.evaluate(
        replace(plan, hw=hardware("4x4", system={**FAST_IO, "weight_distribution": "bus"}))
    )
    assert bus.finish_cycles.max() == 17 + 16


# ------------------------------------------------------------------------------------------
# Conservation, determinism, deadlock, trace


def _resnetish() -> Plan:
    b = NetBuilder("resnetish", input_channels=8)
    b.conv(32, 3, 2)
    x = b.pool(2)
    b.conv(32, 3, src=x)
    y = b.conv(32, 3)
    b.add(x, y)
    b.global_pool()
    b.dense(10)
    return _plan(b, (64, 48), "3x4")


def test_two_runs_are_bit_identical() -> None:
    plan = _resnetish()
    first, second = des.evaluate(plan), des.evaluate(plan)
    assert first.to_dict() == second.to_dict()
    counts, _ = des.simulate_timeline(plan)
    assert counts.to_dict() == first.to_dict()


def test_counts_are_conserved_and_match_the_plan() -> None:
    plan = _resnetish()
    c, a = des.evaluate(plan), analytic.evaluate(plan)
    assert int(c.macs.sum()) == plan.network.macs
    assert c.image_in_bits.tolist() == plan.image_in_bits.tolist()
    assert c.result_out_bits.tolist() == plan.result_out_bits.tolist()
    for name in ("c2c_border_bits", "c2c_reduce_bits", "offchip_weight_bits", "busy_cycles"):
        assert np.array_equal(getattr(c, name), getattr(a, name)), name
    # the reduction: 12 chips, 11 send one 32-value vector of FP16 one hop
    gpool = c.layer_names.index("gpool1")
    assert c.c2c_reduce_bits[gpool] == 11 * 32 * 16
    assert c.total_cycles >= int(c.finish_cycles.max())
    assert int(c.layer_end[-1]) == int(c.finish_cycles.max())


def test_a_halo_nobody_sends_is_a_deadlock_naming_the_chip() -> None:
    plan = _border_plan(HUGE)
    conv2 = plan.layers[1]
    halo = conv2.halo_bits.copy()
    halo[0, 0] = 256  # chip (0,0) now expects a halo from the north: off the 1x2 mesh
    broken = replace(plan, layers=(plan.layers[0], replace(conv2, halo_bits=halo)))
    with pytest.raises(SimulationError, match=r"chip \(0,0\) is stuck in layer 'conv2'"):
        des.evaluate(broken)


def test_a_halo_from_a_later_layer_is_a_deadlock() -> None:
    # conv2 rewired to read conv3's output: chips wait in conv2 for halos sent after conv3.
    b = NetBuilder("three", input_channels=16)
    for _ in range(3):
        b.conv(16, 3)
    plan = _plan(b, (4, 4), "1x2", **FAST_IO)
    conv2 = plan.layers[1]
    layer = replace(conv2.info.layer, inputs=("conv3",))
    rewired = replace(conv2, info=replace(conv2.info, layer=layer))
    broken = replace(plan, layers=(plan.layers[0], rewired, plan.layers[2]))
    with pytest.raises(
        SimulationError, match=r"stuck in layer 'conv2'.*has not finished layer 'conv3'"
    ):
        des.evaluate(broken)


def test_trace_has_a_named_track_per_chip_and_link(tmp_path: Path) -> None:
    plan = _resnetish()
    counts, timeline = des.simulate_timeline(plan)
    path = tmp_path / "trace.json"
    des.write_trace(timeline, path, plan.hw.frequency_hz)
    data = json.loads(path.read_text())
    events = data["traceEvents"]
    names = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    chips = {f"chip ({r},{c})" for r in range(3) for c in range(4)}
    links = {n for n in names if n.startswith("link ")}
    assert chips <= names
    # 3x4 mesh: 3*3 horizontal + 2*4 vertical neighbour pairs, both directions (relay)
    assert len(links) == 2 * (3 * 3 + 2 * 4)
    assert "off-chip" in names
    spans = [e for e in events if e["ph"] == "X"]
    assert spans and all(e["dur"] >= 0 and e["ts"] >= 0 for e in spans)
    # the chip tracks' work adds up to the counted busy cycles
    busy = counts.busy_cycles.sum(axis=0)
    for c in range(plan.hw.chips):
        assert timeline.busy_cycles(f"chip ({c // 4},{c % 4})") == busy[c]
    util = timeline.utilisation("off-chip", 1000)
    assert ((util >= 0) & (util <= 1)).all()
