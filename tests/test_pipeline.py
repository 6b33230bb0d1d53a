"""The layer-pipelined organisation (``system.organisation: pipeline``, docs/pipeline.md).

Stages own consecutive layers on bands of the mesh with their weights stationary in the FMM;
maps are re-tiled between bands over the links. Expected values are derived by hand in the
comments, from the bundled preset: 7x7 Tile-PUs of 16 FMPUs, FP16 maps, 100 MHz
(``efficient``), off-chip 12.8 Gbit/s = 128 bit/cycle with 100 ns = 10 cycles latency,
links 1.6 Gbit/s = 16 bit/cycle with 20 ns = 2 cycles latency.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from hyperdrive_sim import cli
from hyperdrive_sim.evaluators import evaluate
from hyperdrive_sim.mapping.pipeline import cut_points
from hyperdrive_sim.mapping.plan import Plan
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.pricing import price, weight_buffer_bits
from hyperdrive_sim.result import Result
from hyperdrive_sim.spec.defaults import default_section
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import Mesh
from hyperdrive_sim.workload.builder import NetBuilder
from hyperdrive_sim.workload.zoo import get_network

CHIP = default_section("chip")
SYSTEM = default_section("system")
ENERGY = default_section("energy")
MAP = 8 * 8 * 16 * 16  # one 16-channel 8x8 FP16 map: 16,384 bits
WEIGHTS = 16 * 16 * 9  # one 16 -> 16 3x3 conv: 2,304 weight bits
TINY = Path(__file__).resolve().parent.parent / "configs" / "networks" / "tiny_residual.yaml"


def _hw(mesh: str, stages: int = 0, chip=CHIP) -> Hardware:
    system = SYSTEM.model_copy(update={"organisation": "pipeline", "pipeline_stages": stages})
    return Hardware(chip, system, ENERGY, Mesh.model_validate(mesh))


def _two_convs():
    """16-channel 8x8 image -> conv 3x3 pad 1 (16 ch) -> conv 3x3 pad 1 (16 ch)."""
    b = NetBuilder("two_convs", input_channels=16)
    b.conv(16, 3, name="c1")
    b.conv(16, 3, name="c2")
    return b.build().at(8, 8)


def _run(plan: Plan, evaluator: str = "analytic") -> Result:
    counts = evaluate(plan, evaluator)
    return Result(plan, counts, price(counts, plan.hw, weight_buffer_bits(plan)))


def test_two_stages_on_1x2_by_hand() -> None:
    plan = build_plan(_two_convs(), _hw("1x2", 2))
    assert plan.fits, plan.reason
    # a 1x2 mesh is wider than tall: bands are whole columns, one chip per stage
    assert [(st.label, st.first, st.stop, st.chips) for st in plan.stages] == [
        ("stage 1 of 2 (column 0)", 0, 1, (0,)),
        ("stage 2 of 2 (column 1)", 1, 2, (1,)),
    ]
    # conv on one chip, 8x8 outputs: 1 block x ceil(8/7)^2 = 4 pixel steps x 16*9 taps = 576
    assert [lp.work.cycles.tolist() for lp in plan.layers] == [[576, 0], [0, 576]]
    # FMM reads: 64 pixels x 144 taps x 16 bits = 147,456 of maps + 2,304 stationary weights
    assert [lp.work.fmm_read_bits.tolist() for lp in plan.layers] == [
        [147_456 + WEIGHTS, 0],
        [0, 147_456 + WEIGHTS],
    ]
    # writes: each conv's output map; chip 1 also writes the map it receives from chip 0
    assert [lp.work.fmm_write_bits.tolist() for lp in plan.layers] == [[MAP, 0], [0, 2 * MAP]]
    # FMM need: input map + output map + stationary weights + next frame's input (a map)
    assert [lp.fmm_need_bits.tolist() for lp in plan.layers] == [
        [3 * MAP + WEIGHTS, 0],
        [0, 3 * MAP + WEIGHTS],
    ]
    # the whole c1 map goes from chip 0 to chip 1 in one message over one link
    (msg,) = plan.stages[1].inbound
    assert (msg.src, msg.dst, msg.bits, msg.links) == (0, 1, MAP, ((0, 1),))

    r = _run(plan)
    c = r.counts
    assert c.offchip_weight_bits.sum() == 0 and r.row["weight_bits"] == 0
    assert c.c2c_border_bits.tolist() == [0, MAP]  # inter-stage bits on the receiver's layer
    # image 16,384 bits / 128 = 128 cycles + 10 latency; stage 1: 576; transfer 16,384 / 16
    # = 1,024 cycles + 2 latency; stage 2: 576; results 128 cycles + 10 latency
    assert c.total_cycles == 128 + 10 + 576 + 1026 + 576 + 128 + 10 == 2454
    # steady state: each 6.4 Mbit FMM also holds a second output map (4 MAP + WEIGHTS), so
    # both stages are double-buffered and send one frame while computing the next: stage 1
    # max(576, 1026), stage 2 max(576, 128); the interface carries image + results (256)
    assert [st.double_buffered for st in plan.stages] == [True, True]
    assert c.frame_interval_cycles == max(576, 1026) == 1026
    assert r.row["fps"] == pytest.approx(100e6 / 1026)
    assert r.row["latency_s"] == pytest.approx(2454 / 100e6)
    assert r.row["fps"] > 1 / r.row["latency_s"]
    # conservation: every MAC of the network on some chip (2 convs x 64 x 16 x 144)
    assert int(c.macs.sum()) == 2 * 64 * 16 * 144 == plan.network.macs
    assert c.layer_cycles.sum() <= c.total_cycles
    assert [row["placement"] for row in r.layer_rows()] == [
        "stage 1 of 2 (column 0)",
        "stage 2 of 2 (column 1)",
    ]


@pytest.mark.parametrize("evaluator", ["analytic", "simpy"])
def test_a_stage_without_room_for_a_second_output_map_sends_then_computes(evaluator) -> None:
    # The same two stages with an FMM of exactly 3 MAP + WEIGHTS: each stage fits (input,
    # output, weights and the next frame's input) but has no room for a second output map,
    # so it holds its output until sent: stage 1 576 + 1026 = 1602 (stage 2: 576 + 128).
    # One bit more than 4 MAP + WEIGHTS is room enough: max(576, 1026) = 1026.
    for fmm, double, interval in (
        (3 * MAP + WEIGHTS, False, 1602),
        (4 * MAP + WEIGHTS, True, 1026),
    ):
        chip = CHIP.model_copy(update={"fmm_bits": fmm})
        plan = build_plan(_two_convs(), _hw("1x2", 2, chip))
        assert plan.fits, plan.reason
        assert [st.double_buffered for st in plan.stages] == [double, double]
        assert evaluate(plan, evaluator).frame_interval_cycles == interval


def test_two_stages_on_2x2_retiling_by_hand() -> None:
    plan = build_plan(_two_convs(), _hw("2x2", 2))
    assert plan.fits, plan.reason
    first, second = plan.stages
    assert (first.chips, second.chips) == ((0, 1), (2, 3))  # rows 0 and 1
    # c1's 8x8 map lies on chips 0 (cols 0-3) and 1 (cols 4-7). Chip 2 computes c2's columns
    # 0-3 and needs input columns 0-4, chip 3 columns 3-7: 8 rows x 5 cols x 16 ch x 16 bits
    # = 10,240 bits each. XY routes: 0->2 down (1 hop, 4 cols = 8,192 bits), 1->2 west then
    # down (2 hops, column 4 = 2,048), 0->3 east then down (2 hops, column 3), 1->3 down.
    got = sorted((t.src, t.dst, t.bits, len(t.links)) for t in second.inbound)
    assert got == [(0, 2, 8192, 1), (0, 3, 2048, 2), (1, 2, 2048, 2), (1, 3, 8192, 1)]
    # every bit sent is received: per receiver, the sum of its messages is its input tile
    # with halo, as the tiled geometry of the band computes it (second method)
    received = np.zeros(4, dtype=np.int64)
    for t in second.inbound:
        received[t.dst] += t.bits
    assert received[2:].tolist() == second.received_bits.tolist() == [10_240, 10_240]
    band = Mesh(rows=1, cols=2)
    tiled = Hardware(CHIP, SYSTEM.model_copy(update={"mesh": band}), ENERGY, band)
    assert build_plan(second.plan.network, tiled).image_in_bits.tolist() == [10_240, 10_240]

    by = {ev: _run(plan, ev).counts for ev in ("analytic", "simpy")}
    for c in by.values():
        assert c.c2c_border_bits.tolist() == [0, 8192 + 2 * 2048 + 2 * 2048 + 8192]
        # conv on 8 rows x 4 columns: ceil(8/7)*ceil(4/7) = 2 steps x 144 taps = 288 cycles.
        # Image: 2 tiles of 10,240 bits = 80 cycles each, + 10; results: 2 x 8,192 bits =
        # 64 cycles each, + 10. Transfer: links 0->2 and 1->3 each carry 8,192 + 2,048 bits
        # (640 cycles) after the 2-hop messages' first hop (128 + 2 cycles) queued behind
        # the 8,192-bit ones, so the last arrives at 640 + 2 = 642.
        assert c.total_cycles == 170 + 288 + 642 + 288 + 138 == 1526
        # double-buffered stages (the 6.4 Mbit FMMs have room for a second output map):
        # stage 1's period is max(288, 642)
        assert c.frame_interval_cycles == max(288, 642) == 642
        # receivers write what they receive; senders' chips do no work in stage 2
        assert c.fmm_write_bits[1].tolist() == [0, 0, 8192 + 10_240, 8192 + 10_240]


def test_analytic_and_simpy_agree_contention_free() -> None:
    # 1x2 and one message over one link: nothing queues anywhere
    plan = build_plan(_two_convs(), _hw("1x2", 2))
    a, s = (_run(plan, ev).counts for ev in ("analytic", "simpy"))
    assert s.total_cycles == pytest.approx(a.total_cycles, rel=0.005)
    assert s.frame_interval_cycles == pytest.approx(a.frame_interval_cycles, rel=0.005)
    assert (a.evaluator, s.evaluator) == ("analytic", "simpy")


def test_resnet18_cuts_only_between_blocks() -> None:
    net = get_network("resnet18").at(224, 224)
    # by hand from the layer list: after conv1 and maxpool, after each of the 8 residual
    # adds (indices 4, 7, 11, 14, 18, 21, 25, 28); not after avgpool (a vector, not a map)
    assert cut_points(net) == {
        1: "conv1",
        2: "maxpool",
        5: "layer1.0.add",
        8: "layer1.1.add",
        12: "layer2.0.add",
        15: "layer2.1.add",
        19: "layer3.0.add",
        22: "layer3.1.add",
        26: "layer4.0.add",
        29: "layer4.1.add",
    }
    for info in net.infos:  # no cut inside a block: a block's add is never a stage's first
        name = info.layer.name
        if ".conv2" in name or ".add" in name or ".downsample" in name:
            assert info.index not in cut_points(net), name


def test_resnet18_fewest_stages_that_fit_4x4() -> None:
    plan = build_plan(get_network("resnet18").at(224, 224), _hw("4x4"))
    assert plan.fits, plan.reason
    # weight bits by hand (1-bit weights): conv1 9,408; layer1 4 x 36,864; layer2 524,288;
    # layer3 2,097,152; layer4.0 3,670,016; layer4.1 4,718,592; fc 512,000. The FMM holds
    # 6.4 Mbit: conv1..layer4.0 (6,448,320) does not fit, so at least 3 stages, and
    # layer4.0 + layer4.1 (8.4 Mbit) cannot share one either
    assert len(plan.stages) == 3
    assert [st.weight_bits for st in plan.stages] == [2_778_304, 3_670_016, 4_718_592 + 512_000]
    assert all(st.first in cut_points(plan.network) for st in plan.stages[1:])
    r = _run(plan)
    assert r.row["weight_bits"] == 0
    assert r.row["fps"] > 1 / r.row["latency_s"]
    assert int(r.counts.macs.sum()) == plan.network.macs


def test_weights_that_do_not_fit_name_stage_and_bits() -> None:
    plan = build_plan(get_network("resnet18").at(224, 224), _hw("4x4", 2))
    assert not plan.fits
    # with 2 stages one must hold conv1..layer4.0: 6,448,320 bits (previous test) > 6.4 Mbit
    assert "stage 1 of 2 (" in plan.reason  # which band, among splits that cannot fit, is moot
    assert "layers 'conv1' to 'layer4.0.add'" in plan.reason
    assert "6,448,320 bits of stationary weights" in plan.reason
    assert "6,400,000" in plan.reason and "over by 48,320 bits" in plan.reason


def test_fmm_overflow_names_maps_weights_and_buffer() -> None:
    chip = CHIP.model_copy(update={"fmm_bits": 50_000})
    plan = build_plan(_two_convs(), _hw("1x2", 2, chip))
    assert not plan.fits
    # 3 maps of 16,384 + 2,304 weights = 51,456 bits on each chip (first test)
    assert plan.reason.startswith(
        "stage 1 of 2 (column 0), layers 'c1': needs 51,456 bits of feature-map memory (FMM)"
        " at layer 'c1' on chip (0,0): 32,768 of maps, 2,304 of stationary weights and "
        "16,384 for the next frame's input; the chip has 50,000 (over by 1,456 bits, 2.9%)"
    )
    assert "(and 1 more problem)" in plan.reason  # stage 2 overflows likewise
    assert Result(plan, None, None).row["fits"] is False


def test_more_stages_than_bands() -> None:
    plan = build_plan(_two_convs(), _hw("1x2", 3))
    assert plan.reason == (
        "pipeline_stages 3 is more than the 2 columns of the 1x2 mesh (rows x cols): each "
        "stage needs a band of at least one whole column"
    )


def test_batch_is_refused() -> None:
    hw = _hw("1x2", 2)
    hw = Hardware(CHIP, hw.system.model_copy(update={"batch": 2}), ENERGY, hw.mesh)
    reason = build_plan(_two_convs(), hw).reason
    assert reason.startswith("batch 2: batches are not modelled for organisation: pipeline")


def test_cli_run_pipeline_end_to_end(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp.yaml").write_text(
        "name: pipe\n"
        f"networks: [{TINY}]\n"
        "inputs: [64x64]\n"
        "meshes: [2x2]\n"
        "chip: {include: chips/hyperdrive}\n"
        "system: {include: systems/hyperdrive_mesh, organisation: pipeline, pipeline_stages: 2}\n"
        "energy: {include: energy/hyperdrive_22fdx}\n"
    )
    code = cli.main(["run", "exp.yaml", "--out", "out", "--no-progress", "--no-plots"])
    assert code == 0
    with open(tmp_path / "out" / "results.csv", newline="", encoding="utf-8") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["fits"] == "True", row["reason"]
    assert row["weight_bits"] == "0"  # stationary: no weight read off-chip per frame
    # two stages: a frame leaves every interval, shorter than its latency
    assert float(row["fps"]) > 1 / float(row["latency_s"])
    with open(tmp_path / "out" / "layers.csv", newline="", encoding="utf-8") as fh:
        places = {r["placement"] for r in csv.DictReader(fh)}
    assert places == {"stage 1 of 2 (row 0)", "stage 2 of 2 (row 1)"}
