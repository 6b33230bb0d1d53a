"""The image streamed into the first layer and the results streamed out, derived by hand.

Units as in test_schedule_by_hand.py: the preset chip runs at 100 MHz, so 12.8 Gbit/s is 128
bits per cycle and 100 ns of latency 10 cycles. The host sends each chip's tile in the order
the first layer's lock-step Tile-PU array reads it, one burst per chip in turn, taking turns
with the weight reads (image first at equal times); local row k of the first phase starts
once its input rows have arrived (mapping/streaming.py). Each case is contention-free on the
links, so both evaluators must give the hand value.
"""

from __future__ import annotations

import pytest
from test_schedule_by_hand import hardware  # preset hardware, one frame alone

from hyperdrive_sim.evaluators import analytic, des
from hyperdrive_sim.mapping.streaming import image_rows, result_parts
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.workload.builder import NetBuilder

EVALUATORS = {"analytic": analytic.evaluate, "simpy": des.evaluate}
HUGE = 1e6  # Gbit/s: one cycle for any transfer here


#: a 1x1 conv, then a 3x3 conv, both 16 -> 16 channels (one weight block each)
WEIGHTS_CONV1 = 16 * 16  # bits: 2 interface cycles at 128 bits/cycle
WEIGHTS_CONV2 = 16 * 16 * 9  # 2,304 bits: 18 cycles


def _two_convs() -> NetBuilder:
    b = NetBuilder("stream_two", input_channels=16)
    b.conv(16, 1)
    b.conv(16, 3)
    return b


def _plan(mesh: str, tile: tuple[int, int], burst_bits: int, side: int = 14, **system):
    system = {
        "offchip_bandwidth_gbps": 12.8,
        "offchip_latency_ns": 100,
        "offchip_burst_bits": burst_bits,
        "link_bandwidth_gbps": HUGE,
        "link_latency_ns": 0,
        **system,
    }
    chip = {"tile_rows": tile[0], "tile_cols": tile[1]}
    plan = build_plan(_two_convs().build().at(side, side), hardware(mesh, chip, **system))
    assert plan.fits, plan.reason
    return plan


def test_the_tile_is_sent_in_the_order_of_the_lock_step_rows() -> None:
    # A 3x3 conv (pad 1) on 14 rows, one chip, 2 Tile-PU rows: patches of 7 rows, so local
    # row k computes output rows k and k + 7, which read input rows k-1..k+1 and k+6..k+8.
    # Rows needed so far: k=0 {0,1,6,7,8} 5; k=1 adds 2, 9: 7; then 9, 11, 13 (adds 5, 12),
    # 14 (adds 13), 14 (row 6 reads 5..7 and 12..13, all there). Each input row is
    # 14 columns x 16 channels x 16 bits = 3,584 bits; the tile 14 rows = 50,176 bits.
    b = NetBuilder("one_conv", input_channels=16)
    b.conv(16, 3)
    plan = build_plan(b.build().at(14, 14), hardware("1x1", {"tile_rows": 2, "tile_cols": 7}))
    (rows,) = image_rows(plan)
    assert rows is not None
    assert int(plan.image_in_bits[0]) == 14 * 3584
    assert rows.need == tuple(3584 * n for n in (5, 7, 9, 11, 13, 14, 14))
    # 7 local rows of the phase: 2 column steps x 144 taps each
    assert rows.ends == tuple(288 * (k + 1) for k in range(7))


def test_a_chip_without_work_in_the_first_layer_waits_for_its_whole_tile() -> None:
    # Channel partitioning moves the image before the first conv: no chip streams it.
    plan = _plan("1x2", (2, 7), 3584, partitioning="channel")
    assert image_rows(plan) == (None, None)


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_first_frame_on_1x2_chips_by_hand(evaluator: str) -> None:
    # 14x14x16 image over 1x2 chips: each holds 14 rows x 7 columns (25,088 bits). Tile-PUs
    # 2 x 7: patches of 7 rows x 1 column, so conv1 (1x1) computes 7 local rows of one
    # 16-cycle step; local row k reads input rows k and k + 7: 3,584 bits, one burst
    # (28 cycles). Interface (image first at equal times): c0 row 0 [0,28], conv1's block
    # [28,30] (-> 40), c1 row 0 [30,58], conv2's block [58,76], c0 row 1 [76,104], then
    # bursts alternate c1, c0, ... 28 cycles each: c0's rows arrive at 38, 114, 170, 226,
    # 282, 338, 394 (56 apart), c1's at 68, 142, 198, ..., 422.
    # conv1 on c0: 40-56 (block at 40), then each row as it arrives: the last 394-410.
    # On c1: 68-84, ..., 422-438.
    # conv2 (3x3, 7 steps x 144 taps = 1,008 cycles): Tile-PU column 6 computes the column
    # next to the neighbour in every step, so it all waits for the halo (one cycle over
    # the link): c0 from c1 at 439, 439-1447; c1 from c0 at 411, after its conv1: 438-1446.
    # Results (25,088 bits = 196 cycles per chip) as each chip ends: c1 [1446,1642], c0
    # [1642,1838], arriving at 1848.
    plan = _plan("1x2", (2, 7), 3584)
    assert plan.layers[0].phase_cycles.tolist() == [112, 112]
    assert plan.layers[1].phase_cycles.tolist() == [1008, 1008]
    c = EVALUATORS[evaluator](plan)
    assert c.layer_end.tolist() == [438, 1447]
    assert c.finish_cycles.tolist() == [1447, 1446]
    assert c.total_cycles == 1848
    # waiting for image data: c0 (114-56) + 5 x 40; c1 (68-40) + (142-84) + 5 x 40
    assert c.stall_io_cycles.tolist() == [58 + 200, 28 + 58 + 200]
    assert c.stall_weight_cycles[0].tolist() == [40, 40]


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_first_frame_on_2x2_chips_by_hand(evaluator: str) -> None:
    # 14x14x16 image over 2x2 chips of 7x7 pixels (12,544 bits each); Tile-PUs 1 x 7: conv1
    # computes 7 local rows of one 16-cycle step, row k reading input row k of the chip's
    # share (1,792 bits: one 14-cycle burst). Interface: c0 row 0 [0,14], conv1's block
    # [14,16] (-> 26), c1 row 0 [16,30], conv2's block [30,48], then one burst per chip in
    # turn from 48: burst n ends at 62 + 14 n, so chip c's row k >= 1 (and rows 0 of c2,
    # c3) leaves at 34 + 56 k + 14 c and arrives 10 later: c0 row 6 at 380, c1 394,
    # c2 408, c3 422. Rows arrive 56 apart and take 16, so each starts on arrival (c0's
    # row 0 at 26, with its block): conv1 ends at 396, 410, 424, 438.
    # conv2 (7 steps x 144 = 1,008 cycles) waits for its whole halo, each part one cycle
    # over its own link (diagonal corners): c0 needs c3's corner (439), c1 and c2 c3's edge
    # (439), c3 c2's edge (425) but ends conv1 at 438. conv2 ends 1447, 1447, 1447, 1446.
    # Results, 98 cycles each as the chips end: c3 [1446,1544], then c0, c1, c2: [1740,
    # 1838], arriving at 1848.
    plan = _plan("2x2", (1, 7), 1792, corner_routing="diagonal")
    assert plan.layers[0].phase_cycles.tolist() == [112] * 4
    c = EVALUATORS[evaluator](plan)
    assert c.finish_cycles.tolist() == [1447, 1447, 1447, 1446]
    assert c.total_cycles == 1848
    # c0 waits for rows 1..6: row 1 arrives at 100, row 0 ended at 42; then 56 - 16 each
    assert c.stall_io_cycles.tolist()[0] == 58 + 5 * 40


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_results_leave_with_each_phase_of_the_last_layer(evaluator: str) -> None:
    # conv 1x1 16 -> 32 on one pixel, one chip, with a fast interface (one cycle a
    # transfer, no latency): image [0,1], the two blocks [1,2] [2,3]; phases of 16 cycles
    # 2-18, 18-34; each phase's 16 result channels (256 bits, one cycle) are read as the
    # phase ends: [18,19], [34,35]. Read after the layer, both would end at 36.
    b = NetBuilder("one_conv", input_channels=16)
    b.conv(32, 1)
    system = {"offchip_bandwidth_gbps": HUGE, "offchip_latency_ns": 0}
    plan = build_plan(b.build().at(1, 1), hardware("1x1", None, **system))
    parts = result_parts(plan)
    assert parts is not None and parts.per_phase
    assert parts.bits == ((256, 256),)
    c = EVALUATORS[evaluator](plan)
    assert c.finish_cycles.tolist() == [34]
    assert c.total_cycles == 35


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_weight_reads_past_the_free_slots_wait_for_the_image(evaluator: str) -> None:
    # conv1 1x1 16 -> 64 (4 blocks of 256 bits), conv2 1x1 64 -> 1 (one 64-bit block) on a
    # 4x1 image, one chip, 8 bits/cycle, no latency, bursts of 256 bits: the tile (1,024
    # bits) is 4 bursts of 32 cycles, conv1's blocks 32 cycles each. conv1's one lock-step
    # step needs the whole tile. Interface: burst 0 [0,32], block 0 [32,64], burst 1
    # [64,96], block 1 [96,128], burst 2 [128,160]; block 2 needs the slot of block 0,
    # which phase 0 frees only after the tile is in, so burst 3 goes on: [160,192].
    # conv1's phases (16 cycles): 192-208, 208-224; block 2 [208,240]; 240-256; block 3
    # (after block 2) [240,272]; 272-288; conv2's block [272,280]; conv2 (64 cycles)
    # 288-352; its result (64 bits) [352,360]. Reserving block 2 right after burst 2 would
    # have delayed the tile to 224.
    b = NetBuilder("two_1x1", input_channels=16)
    b.conv(64, 1)
    b.conv(1, 1)
    system = {"offchip_bandwidth_gbps": 0.8, "offchip_latency_ns": 0, "offchip_burst_bits": 256}
    plan = build_plan(b.build().at(4, 1), hardware("1x1", None, **system))
    c = EVALUATORS[evaluator](plan)
    assert c.stall_io_cycles.tolist() == [192 - 64]  # block 0 at 64, the tile at 192
    assert c.layer_end.tolist() == [288, 352]
    assert c.total_cycles == 360
