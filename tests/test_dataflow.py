"""Dataflow options of the system spec: streamed border exchange, batches, frames back to back.

Expected values are derived by hand in the comments from the rules in docs/model.md
("Border exchange", "Batches and frames back to back"); both evaluators must give them.
"""

from __future__ import annotations

import numpy as np
import pytest

from hyperdrive_sim.evaluators import analytic, des
from hyperdrive_sim.mapping.plan import streamed_halo_bits
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.simulate import simulate
from hyperdrive_sim.spec.defaults import default_section
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import Mesh
from hyperdrive_sim.verify.run import verify
from hyperdrive_sim.workload.builder import NetBuilder

CHIP = default_section("chip")  # 7x7 Tile-PUs, 16 FMPUs, efficient point: 100 MHz
ENERGY = default_section("energy")
# 0.8 Gbit/s at 100 MHz = 8 bits per link cycle, 20 ns = 2 cycles; 12.8 Gbit/s off-chip =
# 128 bits per cycle
# one frame alone unless a test sets frames (the hand derivations follow one frame)
SYSTEM = default_section("system").model_copy(update={"link_bandwidth_gbps": 0.8, "frames": 1})
EVALUATORS = {"analytic": analytic.evaluate, "simpy": des.evaluate}


def _two_convs_net():
    """16-channel image -> conv 3x3 pad 1 to 32 channels (2 weight blocks) -> conv 3x3 to 16."""
    b = NetBuilder("two_convs", input_channels=16)
    b.conv(32, 3, name="conv1")
    b.conv(16, 3, name="conv2")
    return b.build()


def _two_convs():
    return _two_convs_net().at(14, 14)


def _plan(exchange: str, mesh: str = "1x2", **system):
    sys = SYSTEM.model_copy(update={"border_exchange": exchange, **system})
    return build_plan(_two_convs(), Hardware(CHIP, sys, ENERGY, Mesh.model_validate(mesh)))


def test_streamed_parts_split_the_halo_by_producer_phase() -> None:
    plan = _plan("streamed")
    conv1, conv2 = plan.layers
    # conv2 on chip 0 (west) needs column 7 of conv1's output: 14 pixels x 32 channels x 16 bits
    assert conv2.halo_bits.sum(axis=1).tolist() == [7168, 7168]
    parts = streamed_halo_bits(conv2, conv1)
    # conv1 computes 16 channels per phase, so each phase carries half: 14 x 16 x 16 = 3584
    assert parts.shape[0] == 2
    assert parts.sum(axis=(1, 2)).tolist() == [7168, 7168]  # 3584 to each chip per phase
    assert np.array_equal(parts.sum(axis=0), conv2.halo_bits)


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_streamed_halo_arrives_one_producer_phase_earlier(evaluator: str) -> None:
    # Off-chip, 128 bits per cycle, 10 cycles latency, first come first served: image tile 0
    # (14 x 8 pixels with its halo column x 16 channels x 16 bits = 28,672 bits) takes
    # cycles 0-224, conv1's block 0 (16 x 144 bits) 224-242, tile 1 242-466. So chip 0 starts
    # conv1 at 252 (its block; its tile came at 234) and chip 1 at 476 (it takes the block at
    # 252, then waits 224 cycles for its tile: one lock-step step, which needs all of it).
    # conv1: 2 phases of ceil(14/7) * ceil(7/7) = 2 pixel steps x 16*9 taps = 288 cycles:
    # it ends at E0 = 252 + 576 = 828 on chip 0 and E1 = 476 + 576 = 1052 on chip 1.
    # conv2: 1 phase of 2 x 32*9 = 576 cycles. Each chip's 14x7 share gives every Tile-PU
    # of the 7x7 array a 2x1 patch, so Tile-PU column 6 computes the output column next to
    # the neighbour in every step: no step is halo-free, the whole phase waits for the halo.
    # bulk: the 7168-bit halo leaves when the neighbour's conv1 ends: 896 cycles + 2 latency.
    #   chip 0 waits for E1 + 898 - E0 = 1122, chip 1 for E0 + 898 - E1 = 674.
    # streamed: part 0 (3584 bits) leaves at E - 288 and is sent by E + 160; part 1 leaves at
    #   E and queues until E + 160: delivered at E + 610, 288 cycles earlier: chip 0 waits
    #   1122 - 288 = 834, chip 1 674 - 288 = 386. The frame is 288 cycles shorter.
    evaluate = EVALUATORS[evaluator]
    bulk, streamed = evaluate(_plan("bulk")), evaluate(_plan("streamed"))
    assert bulk.stall_io_cycles.tolist() == [0, 476 - 252]  # waits for image data
    assert bulk.stall_border_cycles[1].tolist() == [1122, 674]
    assert streamed.stall_border_cycles[1].tolist() == [834, 386]
    assert bulk.total_cycles - streamed.total_cycles == 288
    # the same bits cross the links either way
    assert bulk.c2c_border_bits.tolist() == streamed.c2c_border_bits.tolist() == [0, 2 * 7168]


def test_streamed_is_bulk_when_every_producer_has_one_phase() -> None:
    # a 16-channel producer computes all its channels in one phase: nothing to stream early
    b = NetBuilder("one_block", input_channels=16)
    b.conv(16, 3, name="conv1")
    b.conv(16, 3, name="conv2")
    net = b.build().at(14, 14)
    hw = {
        x: Hardware(
            CHIP, SYSTEM.model_copy(update={"border_exchange": x}), ENERGY, Mesh(rows=1, cols=2)
        )
        for x in ("bulk", "streamed")
    }
    for evaluate in EVALUATORS.values():
        a, b2 = (evaluate(build_plan(net, hw[x])) for x in ("bulk", "streamed"))
        assert a.total_cycles == b2.total_cycles
        assert a.stall_border_cycles.tolist() == b2.stall_border_cycles.tolist()


@pytest.mark.parametrize("routing", ["relay", "diagonal"])
def test_streamed_borders_verify_exactly(routing: str) -> None:
    # the numerical check sends each phase's channels as a message of its own and assembles
    # the parts at the receiver; a mis-assembly (break_halo="parts") must be caught
    ok = verify("resnet18", "64x64", mesh="2x2", corner_routing=routing, border_exchange="streamed")
    assert ok.ok and ok.border_exchange == "streamed"
    broken = verify("resnet18", "64x64", mesh="2x2", border_exchange="streamed", break_halo="parts")
    assert not broken.ok


def test_streamed_conserves_and_cuts_border_stall_on_resnet18() -> None:
    # a second method: the event model, with link contention, on a real network
    base = {"mesh": "4x4", "evaluator": "simpy"}
    bulk = simulate("resnet18", "224x224", system={"border_exchange": "bulk"}, **base)
    streamed = simulate("resnet18", "224x224", system={"border_exchange": "streamed"}, **base)
    assert bulk.row["c2c_border_bits"] == streamed.row["c2c_border_bits"]
    assert bulk.row["macs"] == streamed.row["macs"]
    assert streamed.row["stall_border_cycles"] < bulk.row["stall_border_cycles"]
    assert streamed.row["cycles"] <= bulk.row["cycles"]


def _one_conv():
    """16-channel 7x7 image -> conv 3x3 pad 1 to 16 channels: one block, one pixel step."""
    b = NetBuilder("one_conv", input_channels=16)
    b.conv(16, 3, name="conv")
    return b.build().at(7, 7)


def _one_chip(**system) -> Hardware:
    return Hardware(CHIP, SYSTEM.model_copy(update=system), ENERGY, Mesh(rows=1, cols=1))


def test_batch_applies_each_block_to_every_frame_by_hand() -> None:
    one, two = (build_plan(_two_convs(), _hw) for _hw in (_hw_batch(1), _hw_batch(2)))
    for a, b in zip(one.layers, two.layers, strict=True):
        # per-pixel work, halos and memory are per frame; the block is written once
        assert b.work.cycles.tolist() == (2 * a.work.cycles).tolist()
        assert b.work.macs.tolist() == (2 * a.work.macs).tolist()
        assert b.halo_bits.tolist() == (2 * a.halo_bits).tolist()
        assert b.fmm_need_bits.tolist() == (2 * a.fmm_need_bits).tolist()
        assert b.work.wbuf_write_bits.tolist() == a.work.wbuf_write_bits.tolist()
        assert b.work.blocks.tolist() == a.work.blocks.tolist()
    assert two.image_in_bits.tolist() == (2 * one.image_in_bits).tolist()
    # conv1 2 x 576 cycles per chip; each pass streams conv1's 2 x 2304 + conv2's 4608 bits
    assert two.layers[0].work.cycles.tolist() == [1152, 1152]
    r1 = simulate(_two_convs_net(), "14x14", system=_hw_batch(1).system, mesh="1x2")
    r2 = simulate(_two_convs_net(), "14x14", system=_hw_batch(2).system, mesh="1x2")
    assert r1.row["weight_bits"] == 9216 and r2.row["weight_bits"] == 4608  # per frame
    assert r2.row["image_bits"] == r1.row["image_bits"]  # per frame
    # fps counts both frames of a pass: 2 frames per (latency of the pass)
    assert r2.row["fps"] == pytest.approx(2 / r2.row["latency_s"])
    assert r2.row["offchip_io_energy_j"] < r1.row["offchip_io_energy_j"]


def _hw_batch(batch: int) -> Hardware:
    return Hardware(
        CHIP, SYSTEM.model_copy(update={"batch": batch}), ENERGY, Mesh.model_validate("1x2")
    )


def test_batch_that_overflows_the_fmm_does_not_fit() -> None:
    # ResNet-18 at 224x224 on 2x2 needs 4,129,792 FMM bits at its peak (maxpool, chip (1,1)):
    # two frames need twice that, 8,259,584 > 6,400,000
    r = simulate("resnet18", "224x224", mesh="2x2", system={"batch": 2})
    assert not r.fits and "needs 8,259,584 bits" in r.plan.reason


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_two_frames_back_to_back_by_hand(evaluator: str) -> None:
    # 1x1 mesh, 128 bits per off-chip cycle, 10 cycles latency. Image 7x7x16x16 = 12,544 bits
    # = 98 cycles; the block 16x144 = 2304 bits = 18 cycles; results 98 cycles; the conv
    # 1 pixel step x 144 taps = 144 cycles.
    # Frame 0: image [0,98] (arrives 108), block [98,116] (126), conv [126,270], results
    # [270,368], arrive 378: the latency.
    # The next image fits beside the running frame, so it is asked for as soon as the
    # first has left (98), behind the block: image [116,214] (224); the stream restarts
    # with the second buffer slot free: block [214,232] (242). Frame 1 runs [270,414],
    # results [414,512] arrive 522.
    # The two results are 144 cycles apart (the conv alone), but frames cannot leave
    # faster than the interface moves one: image 98 + block 18 + results 98 = 214 cycles.
    counts = EVALUATORS[evaluator](build_plan(_one_conv(), _one_chip(frames=2)))
    assert counts.total_cycles == 378
    assert counts.interval_cycles == 98 + 18 + 98
    single = EVALUATORS[evaluator](build_plan(_one_conv(), _one_chip(frames=1)))
    assert single.total_cycles == single.interval_cycles == 378


def test_many_frames_settle_at_the_interface_bound() -> None:
    # Per frame the interface carries 98 + 18 + 98 = 214 cycles of image, weights and
    # results, more than the 144 cycles of compute: in steady state a frame leaves every 214
    # cycles. The analytic schedule reaches it exactly; the event model, whose first frames
    # still fill the pipeline within 16 frames, within 2%.
    plan = build_plan(_one_conv(), _one_chip(frames=16))
    assert analytic.evaluate(plan).interval_cycles == 214
    assert des.evaluate(plan).interval_cycles == pytest.approx(214, rel=0.02)


def test_frames_conserve_bits_per_frame_and_raise_fps_at_1080p() -> None:
    # ResNet-34 at 1920x1080 on 12x12 chips: the 99.5-Mbit image takes about 7.8 ms of the
    # 12.8 Gbit/s interface, which back-to-back frames overlap with the previous frame
    one = simulate("resnet34", "1920x1080", mesh="12x12", evaluator="simpy",
                   system={"frames": 1})  # fmt: skip
    four = simulate("resnet34", "1920x1080", mesh="12x12", evaluator="simpy",
                    system={"frames": 4})  # fmt: skip
    for key in ("weight_bits", "image_bits", "result_bits", "c2c_bits", "macs"):
        assert one.row[key] == four.row[key], key
    assert four.row["fps"] > 1.2 * one.row["fps"]
    assert four.row["fps"] > 1 / four.row["latency_s"]


def _channel_plan():
    """16-channel 7x7 image -> conv 3x3 to 32 channels -> conv 3x3 to 32, channel partitioned
    on 1x2 chips (slow links: 8 bits per cycle, 2 cycles latency)."""
    b = NetBuilder("two_wide", input_channels=16)
    b.conv(32, 3, name="conv1")
    b.conv(32, 3, name="conv2")
    sys = SYSTEM.model_copy(update={"partitioning": "channel"})
    return build_plan(b.build().at(7, 7), Hardware(CHIP, sys, ENERGY, Mesh(rows=1, cols=2)))


def test_channel_partitioning_by_hand() -> None:
    plan = _channel_plan()
    conv1, conv2 = plan.layers
    assert conv1.placement == conv2.placement == "channel"
    # 32 channels = 2 blocks of 16, dealt in turn: block 0 to chip 0, block 1 to chip 1; each
    # chip computes 16 channels over the whole 7x7 map: 1 pixel step x 16*9 taps = 144 cycles
    assert conv1.block_owner.tolist() == conv2.block_owner.tolist() == [0, 1]
    assert conv1.work.cycles.tolist() == [144, 144]
    assert conv2.work.cycles.tolist() == [288, 288]  # 1 x 32*9
    assert conv1.work.wbuf_write_bits.tolist() == [16 * 144, 16 * 144]  # one block each
    # before conv1 each chip's image tile goes to the other: 7 rows x 4 (3) cols x 16 x 16
    assert conv1.gather.bits.tolist() == [[0, 7168], [5376, 0]]
    # before conv2 each chip's 16 channels of the 7x7 map: 16 x 49 x 16 = 12,544 bits
    assert conv2.gather.bits.tolist() == [[0, 12544], [12544, 0]]
    # FMM at conv1 on chip 0: its tile 7,168 + its output 12,544 + the other tile 5,376
    assert conv1.fmm_need_bits.tolist() == [25088, 25088]


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_channel_partitioning_timing_by_hand(evaluator: str) -> None:
    # Interface (128 bits/cycle, 10 latency): tile 0 [0,56] (arrives 66), conv1 block 0
    # [56,74] (84), tile 1 [74,116] (126), block 1 [116,134] (144), conv2's blocks after.
    # Chip 1's tile leaves at 126: 5376/8 = 672 cycles + 2 -> chip 0 has it at 800 and runs
    # conv1 [800, 944]. Chip 0's tile leaves at 66: 896 + 2 -> chip 1 runs conv1 [964, 1108].
    # conv2 needs the other chip's 12,544 bits: 1568 cycles + 2. Chip 1's leave at 1108 and
    # reach chip 0 at 2678: conv2 [2678, 2966]. Chip 0's leave at 944, but the event model
    # queues them behind conv1's move still on that link until 962: chip 1 has them at
    # 962 + 1570 = 2532 (the analytic schedule, without queueing: 2514), conv2 ends 2820
    # (2802). Results, 12,544 bits per chip = 98 cycles each, read as each chip ends: chip
    # 1's from 2820 (2802), chip 0's [2966,3064]: they arrive at 3074.
    counts = EVALUATORS[evaluator](_channel_plan())
    assert counts.total_cycles == 3074
    assert counts.finish_cycles.tolist() == [2966, 2820 if evaluator == "simpy" else 2802]
    assert counts.stall_border_cycles[0].tolist() == [800 - 66, 964 - 126]
    # link-hop bits of the moves: 7,168 + 5,376 and 2 x 12,544, one hop each
    assert counts.c2c_gather_bits.tolist() == [12544, 25088]
    assert counts.macs.sum() == _channel_plan().network.macs


def test_multicast_reaches_every_chip_once_over_a_tree() -> None:
    from hyperdrive_sim.mapping.partition import multicast

    # 2x3 mesh, chip 1 (row 0, middle) sends 10 bits: east and west along row 0, then down
    # each of the 3 columns: 5 links, each chip but the source gets exactly one copy
    shares = np.array([0, 10, 0, 0, 0, 0])
    g = multicast(shares, Mesh(rows=2, cols=3))
    delivered = [c for leg in g.legs for c in leg.deliver if c is not None]
    assert sorted(delivered) == [0, 2, 3, 4, 5]
    assert g.link_bits == 5 * 10
    assert g.received.tolist() == [1, 0, 1, 1, 1, 1]


def test_hybrid_switches_where_maps_leave_tile_pus_idle() -> None:
    # ResNet-34 at 224x224 on 2x2: layer4's 7x7 maps give each chip 4x4 or fewer pixels, so
    # spatial tiling leaves 33 of the 49 Tile-PUs idle. A 3x3 conv of layer4 (512 -> 512):
    # spatial 32 blocks x 1 pixel step x 4608 taps = 147,456 cycles per chip; channel
    # partitioned, 8 blocks per chip x ceil(7/7)^2 x 4608 = 36,864.
    base = {"mesh": "2x2"}
    spatial = simulate("resnet34", "224x224", **base)
    hybrid = simulate("resnet34", "224x224", system={"partitioning": "hybrid"}, **base)
    layer = {lp.name: lp for lp in hybrid.plan.layers}
    assert next(lp.name for lp in hybrid.plan.layers if lp.placement == "channel") == (
        "layer4.0.conv1"
    )
    assert layer["layer4.1.conv1"].work.cycles.tolist() == [36864] * 4
    assert {lp.name: lp for lp in spatial.plan.layers}["layer4.1.conv1"].work.cycles.max() == (
        147456
    )
    # the move before layer4.0.conv1: each chip's 7x7x256 share of layer3's output
    # (200,704 bits) crosses 3 links of its tree (one along its row, two down the columns)
    assert layer["layer4.0.conv1"].gather.link_bits == 4 * 3 * 200_704
    assert hybrid.row["macs"] == spatial.row["macs"]
    assert hybrid.row["fps"] > 1.3 * spatial.row["fps"]
    rows = {r["layer"]: r for r in hybrid.layer_rows()}
    assert rows["layer4.1.conv1"]["placement"] == "channel"
    assert rows["layer4.0.conv1"]["gather_bits"] == 4 * 3 * 200_704


def test_chain_with_channel_blocks_fills_slots_only_the_event_model_sees() -> None:
    # docs/model.md quotes these two rates (ResNet-18, 224x224, 2x2, hybrid, chain)
    system = {"partitioning": "hybrid", "weight_distribution": "chain"}
    fps = {
        ev: simulate("resnet18", "224x224", mesh="2x2", system=system, evaluator=ev).row["fps"]
        for ev in ("analytic", "simpy")
    }
    assert (round(fps["simpy"]), round(fps["analytic"])) == (94, 143)


def test_readme_dataflow_table_is_what_a_fresh_run_prints() -> None:
    """Every cell of the README's dataflow table against a fresh run of the bundled
    experiment (fps to 0.1 and mJ to 0.001, as the run prints them)."""
    import re
    from pathlib import Path

    from hyperdrive_sim.experiment import run_experiment

    rows = run_experiment("dataflow_alternatives", write=False, progress=False,
                          executor="serial").rows  # fmt: skip
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme[readme.index("| configuration | ResNet-34 224") :].split("\n\n")[0]
    columns = [("resnet34", 224), ("mobilenet_v2", 224), ("resnet34", 1920)]
    reference = {"system.border_exchange": "bulk", "chip.fuse_pooling": False,
                 "system.organisation": "tiled", "system.frames": 3, "system.batch": 1,
                 "system.partitioning": "spatial"}  # fmt: skip
    checked = 0
    for line in table.splitlines()[2:]:
        name, *cells = (c.strip() for c in line.strip("|").split("|"))
        setting = {}
        if name != "reference":
            key, value = re.fullmatch(r"`(\w+): (\w+)`", name).groups()
            full = next(k for k in reference if k.endswith("." + key))
            setting = {full: type(reference[full])(value == "true" if value in ("true", "false")
                                                   else value)}  # fmt: skip
        want = {**reference, **setting}
        for (net, width), cell in zip(columns, cells, strict=True):
            if cell == "not run":
                continue
            mesh = re.match(r"\[(\d+)×(\d+)\]", cell).groups()
            (row,) = [
                r for r in rows
                if r["network"] == net and r["input_w"] == width
                and (str(r["mesh_rows"]), str(r["mesh_cols"])) == mesh
                and all(str(r[k]) == str(v) for k, v in want.items())
            ]  # fmt: skip
            if cell.endswith("does not fit"):
                assert not row["fits"], (name, net)
            else:
                fps, mj = re.search(r"([\d.]+) fps, ([\d.]+) mJ", cell).groups()
                assert f"{row['fps']:.1f}" == fps, (name, net)
                assert f"{row['total_energy_j'] * 1e3:.3f}" == mj, (name, net)
            checked += 1
    assert checked == 20

    def pick(net, width, mesh, **setting):
        want = {**reference, **{f"system.{k}": v for k, v in setting.items()}}
        (row,) = [
            r for r in rows
            if r["network"] == net and r["input_w"] == width
            and f"{r['mesh_rows']}x{r['mesh_cols']}" == mesh
            and all(str(r[k]) == str(v) for k, v in want.items())
        ]  # fmt: skip
        return row

    def stall(row) -> str:
        return f"{100 * row['stall_border_cycles'] / (row['cycles'] * row['chips']):.2f}%"

    mob = [pick("mobilenet_v2", 224, "4x4", border_exchange=x) for x in ("bulk", "streamed")]
    hd = [pick("resnet34", 1920, "12x12", border_exchange=x) for x in ("bulk", "streamed")]
    text = " ".join(readme.split())  # the bullets wrap
    gain = f"{100 * (mob[1]['fps'] / mob[0]['fps'] - 1):.1f}%"
    assert (
        f"runs {gain} faster, its halo stall falls from {stall(mob[0])} to {stall(mob[1])}" in text
    )
    assert f"the halo stall ({stall(hd[0])} bulk, {stall(hd[1])} streamed on 12×12)" in text
    two = [pick("resnet34", 224, "2x2", partitioning=x) for x in ("spatial", "hybrid")]
    assert f"from {two[0]['fps']:.1f} to {two[1]['fps']:.1f} on 2×2" in text
    moved = pick("resnet34", 224, "4x4", partitioning="hybrid")["c2c_gather_bits"]
    assert f"{moved / 1e6:.0f} Mbit of maps moved" in text


def test_pipeline_refuses_batch_naming_the_key(capsys) -> None:
    from hyperdrive_sim import cli

    args = ["run", "quickstart", "--no-plots", "--set", "system.organisation=pipeline"]
    assert cli.main([*args, "--set", "system.batch=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hyperdrive-sim: error: --set: system.batch: 2 applies to")
    assert len(err.splitlines()) == 1
    assert cli.main(["run", "quickstart", "--no-plots", "--set", "system.pipeline_stages=2"]) == 2
    assert "system.pipeline_stages: applies to organisation: pipeline" in capsys.readouterr().err


def _idle_chips_plan(evaluator_mesh: str = "2x2"):
    """3-channel 16x32 image -> conv 3x3 to 32 -> conv 3x3 to 32 -> maxpool, channel
    partitioned on 2x2 chips: 2 weight blocks of C=16 per conv, so chips 2 and 3 own none."""
    b = NetBuilder("idle_chips", input_channels=3)
    b.conv(32, 3, name="conv1")
    b.conv(32, 3, name="conv2")
    b.pool(2, name="pool")
    sys = SYSTEM.model_copy(update={"partitioning": "channel"})
    return build_plan(
        b.build().at(16, 32), Hardware(CHIP, sys, ENERGY, Mesh.model_validate(evaluator_mesh))
    )


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_multicast_reaches_only_the_chips_with_work(evaluator: str) -> None:
    # By hand. Blocks are dealt in turn: conv1's and conv2's 2 blocks go to chips 0 and 1
    # (row 0); chips 2 and 3 compute nothing and must receive nothing.
    # Before conv1 each chip holds an 8x16 tile of the 3-channel FP16 image: 6,144 bits.
    #   chip 0 -> chip 1 and chip 1 -> chip 0: one link each;
    #   chip 2 (row 1, col 0) -> chips 0 and 1: east along row 1 (1 link, chip 3 passes it
    #   on), then up columns 0 and 1 (1 link each): 3 links; chip 3 likewise: 3 links.
    #   (1 + 1 + 3 + 3) x 6,144 = 49,152 link-hop bits (every chip to every chip: 73,728).
    # Before conv2 chips 0 and 1 each hold 16 channels of the 16x32 map: 131,072 bits, sent
    # over the one link between them: 262,144 (to all four chips: 786,432, 2/3 wasted).
    plan = _idle_chips_plan()
    layer = {lp.name: lp for lp in plan.layers}
    assert layer["conv1"].gather.link_bits == 49_152
    assert layer["conv2"].gather.link_bits == 262_144
    for name in ("conv1", "conv2"):
        assert layer[name].gather.bits[:, 2:].sum() == 0  # the idle chips receive nothing
        assert layer[name].work.cycles[2:].sum() == 0
    counts = EVALUATORS[evaluator](plan)
    assert int(counts.c2c_gather_bits.sum()) == 49_152 + 262_144
    assert counts.macs.sum() == plan.network.macs


def test_multicast_to_the_chips_with_work_verifies_exactly() -> None:
    b = NetBuilder("idle_chips", input_channels=3)
    b.conv(32, 3, name="conv1")
    b.conv(32, 3, name="conv2")
    b.pool(2, name="pool")
    report = verify(b.build(), "32x16", mesh="2x2", partitioning="channel", seed=1)
    assert report.ok, report.table()
    by_name = {c.name: c for c in report.layers}
    assert by_name["conv2"].link_bits == 262_144  # the hand count above, carried hop by hop


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_three_frames_reach_the_steady_state(evaluator: str) -> None:
    # the preset simulates three frames back to back and takes fps from the first two
    # frames' results; five frames (fps from frames 2 and 3) must give the same interval,
    # and one frame alone (no next image loading during it) cannot be faster
    def fps(frames: int) -> float:
        system = {"frames": frames}
        return simulate("resnet18", "128x128", mesh="2x2", system=system,
                        evaluator=evaluator).row["fps"]  # fmt: skip

    assert default_section("system").frames == 3
    assert fps(3) == pytest.approx(fps(5), rel=1e-9)
    assert fps(1) <= fps(3)


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_a_one_bit_halo_is_waited_for(evaluator: str) -> None:
    # Binary activations, one channel: conv1 (3x3, 1 -> 1) then conv2 (3x3, 1 -> 1) on a
    # 1-row, 4-column image over 1x2 chips. conv2 on each chip needs one pixel of the
    # neighbour's conv1 output: 1 pixel x 1 channel x 1 bit = a 1-bit halo each way. With
    # 1 Mbit/s links (0.01 bit per 100 MHz cycle: the bit takes 100 cycles) and no latency,
    # conv2 cannot start before that bit has arrived, 100 cycles after the neighbour's
    # conv1 ended; so each chip waits at least 100 - (its own conv1 end - the neighbour's)
    chip = CHIP.model_copy(update={"activation_mode": "binary", "binary_keep_first_last": False})
    system = SYSTEM.model_copy(update={"link_bandwidth_gbps": 0.001, "link_latency_ns": 0.0})
    b = NetBuilder("one_bit", input_channels=1)
    b.conv(1, 3, name="conv1")
    b.conv(1, 3, name="conv2")
    plan = build_plan(b.build().at(1, 4), Hardware(chip, system, ENERGY, Mesh(rows=1, cols=2)))
    assert plan.layers[1].halo_bits.sum(axis=1).tolist() == [1, 1]
    c = EVALUATORS[evaluator](plan)
    ends = c.layer_end  # conv1 has ended on both chips by layer_end[0]
    assert int(c.stall_border_cycles[1].max()) >= 100 - 1
    assert int(c.layer_end[1]) >= int(ends[0]) + 100
