"""Exact cycles of small schedules, derived by hand: the analytic evaluator's chain
forwarding, halo waits, weight streaming and frames, and the simpy links.

Units: the preset chip runs at 100 MHz, so ``g`` Gbit/s moves ``10 * g`` bits per cycle
and ``t`` ns of latency is ``t / 10`` cycles. A transfer takes ``ceil(bits / (bits per
cycle))`` cycles on its channel, one at a time in request order, and arrives ``latency``
cycles after it left. The image tiles and the weight reads take turns on the off-chip
interface, image first. Where a case is contention-free both evaluators must give the
derived value, so each is checked against the hand value, not against the other.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import simpy
from presets import preset as _preset

from hyperdrive_sim.evaluators import analytic, des
from hyperdrive_sim.evaluators.des.links import Channel, send
from hyperdrive_sim.mapping.plan import Plan
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, SystemSpec
from hyperdrive_sim.workload.builder import NetBuilder

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
EVALUATORS = {"analytic": analytic.evaluate, "simpy": des.evaluate}
HUGE = 1e6  # Gbit/s: one cycle for any transfer here
FAST_IO = {"offchip_bandwidth_gbps": HUGE, "offchip_latency_ns": 0}


def hardware(mesh: str, chip: dict | None = None, **system) -> Hardware:
    return Hardware(
        ChipSpec.model_validate(_preset("chips/hyperdrive.yaml") | (chip or {})),
        # one frame alone unless a test sets frames: the derivations follow one frame
        SystemSpec.model_validate(_preset("systems/hyperdrive_mesh.yaml") | {"frames": 1} | system),
        EnergyTable.model_validate(_preset("energy/hyperdrive_22fdx.yaml")),
        Mesh.model_validate(mesh),
    )


def _conv1x1(cin: int, out: int) -> NetBuilder:
    b = NetBuilder("one_conv", input_channels=cin)
    b.conv(out, 1)
    return b


def _plan(b: NetBuilder, side: tuple[int, int], mesh: str, chip=None, **system) -> Plan:
    plan = build_plan(b.build().at(*side), hardware(mesh, chip, **system))
    assert plan.fits, plan.reason
    return plan


# ------------------------------------------------------------------------------------------
# Links (evaluators/des/links.py)


def test_a_channel_serves_transfers_first_come_first_served() -> None:
    # 5 cycles asked at 0: [0,5]; 4 cycles asked at 2 waits for the channel: [5,9];
    # 1 cycle asked at 20 finds it free: [20,21]; an empty transfer takes no time.
    ch = Channel("l", 8.0, 3, record=True)
    assert ch.reserve(0, 5, 40, "a") == 5
    assert ch.reserve(2, 4, 32, "b") == 9
    assert ch.reserve(20, 1, 8, "c") == 21
    assert ch.reserve(21, 0, 0, "d") == 21
    assert ch.intervals == [(0, 5, "a"), (5, 9, "b"), (20, 21, "c")]
    assert ch.sent == 80 and ch.free_at == 21
    # asked exactly when the channel frees: starts at once
    assert ch.reserve(21, 2, 16, "e") == 23


def test_store_and_forward_over_two_hops_with_pipelined_latency() -> None:
    # Two links of latency 3; messages of 5 cycles per hop. Message 1 sent at 0: leaves
    # link 0 at 5, arrives at 8, leaves link 1 at 13, arrives at 16. Message 2 sent at 1:
    # link 0 is busy until 5, so [5,10] -> 13 (the latency overlaps the next transfer);
    # link 1 is free at 13: [13,18] -> 21.
    env = simpy.Environment()
    route = (Channel("a", 8.0, 3, False), Channel("b", 8.0, 3, False))
    seen: list[tuple[str, int]] = []

    def message(name: str, at: int):
        yield env.timeout(at)
        send(
            env, route, 40, 5, name,
            lambda: seen.append((name, int(env.now))),
            lambda k: seen.append((f"{name} hop {k}", int(env.now))),
        )  # fmt: skip

    env.process(message("m1", 0))
    env.process(message("m2", 1))
    env.run()
    assert sorted(seen, key=lambda s: (s[1], s[0])) == [
        ("m1 hop 0", 8),
        ("m2 hop 0", 13),
        ("m1", 16),
        ("m1 hop 1", 16),
        ("m2", 21),
        ("m2 hop 1", 21),
    ]
    assert [(c.sent, c.received) for c in route] == [(80, 80), (80, 80)]


# ------------------------------------------------------------------------------------------
# Chain forwarding


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_chain_forwarding_on_a_4x4_mesh(evaluator: str) -> None:
    # A 1x1 conv (16 -> 16) on a 4x4 input over 4x4 chips: one pixel each, one block of
    # 256 bits, phase 16 cycles. Off-chip 1 cycle per transfer, latency 0: image 0 [0,1],
    # the block [1,2] -> at the root at 2. Links 8 bits/cycle, 2 cycles latency: a hop
    # takes 256/8 + 2 = 34, so snake position p has the block at 2 + 34 p and is done
    # 16 later.
    plan = _plan(
        _conv1x1(16, 16), (4, 4), "4x4", weight_distribution="chain",
        link_bandwidth_gbps=0.8, link_latency_ns=20, **FAST_IO,
    )  # fmt: skip
    c = EVALUATORS[evaluator](plan)
    finish = c.finish_cycles.reshape(4, 4)
    snake = [(r, k) for r in range(4) for k in (range(4) if r % 2 == 0 else range(3, -1, -1))]
    assert [int(finish[p]) for p in snake] == [18 + 34 * p for p in range(16)]
    assert c.c2c_weight_bits.tolist() == [256 * 15]


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_chain_blocks_queue_on_the_links(evaluator: str) -> None:
    # A 1x1 conv 16 -> 32 (two blocks of 256 bits) on a 1x3 input over 1x3 chips, links as
    # above (32 cycles + 2 latency per hop). Off-chip: image 0 [0,1], block 0 [1,2],
    # image 1 [2,3], block 1 [3,4], image 2 [4,5].
    # Block 0: root 2, chip 1 at 36, chip 2 at 70. Block 1 reaches the root at 4 but the
    # first link sends block 0 until 34: [34,66] -> chip 1 at 68; the second link is busy
    # until 68: [68,100] -> chip 2 at 102. Phases of 16 cycles:
    # root 2-18, 18-34; chip 1 36-52, 68-84; chip 2 70-86, 102-118.
    # Results: each phase's 16 channels (one-cycle reads) leave as the phase ends; the
    # last, chip 2's second, [118,119]: done at 119.
    plan = _plan(
        _conv1x1(16, 32), (1, 3), "1x3", weight_distribution="chain",
        link_bandwidth_gbps=0.8, link_latency_ns=20, **FAST_IO,
    )  # fmt: skip
    c = EVALUATORS[evaluator](plan)
    assert c.finish_cycles.tolist() == [34, 84, 118]
    assert c.total_cycles == 119
    assert c.c2c_weight_bits.tolist() == [2 * 256 * 2]
    # waits for the blocks from the frame's start (each tile is there before its block):
    # the root 2 for block 0; chip 1 36 and 68 - 52; chip 2 70 and 102 - 86
    assert c.stall_weight_cycles.tolist() == [[2, 36 + 16, 70 + 16]]


# ------------------------------------------------------------------------------------------
# Weight streaming, halos and frames


def _stream_plan(**system) -> Plan:
    # One 1x1 conv 64 -> 64 on one pixel, one chip: 4 blocks of 1,024 bits, phases of 64
    # cycles; image and result 1,024 bits; 0.8 Gbit/s = 8 bits/cycle: 128 cycles each;
    # 100 ns = 10 cycles of latency.
    return _plan(
        _conv1x1(64, 64), (1, 1), "1x1", offchip_bandwidth_gbps=0.8, offchip_latency_ns=100,
        **system,
    )  # fmt: skip


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_streaming_bound_layer(evaluator: str) -> None:
    # Interface: image [0,128] -> 138, block 0 [128,256] -> 266, block 1 [256,384] -> 394.
    # The chip takes block 0 first (waits 266; the image is there by then), phase 0
    # 266-330. Each phase's 16 result channels (256 bits, 32 cycles) are read as the phase
    # ends, taking turns with the reads: result 0 (asked at 330) [384,416], block 2 (asked
    # at 384) [416,544] -> 554; phase 1 394-458, result 1 [544,576], block 3 [576,704]
    # -> 714; phase 2 554-618, result 2 [704,736]; phase 3 714-778, result 3 [778,810]
    # arrives at 820. Weight stalls 266 + (394-330) + (554-458) + (714-618) = 522.
    c = EVALUATORS[evaluator](_stream_plan())
    assert c.finish_cycles.tolist() == [778]
    assert c.total_cycles == 820
    assert c.stall_io_cycles.tolist() == [0]
    assert c.stall_weight_cycles.tolist() == [[522]]
    assert c.layer_cycles.tolist() == [778]


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_frames_back_to_back_are_paced_by_the_interface(evaluator: str) -> None:
    # Each frame moves an image, 4 blocks and a result over the interface: 6 * 128 = 768
    # cycles, against 4 * 64 = 256 of compute: in steady state one frame every 768 cycles.
    # Frame 1's image (room from the start) takes turns with frame 0's reads: image 0
    # [0,128], block 0 [128,256] -> 266, image 1 [256,384], block 1 [384,512] -> 522.
    # Phases 266-330, 522-586, ...; each phase's result (32 cycles) is asked as it ends:
    # result 0 [512,544], block 2 [544,672] -> 682, result 1 [672,704], block 3 [704,832]
    # -> 842, result 2 (phase 682-746) [832,864], frame 1's block 0 [864,992], result 3
    # (phase 842-906) [992,1024] arrives at 1034.
    c = EVALUATORS[evaluator](_stream_plan(frames=4))
    assert c.frame_interval_cycles == 768
    assert c.total_cycles == 1034


def test_analytic_timeline_shows_the_interface_and_the_waits() -> None:
    # The off-chip track of the streaming case: the image, then the blocks, the last two
    # after a result each (results are not drawn: the gaps [384,416], [544,576]); the chip
    # waits for block 0 (266; its image is there at 138), computes a phase, waits.
    counts, timeline = analytic.evaluate_timeline(_stream_plan())
    assert timeline.tracks["off-chip"] == [
        (0, 128, "image chip (0,0)"),
        (128, 384, "weights conv1"),  # two reads back to back, one interval
        (416, 544, "weights conv1"),
        (576, 704, "weights conv1"),
    ]
    chip = timeline.tracks["chip (0,0)"]
    assert chip[0] == (0, 266, "stall: weights")
    assert timeline.busy_cycles("chip (0,0)") == 4 * 64
    assert timeline.end == counts.total_cycles == 820


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_result_smaller_than_the_image(evaluator: str) -> None:
    # A 1x1 conv 64 -> 32 on one pixel, one chip, 8 bits/cycle, 10 cycles latency:
    # image 1,024 bits [0,128] -> 138; 2 blocks of 16 x 64 = 1,024 bits [128,256] -> 266,
    # [256,384] -> 394; phases of 64 cycles 266-330, 394-458; each phase's 16 result
    # values (256 bits, 32 cycles) leave as it ends: [384,416] (after block 1), [458,490]
    # -> 500.
    plan = _plan(
        _conv1x1(64, 32), (1, 1), "1x1", offchip_bandwidth_gbps=0.8, offchip_latency_ns=100
    )
    c = EVALUATORS[evaluator](plan)
    assert c.finish_cycles.tolist() == [458]
    assert c.total_cycles == 500


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
@pytest.mark.parametrize("latency", [0, 2])
def test_slow_links_make_border_stalls(evaluator: str, latency: int) -> None:
    # Two 3x3 convs 16 -> 16 on 4x4 over 1x2 chips (4 rows x 2 columns each): conv2 needs
    # one column of the neighbour's conv1 output, 4 px * 16 ch * 16 bits = 1,024 bits.
    # One block, phase 144 cycles, one lock-step pass of the 7x7 array (one pixel per
    # Tile-PU) that includes the border column: all of conv2 waits for the halo.
    # Off-chip 1 cycle per transfer: image 0 [0,1], conv1 block [1,2], image 1 [2,3],
    # conv2 block [3,4]. conv1: chip 0 2-146, chip 1 3-147. Links of 1 bit/cycle: the
    # halos take 1,024 cycles (+ the latency): at chip 1 at 146 + 1024 = 1170, at chip 0
    # at 1171: stalls 1,025 and 1,023 (+ the latency), then the 144-cycle phase.
    b = NetBuilder("two_convs", input_channels=16)
    b.conv(16, 3)
    b.conv(16, 3)
    plan = _plan(b, (4, 4), "1x2", link_bandwidth_gbps=0.1, link_latency_ns=10 * latency, **FAST_IO)
    c = EVALUATORS[evaluator](plan)
    assert c.stall_border_cycles.tolist() == [[0, 0], [1025 + latency, 1023 + latency]]
    assert c.finish_cycles.tolist() == [1171 + 144 + latency, 1170 + 144 + latency]
    assert c.c2c_border_bits.tolist() == [0, 2 * 1024]


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_reduction_of_a_dense_layer_towards_the_root(evaluator: str) -> None:
    # A 1x1 conv 16 -> 16 on a 2x3 input over 2x3 chips (one pixel each, phase 16), then a
    # dense layer 96 -> 8 on the tiled map: each chip multiplies its 16 inputs by the 8
    # outputs' weights, 16 cycles (one block of 8 outputs, one input per cycle).
    # Off-chip 1 cycle per transfer, latency 0, image and weights in turn: image 0 [0,1],
    # conv block [1,2], image 1 [2,3], dense block [3,4], then images 2..5 back to back
    # [4,5] .. [7,8]. Images arrive at 1, 3, 5, 6, 7, 8 (chips 0..5; chip 0 starts at 2
    # with the block): conv ends at 18, 19, 21, 22, 23, 24 and the dense at 34, 35, 37,
    # 38, 39, 40. The partial vectors (8 FP16 values = 128 bits, links 16 bits/cycle + 2
    # latency = 10 cycles a hop) travel west along each row, then north along column 0;
    # every receiver adds the 8 values in 8 cycles. Row 0: chip 2 37 -> chip 1 at 47,
    # max(35, 47) + 8 = 55 -> chip 0 at 65, max(34, 65) + 8 = 73. Row 1: chip 5 40 ->
    # chip 4 at 50, + 8 = 58 -> chip 3 at 68, + 8 = 76 -> chip 0 at 86, max(73, 86) + 8.
    b = NetBuilder("reduce", input_channels=16)
    b.conv(16, 1)
    b.dense(8)
    plan = _plan(b, (2, 3), "2x3", link_bandwidth_gbps=1.6, link_latency_ns=20, **FAST_IO)
    c = EVALUATORS[evaluator](plan)
    assert c.finish_cycles.tolist() == [94, 55, 37, 76, 58, 40]
    # one vector of 128 bits over each of the 5 links towards the root
    assert c.c2c_reduce_bits.tolist() == [0, 5 * 128]


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_a_layer_is_never_scheduled_shorter_than_its_cycles(evaluator: str) -> None:
    # Kernel reuse adds a pixel step per reusing kernel to a conv's cycles, which then need
    # not divide into its phases (3 weight blocks for 33 output channels). One chip, fast
    # off-chip: image [0,1], blocks [1,2] [2,3] [3,4]: the chip starts at 2 and runs 3
    # phases of ceil(cycles / 3); it is busy for the layer's cycles, never more than the
    # time the schedule gives it.
    b = NetBuilder("reuse", input_channels=16)
    b.conv(33, 3)
    plan = _plan(b, (4, 4), "1x1", {"pruning": "kernel_reuse"}, **FAST_IO)
    cycles = int(plan.layers[0].work.cycles[0])
    assert cycles % 3  # the case this test is about (seeded weights)
    c = EVALUATORS[evaluator](plan)
    assert c.finish_cycles.tolist() == [2 + 3 * -(-cycles // 3)]
    assert c.busy_cycles.tolist() == [[cycles]]
    idle = c.total_cycles - cycles - int(c.stall_weight_cycles.sum() + c.stall_io_cycles.sum())
    assert idle >= 0


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_halos_from_the_north_only_on_uneven_chips(evaluator: str) -> None:
    # Two convs with a 3x1 kernel (padding (1, 0)), 16 -> 16, on 4 rows x 5 columns over
    # 2 x 2 chips (rows 2 + 2, columns 3 + 2), Tile-PUs 1 x 2: chips of 3 columns take
    # ceil(2/1) * ceil(3/2) = 4 pixel steps, those of 2 columns 2; taps 16 * 3 = 48:
    # 192 and 96 cycles. Halos only between the chip rows (one row of the neighbour's
    # columns), over fast links of 2 cycles latency: 1 + 2 = 3 cycles.
    # Off-chip: image 0 [0,1], c1 block [1,2], image 1 [2,3], c2 block [3,4], images 2, 3
    # [4,5], [5,6]: c1 runs 2-194, 3-99, 5-197, 6-102 (chips 0..3).
    # c2: half of each chip's outputs need the halo (96 or 48 cycles of the phase): chip 0
    # computes its interior 194-290, its halo came from chip 2 at 197 + 3: no wait, done
    # 386; chip 1 99-147, halo from chip 3 at 105: done 195; chip 2 197-293, halo 197: 389;
    # chip 3 102-150, halo from chip 1 at 102: 198. No chip waits for a neighbour that
    # sends it nothing (chip 3 would wait for chip 0 or 2 otherwise).
    b = NetBuilder("north", input_channels=16)
    b.conv(16, (3, 1), pad=(1, 0))
    b.conv(16, (3, 1), pad=(1, 0))
    plan = _plan(
        b, (4, 5), "2x2", {"tile_rows": 1, "tile_cols": 2},
        link_bandwidth_gbps=HUGE, link_latency_ns=20, **FAST_IO,
    )  # fmt: skip
    c = EVALUATORS[evaluator](plan)
    assert c.finish_cycles.tolist() == [386, 195, 389, 198]
    assert c.stall_border_cycles.sum() == 0


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
@pytest.mark.parametrize(("out", "finish"), [(32, [37, 35]), (80, [69, 51])])
def test_channel_partitioned_conv_waits_for_the_gather(
    evaluator: str, out: int, finish: list[int]
) -> None:
    # A 1x1 conv 16 -> out on a 1 x 2 image over 1 x 2 chips, channel partitioned: each
    # chip first receives the other's image pixel (16 values, 256 bits: 16 cycles on a 1.6
    # Gbit/s link + 2 latency = 18), then computes its own blocks of 16 channels over both
    # pixels, dealt in turn (block p to chip p mod 2): 1 pixel step x 16 taps = 16 cycles
    # a block.
    # Off-chip: image 0 [0,1], block 0 [1,2], image 1 [2,3], then the other blocks one
    # cycle each. Chip 0's pixel reaches chip 1 at 1 + 18 = 19, chip 1's reaches chip 0 at
    # 3 + 18 = 21 (the blocks are long there). 32 channels: chip 0 computes block 0 21-37
    # (waited 20 for the gather), chip 1 block 1 19-35 (waited 16). 80 channels: chip 0
    # blocks 0, 2, 4 21-69, chip 1 blocks 1, 3 19-51.
    plan = _plan(_conv1x1(16, out), (1, 2), "1x2", partitioning="channel", **FAST_IO)
    c = EVALUATORS[evaluator](plan)
    assert c.finish_cycles.tolist() == finish
    assert c.stall_border_cycles.tolist() == [[20, 16]]
    assert c.c2c_gather_bits.tolist() == [512]


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_chain_block_for_the_root_alone_is_not_forwarded(evaluator: str) -> None:
    # c1 1x1 16 -> 16 on 1 x 3 over 1 x 3 chips, a global pool, then a dense layer 16 -> 8
    # on the root chip; chain distribution, links of 8 bits/cycle + 2 cycles.
    # Off-chip: image 0 [0,1], c1's block (256 bits) [1,2], image 1 [2,3], the dense
    # block (128 bits) [3,4], image 2 [4,5]. c1's block reaches the chips at 2, 36, 70
    # (34 cycles a hop): c1 runs 2-18, 36-52, 70-86; the pool sums 16 channels of one
    # pixel in 16 cycles: 18-34, 52-68, 86-102. The 16-value partial sums (256 bits, 34
    # cycles a hop, 16 adds) go west: chip 1 has chip 2's at 136, done 152; the root has
    # chip 1's at 186, done 202. The dense block only the root needs: it stays there
    # (arrived at 4); the dense runs 202-218 (16 inputs, one block). Result: 1 cycle.
    b = NetBuilder("to_root", input_channels=16)
    b.conv(16, 1)
    b.global_pool()
    b.dense(8)
    plan = _plan(
        b, (1, 3), "1x3", weight_distribution="chain", link_bandwidth_gbps=0.8,
        link_latency_ns=20, **FAST_IO,
    )  # fmt: skip
    c = EVALUATORS[evaluator](plan)
    assert c.finish_cycles.tolist() == [218, 152, 102]
    assert c.total_cycles == 219
    assert c.c2c_weight_bits.tolist() == [256 * 2, 0, 0]


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_channel_partitioned_blocks_bind_each_chip_in_its_own_order(evaluator: str) -> None:
    # The 1x1 conv 16 -> 80 on 1 x 2 chips, channel partitioned, with a slow interface:
    # 8 bits/cycle, no latency: image tiles and blocks (256 bits each) take 32 cycles:
    # image 0 [0,32], block 0 [32,64], image 1 [64,96], blocks 1..4 [96,128] [128,160]
    # [160,192] [192,224]. Gather: chip 0's pixel reaches chip 1 at 32 + 18 = 50, chip 1's
    # reaches chip 0 at 96 + 18 = 114. Chip 0 computes its blocks 0, 2, 4 (its 1st, 2nd and
    # 3rd): 114-130, then waits for block 2 (160): 160-176, for block 4 (224): 224-240.
    # Chip 1 (image at 96) its blocks 1, 3: 128-144, 192-208. Results (1,536 and 1,024
    # bits) when each chip ends the layer, after the last read: chip 1's [224,352], chip
    # 0's [352,544].
    plan = _plan(
        _conv1x1(16, 80), (1, 2), "1x2", partitioning="channel", offchip_bandwidth_gbps=0.8,
        offchip_latency_ns=0,
    )  # fmt: skip
    c = EVALUATORS[evaluator](plan)
    assert c.finish_cycles.tolist() == [240, 208]
    assert c.total_cycles == 544
    assert c.stall_border_cycles.tolist() == [[114 - 32, 0]]


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_chain_forwards_a_block_only_as_far_as_its_owner(evaluator: str) -> None:
    # A 1x1 conv 16 -> 32 on 1 x 3 chips, channel partitioned, chain distribution: block 0
    # belongs to chip 0, block 1 to chip 1 (one hop), chip 2 owns none. Off-chip 8
    # bits/cycle, no latency: image 0 [0,32], block 0 [32,64], image 1 [64,96], block 1
    # [96,128], image 2 [128,160]. Links of one cycle per transfer + 2 latency (3 a hop).
    # Gathers (every chip's pixel to the others): chip 0's leaves at 32 (chip 1 at 35,
    # chip 2 at 38), chip 1's at 96 (99 both ways), chip 2's at 160 (chip 1 at 163, chip 0
    # at 166). Block 1 reaches chip 1 at 128 + 3 = 131, no farther.
    # Chip 0: 166-182 (one pixel step x 16 taps), chip 1: 163-179; chip 2 done at 160.
    # Results, 16 channels x 3 pixels x 16 bits = 768 bits each, as each chip ends the
    # layer: chip 1's [179,275], chip 0's [275,371].
    plan = _plan(
        _conv1x1(16, 32), (1, 3), "1x3", partitioning="channel", weight_distribution="chain",
        offchip_bandwidth_gbps=0.8, offchip_latency_ns=0, link_bandwidth_gbps=HUGE,
        link_latency_ns=20,
    )  # fmt: skip
    c = EVALUATORS[evaluator](plan)
    assert c.finish_cycles.tolist() == [182, 179, 160]
    assert c.total_cycles == 371
    assert c.c2c_weight_bits.tolist() == [256]


def test_analytic_timeline_names_the_chips_of_a_1x3_mesh() -> None:
    # The chain case above (c1 1x1 16 -> 32, 1 x 3 chips): one track per chip, named by
    # (row, column), and the off-chip interface; chip (0,2) waits for block 0, two chain
    # hops of 34 cycles after it left the interface at 2, until 70 (its image came at 5).
    plan = _plan(
        _conv1x1(16, 32), (1, 3), "1x3", weight_distribution="chain",
        link_bandwidth_gbps=0.8, link_latency_ns=20, **FAST_IO,
    )  # fmt: skip
    _, timeline = analytic.evaluate_timeline(plan)
    assert set(timeline.tracks) == {"chip (0,0)", "chip (0,1)", "chip (0,2)", "off-chip"}
    assert timeline.tracks["chip (0,2)"][0] == (0, 70, "stall: weights")


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_streamed_halos_leave_with_each_phase(evaluator: str) -> None:
    # c1 3x3 16 -> 32 (2 blocks), c2 3x3 32 -> 16 (1 block) on 4 rows x 7 columns over
    # 1 x 3 chips (columns 3, 2, 2), Tile-PUs 7 x 1 (one pixel step per column), halos
    # streamed: each c1 phase sends its 16 channels of the border column (1,024 bits) as
    # it ends, over links of 1 cycle + 2 latency.
    # c1 phases: 3 * 144 = 432 cycles on chip 0, 288 on chips 1 and 2. Off-chip (1 cycle
    # per transfer): image 0 [0,1], c1 blocks [1,2] [3,4], images 1, 2 [2,3] [4,5], c2's
    # block [5,6]. c1: chip 0 2-434-866, chip 1 3-291-579, chip 2 5-293-581.
    # Halos (each part 3 cycles after its phase): chip 0 from chip 1 at 294, 582; chip 1
    # from chip 0 at 437, 869 and from chip 2 at 296, 584; chip 2 from chip 1 at 294, 582.
    # c2 (288 taps): chip 0 864 cycles, its column 2 needs the halo (border 288): 866-1442
    # interior, done 1730. Chip 1: both columns need it (border 576): waits from 579 to
    # 869, done 1445. Chip 2: column 5 needs it (border 288): 581-869, halo at 582, done
    # 1157. Results: one cycle each as each chip ends: the last [1730,1731].
    b = NetBuilder("streamed", input_channels=16)
    b.conv(32, 3)
    b.conv(16, 3)
    plan = _plan(
        b, (4, 7), "1x3", {"tile_rows": 7, "tile_cols": 1}, border_exchange="streamed",
        link_bandwidth_gbps=HUGE, link_latency_ns=20, **FAST_IO,
    )  # fmt: skip
    c = EVALUATORS[evaluator](plan)
    assert c.finish_cycles.tolist() == [1730, 1445, 1157]
    assert c.stall_border_cycles[1].tolist() == [0, 869 - 579, 0]
    assert c.total_cycles == 1731


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_frames_follow_each_other_no_faster_than_the_busiest_link(evaluator) -> None:
    """Two 3x3 convs 16 -> 16 on a 4x8 image over 1x2 chips, ``chain`` distribution, links at
    0.01 Gbit/s (0.1 bit per 100 MHz cycle). By hand, the link into chip 1 carries both
    convs' weight blocks forwarded from chip 0 (2 x 16 x 16 x 9 = 4,608 bits) and conv2's
    halo column (4 px x 16 ch x 16 bits = 1,024): 5,632 bits, 56,320 cycles per frame. The
    analytic schedule does not book halos on the forwarding link, so before this floor it
    let frames follow each other faster than that link can carry them."""
    from hyperdrive_sim.evaluators.cycles import link_floor_cycles

    b = NetBuilder("two", input_channels=16)
    b.conv(16, 3)
    b.conv(16, 3)
    hw = hardware("1x2", weight_distribution="chain", link_bandwidth_gbps=0.01, frames=3)
    plan = build_plan(b.build().at(4, 8), hw)
    assert link_floor_cycles(plan) == 56_320
    assert EVALUATORS[evaluator](plan).frame_interval_cycles >= 56_320
