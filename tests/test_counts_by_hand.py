"""Counts, energy and area on the cases the presets never vary, each derived by hand.

The presets are square (7x7 Tile-PUs, square kernels, square meshes), FP16 and without
techniques, so a slip that swaps rows for columns, a read width for a write width or drops
a term that is zero there would go unnoticed. Every case below breaks one symmetry on
purpose and states the expected value's derivation next to it.

Conventions: ``ceil(a/b)`` is written out; a conv's taps are ``C_in/groups * kh * kw``;
its cycles ``blocks * ceil(h/M) * ceil(w/N) * taps`` (docs/model.md); FP16 maps are 16
bits per value, binary maps 1, weights 1 bit.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from presets import PER_BIT_SRAM
from presets import preset as _preset

from hyperdrive_sim.evaluators import analytic
from hyperdrive_sim.mapping.costs import Precision, Pruning, largest_block_bits, layer_work
from hyperdrive_sim.mapping.partition import multicast, unicast
from hyperdrive_sim.mapping.plan import gather_cycles, next_image_layer, streamed_halo_bits
from hyperdrive_sim.mapping.tiling import Tiling, halo
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.pricing.area import chip_area, link_ports
from hyperdrive_sim.pricing.energy import leakage_mw, price, sram_bits, sram_scale
from hyperdrive_sim.spec.area import AreaTable
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, SystemSpec
from hyperdrive_sim.workload.builder import NetBuilder
from hyperdrive_sim.workload.layers import INPUT, Conv, Dense, Pool, Shape
from hyperdrive_sim.workload.network import Network

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def chip(**over) -> ChipSpec:
    return ChipSpec.model_validate(_preset("chips/hyperdrive.yaml") | over)


def hardware(mesh: str, chip_over: dict | None = None, **system) -> Hardware:
    return Hardware(
        chip(**(chip_over or {})),
        # one frame alone unless a test sets frames: the derivations follow one frame
        SystemSpec.model_validate(_preset("systems/hyperdrive_mesh.yaml") | {"frames": 1} | system),
        EnergyTable.model_validate(_preset("energy/hyperdrive_22fdx.yaml")),
        Mesh.model_validate(mesh),
    )


#: the per-bit SRAM rule (an energy table without a memory table): the values the bundled
#: table held before it named CACTI's memory table, so the hand derivations below stay

#: a Tile-PU array of 2 rows x 5 columns: any rows/cols mix-up changes the counts below
WIDE = chip(tile_rows=2, tile_cols=5)
NO_SHARE = np.zeros(1, dtype=np.int64)


def _info(layer, cin: int, h: int, w: int):
    return Network("one", (layer,), input_channels=cin).at(h, w).infos[0]


def test_the_preset_is_what_the_derivations_assume() -> None:
    c = chip()
    assert (c.fmpus_per_tile, c.activation_bits, c.weight_bits) == (16, 16, 1)
    assert (c.weight_buffer_blocks, c.border_buffer_bits, c.weight_cache_bits) == (2, 0, 0)
    assert c.operating_points["nominal"].voltage_v == 0.8


# ------------------------------------------------------------------------------------------
# Non-square Tile-PU array, kernels and pools


def test_conv_on_a_2x5_tile_pu_array() -> None:
    # 3x3 conv, 4 -> 20 channels, on a 7-row x 6-column share; M = 2, N = 5, C = 16.
    # blocks: 16 + 4 channels; taps 4*9 = 36; pixel steps ceil(7/2) * ceil(6/5) = 4 * 2 = 8
    # (rows and columns swapped it would be ceil(7/5) * ceil(6/2) = 6).
    # cycles 2 * 8 * 36 = 576; MACs 42 px * 20 * 36 = 30,240
    # FMM reads: every block reads each pixel's 36 taps: 2 * 42 * 36 * 16 = 48,384 bits
    # FMM writes 42 * 20 * 16 = 13,440; weight-buffer reads: every pixel step reads the
    # 20 channels' weight bit for each tap: 8 * 36 * 20 = 5,760; writes: every weight once
    # (20 * 36 = 720 bits).
    info = _info(Conv("c", (INPUT,), kernel=3, padding=1, out_channels=20), 4, 7, 6)
    w = layer_work(info, WIDE, np.array([7]), np.array([6]), NO_SHARE, False)
    assert w.cycles.tolist() == [576]
    assert w.macs.tolist() == [30_240]
    assert w.fmm_read_bits.tolist() == [48_384]
    assert w.fmm_write_bits.tolist() == [13_440]
    assert w.wbuf_read_bits.tolist() == [5_760]
    assert w.wbuf_write_bits.tolist() == [720]
    assert w.blocks.tolist() == [16 * 36, 4 * 36]
    # scaling factors: one FP16 multiply per output value (42 * 20 = 840), done by the
    # FMPUs in one more cycle per pixel step and block: 576 + 2 * 8 = 592
    scaled = layer_work(info, WIDE.model_copy(update={"scaling_factors": True}),
                        np.array([7]), np.array([6]), NO_SHARE, False)  # fmt: skip
    assert scaled.fp16_muls.tolist() == [840]
    assert scaled.cycles.tolist() == [592]
    assert w.fp16_muls.tolist() == [0]


def test_conv_with_a_3x1_kernel_on_a_wide_array() -> None:
    # kernel 3 rows x 1 column, padding (1, 0), 2 -> 4 channels, on a 5 x 11 share with
    # M = 2, N = 5: taps 2 * 3 * 1 = 6; steps ceil(5/2) * ceil(11/5) = 3 * 3 = 9;
    # 1 block: cycles 9 * 6 = 54; MACs 55 * 4 * 6 = 1,320; weights 4 * 6 = 24 bits
    info = _info(Conv("c", (INPUT,), kernel=(3, 1), padding=(1, 0), out_channels=4), 2, 5, 11)
    w = layer_work(info, WIDE, np.array([5]), np.array([11]), NO_SHARE, False)
    assert (info.out_shape.height, info.out_shape.width) == (5, 11)
    assert w.cycles.tolist() == [54]
    assert w.macs.tolist() == [1_320]
    assert w.blocks.tolist() == [24]


def test_pool_3x2_binary_input_fp16_output_on_a_wide_array() -> None:
    # max pool 3 rows x 2 columns, stride (3, 2), 4 channels, 6 x 8 input -> 2 x 4 output;
    # M = 2, N = 5: steps ceil(2/2) * ceil(4/5) = 1; cycles 4 ch * 1 * (3*2) = 24
    # (kw*kw would give 16, kh*kh 36). Compares 8 px * 4 * 6 = 192.
    # Binary input, FP16 output (the network's last layer keeps full precision):
    # reads 8 * 4 * 6 windows elements * 1 bit = 192, writes 8 * 4 * 16 = 512.
    info = _info(Pool("p", (INPUT,), kernel=(3, 2), stride=(3, 2)), 4, 6, 8)
    w = layer_work(info, WIDE, np.array([2]), np.array([4]), NO_SHARE, False, Precision(1, 16))
    assert w.cycles.tolist() == [24]
    assert w.fp16_adds.tolist() == [192]
    assert w.fmm_read_bits.tolist() == [192]
    assert w.fmm_write_bits.tolist() == [512]
    assert w.wbuf_read_bits.tolist() == w.wbuf_write_bits.tolist() == [0]


def test_halo_of_a_3x1_kernel_on_a_2x3_mesh() -> None:
    # 6 rows x 9 columns over 2 x 3 chips: rows [0,3) [3,6), columns [0,3) [3,6) [6,9).
    # Kernel 3x1, padding (1, 0): output rows [lo,hi) need input rows [lo-1, hi+1) clipped,
    # columns only their own. Chip row 0 needs 1 row from below (S), chip row 1 one row
    # from above (N), each 3 columns wide: 3 pixels; no W/E/corner halo.
    # Halo-free outputs: output row y needs rows y-1..y+1 inside the chip's [0,3) or
    # [3,6): rows 0, 1 (chip row 0) and 4, 5 (chip row 1), so 2 rows x all 3 columns = 6.
    layer = Conv("c", (INPUT,), kernel=(3, 1), padding=(1, 0), out_channels=1)
    mesh, image = Mesh.model_validate("2x3"), Shape(1, 6, 9)
    h = halo(layer, Tiling.of(layer.infer((image,)), mesh), Tiling.of(image, mesh))
    from_south, from_north = [0, 3, 0, 0, 0, 0, 0, 0], [3, 0, 0, 0, 0, 0, 0, 0]
    assert h.pixels.tolist() == [from_south] * 3 + [from_north] * 3
    assert h.interior_pixels.tolist() == [6] * 6
    assert not h.too_far.any()


# ------------------------------------------------------------------------------------------
# Dense layers with kernel reuse, FP16 and binary


def _reused_dense(precision: Precision, scaling: bool = False):
    # A dense layer of 8 inputs -> 20 outputs whose inputs lie on two chips (6 and 2 values
    # of a tiled map, reduced afterwards). Kernel reuse saves a quarter of the MACs, lets
    # the FMPUs skip half the input positions, 3 kernels reuse a parent (2 of them parents),
    # and the coded weight blocks are 150 and 50 bits (kernels, masks and parent fields).
    # A third chip holds none of the inputs.
    info = _info(Dense("fc", (INPUT,), out_features=20), 2, 2, 2)  # 2x2x2 = 8 features
    pruning = Pruning(saved=0.25, skippable=0.5, reusing=3, parents=2, block_bits=(150, 50))
    spec = chip(scaling_factors=scaling)
    none = np.zeros(3, np.int64)
    return layer_work(info, spec, none, none, np.array([6, 2, 0]), True, precision, pruning)


def test_dense_with_kernel_reuse_fp16() -> None:
    # blocks: 16 + 4 outputs (2 blocks). Steps: inputs minus the skipped half: 6-3 = 3 and
    # 2-1 = 1. cycles = 2 blocks * steps + 3 reusing kernels (one step each reading its
    # parent) = 9 and 5. MACs 6*20 = 120 and 2*20 = 40; skipped a quarter: 30 and 10.
    # FMM reads: 2 * steps * 16 bits + 3 parent words * 16 = 144 and 80.
    # FMM writes: the 20 FP16 outputs, 320 bits each; the parents' FP16 sums are the
    # outputs themselves in FP16 mode, so nothing more.
    # Weight-buffer reads: every step reads 20 weight bits + 3 mask bits: 69 and 23.
    # Weight-buffer writes: the chip's inputs' share of kernels and masks (23 bits per
    # input) plus the parent fields, 150 + 50 - 23 * 8 = 16 bits: 154 and 62.
    w = _reused_dense(Precision(16, 16))
    assert w.cycles.tolist() == [9, 5, 0]
    assert w.macs.tolist() == [120, 40, 0]
    assert w.skipped_macs.tolist() == [30, 10, 0]
    assert w.xnor_macs.tolist() == [0, 0, 0]
    assert w.fmm_read_bits.tolist() == [144, 80, 0]
    assert w.fmm_write_bits.tolist() == [320, 320, 0]
    assert w.wbuf_read_bits.tolist() == [69, 23, 0]
    assert w.wbuf_write_bits.tolist() == [154, 62, 0]
    assert w.fp16_muls.tolist() == [0, 0, 0]
    assert w.blocks.tolist() == [150, 50]
    assert w.reduce_len == 20


def test_dense_with_kernel_reuse_binary() -> None:
    # Binary activations: the 1-bit inputs are read at 1 bit (2 * steps), the parents'
    # outputs still as FP16 words (3 * 16): 54 and 50. Outputs are written at 1 bit (20),
    # and the 2 parents keep their FP16 sums: 2 * (16 - 1) more bits: 50.
    # Executed MACs are XNOR-popcounts: 120 - 30 and 40 - 10.
    w = _reused_dense(Precision(1, 1))
    assert w.fmm_read_bits.tolist() == [54, 50, 0]
    assert w.fmm_write_bits.tolist() == [50, 50, 0]
    assert w.xnor_macs.tolist() == [90, 30, 0]
    assert w.cycles.tolist() == [9, 5, 0]
    # binary inputs, FP16 outputs (a network's last layer): 20 * 16 bits, no parent sums
    assert _reused_dense(Precision(1, 16)).fmm_write_bits.tolist() == [320, 320, 0]
    # scaling factors: the 20 outputs are scaled once, after the reduction, on the root
    # chip (chip 0), one cycle per block (2)
    scaled = _reused_dense(Precision(1, 1), scaling=True)
    assert scaled.fp16_muls.tolist() == [20, 0, 0]
    assert scaled.cycles.tolist() == [11, 5, 0]


def test_a_chip_with_one_output_pixel_receives_every_weight_block() -> None:
    # 1x1 conv 16 -> 32 (2 blocks of 16 x 16 bits = 256) on shares of 1, 2 and 0 pixels:
    # any chip with an output pixel needs both blocks (512 bits), an idle chip none.
    info = _info(Conv("c", (INPUT,), kernel=1, out_channels=32), 16, 1, 3)
    w = layer_work(info, chip(), np.array([1, 1, 0]), np.array([1, 2, 0]), np.zeros(3), False)
    assert w.wbuf_write_bits.tolist() == [512, 512, 0]
    # cycles: 2 blocks * 1 step * 16 taps on both working chips
    assert w.cycles.tolist() == [32, 32, 0]


# ------------------------------------------------------------------------------------------
# Plans on non-square meshes, in binary mode, with batches and frames


def _two_convs(cin: int = 16) -> NetBuilder:
    b = NetBuilder("two_convs", input_channels=cin)
    b.conv(16, 3, name="c1")
    b.conv(16, 3, name="c2")
    return b


def test_binary_plan_keeps_the_image_and_the_output_at_fp16() -> None:
    # Binary mode, first and last kept: c1 reads the FP16 image and writes 1-bit maps,
    # c2 reads 1-bit maps and writes the FP16 network output. 4 x 6 image over a 1 x 2
    # mesh: each chip 4 x 3 pixels, 16 channels.
    # c1: reads 1 block * 12 px * 144 taps * 16 bits = 27,648; writes 12 * 16 * 1 = 192.
    # c2: reads 12 * 144 * 1 = 1,728; writes 12 * 16 * 16 = 3,072.
    # c2's halo: one column of 4 pixels of 1-bit c1 outputs: 4 * 16 * 1 = 64 bits.
    hw = hardware("1x2", {"activation_mode": "binary"})
    plan = build_plan(_two_convs().build().at(4, 6), hw)
    c1, c2 = plan.layers
    assert c1.work.fmm_read_bits.tolist() == [27_648] * 2
    assert c1.work.fmm_write_bits.tolist() == [192] * 2
    assert c2.work.fmm_read_bits.tolist() == [1_728] * 2
    assert c2.work.fmm_write_bits.tolist() == [3_072] * 2
    assert c2.halo_bits.sum(axis=1).tolist() == [64, 64]
    assert c1.work.xnor_macs.sum() == 0 and c2.work.xnor_macs.sum() == c2.work.macs.sum()
    assert plan.image_in_bits.tolist() == [(12 + 4) * 16 * 16] * 2  # share + image halo
    assert plan.result_out_bits.tolist() == [12 * 16 * 16] * 2


def test_plan_on_a_3x2_mesh_of_a_wide_map() -> None:
    # 6 rows x 10 columns over 3 rows x 2 columns of chips: shares 2 x 5; with M = 2,
    # N = 5 one pixel step each: c1 cycles 1 * 1 * 144 = 144 on every chip. On a 2 x 3
    # mesh the shares are 3 x 4 (rounded from 10/3): steps ceil(3/2) * ceil(4/5) = 2,
    # and the last column 3 x 3: also 2: 288.
    net = _two_convs().build().at(6, 10)
    tall = build_plan(net, hardware("3x2", {"tile_rows": 2, "tile_cols": 5}))
    wide = build_plan(net, hardware("2x3", {"tile_rows": 2, "tile_cols": 5}))
    assert tall.layers[0].work.cycles.tolist() == [144] * 6
    assert wide.layers[0].work.cycles.tolist() == [288] * 6
    # c2's halo on the 3x2 mesh, chip (1,0) (a middle row, west column): N and S 1 row x
    # 5 columns, E 2 rows x 1 column, NE and SE one pixel each: 5+5+2+1+1 = 14 pixels,
    # 14 * 16 ch * 16 bits = 3,584 bits
    assert tall.layers[1].halo_bits[2].tolist() == [
        1280, 1280, 0, 512, 0, 256, 0, 256
    ]  # fmt: skip
    assert int(tall.layers[1].halo_bits[2].sum()) == 14 * 256


def test_batch_of_two_doubles_maps_and_halos_not_weights() -> None:
    # Two 3x3 convs 16 -> 16 on 4 x 4 over 1 x 2: each chip 4 x 2 pixels. Batch of 1:
    # c2's halo is one column of 4 pixels, 4 * 16 * 16 = 1,024 bits; the border buffer
    # holds it. c1's FMM need: image share + c1 output, 2 * (8 * 16 * 16) = 4,096.
    # A batch of 2 holds and moves both frames' maps: 2,048 and 8,192; weights are
    # written once per block either way (16 * 144 = 2,304 bits), cycles doubled.
    net = _two_convs().build().at(4, 4)
    one = build_plan(net, hardware("1x2", {"border_buffer_bits": 2048}))
    two = build_plan(net, hardware("1x2", {"border_buffer_bits": 2048}, batch=2))
    assert one.layers[1].halo_need_bits.tolist() == [1024, 1024]
    assert two.layers[1].halo_need_bits.tolist() == [2048, 2048]
    assert one.layers[0].fmm_need_bits.tolist() == [4096, 4096]
    assert two.layers[0].fmm_need_bits.tolist() == [8192, 8192]
    assert two.layers[1].work.wbuf_write_bits.tolist() == [2304, 2304]
    assert two.layers[1].work.cycles.tolist() == [2 * 144] * 2
    assert two.image_in_bits.tolist() == [2 * (8 + 4) * 256] * 2
    # exactly full fits; one bit less overflows the border buffer
    assert two.fits, two.reason
    tight = build_plan(net, hardware("1x2", {"border_buffer_bits": 2047}, batch=2))
    assert "border buffer" in tight.reason and "over by 1 bits" in tight.reason


def test_next_frame_image_waits_for_room_in_the_fmm() -> None:
    # One chip, 16 x 4 x 4 image (4,096 bits). c1 16 -> 16, c2 16 -> 32, c3 32 -> 8, all
    # 3x3: FMM needs (live maps) c1: image + c1 = 8,192; c2: c1 + c2 = 4,096 + 8,192 =
    # 12,288; c3: c2 + c3 = 8,192 + 2,048 = 10,240. With the next image beside them:
    # 12,288, 16,384, 14,336. An FMM of 15,000 bits fits the frame but not the next
    # image during c2: it may load after layer 1. 13,000: after layer 2. 20,000: at once.
    b = NetBuilder("three", input_channels=16)
    b.conv(16, 3, name="c1")
    b.conv(32, 3, name="c2")
    b.conv(8, 3, name="c3")
    net = b.build().at(4, 4)
    plans = {f: build_plan(net, hardware("1x1", {"fmm_bits": f})) for f in (13_000, 15_000, 20_000)}
    assert [int(lp.fmm_need_bits[0]) for lp in plans[15_000].layers] == [8192, 12288, 10240]
    assert plans[13_000].fits and plans[15_000].fits
    assert [int(next_image_layer(plans[f])[0]) for f in (13_000, 15_000, 20_000)] == [2, 1, -1]
    # exactly full (need + image == FMM during c2) leaves room; one bit less does not
    exact = build_plan(net, hardware("1x1", {"fmm_bits": 16_384}))
    short = build_plan(net, hardware("1x1", {"fmm_bits": 16_383}))
    assert [int(next_image_layer(p)[0]) for p in (exact, short)] == [-1, 1]


# ------------------------------------------------------------------------------------------
# Energy: every term priced on its own, away from every symmetry


def _counts(**values):
    """Counts of a real one-layer, one-chip frame with the given fields replaced."""
    b = NetBuilder("one", input_channels=16)
    b.conv(16, 1)
    counts = analytic.evaluate(build_plan(b.build().at(1, 1), hardware("1x1")))
    arrays = {
        k: np.array([[v]]) if np.ndim(getattr(counts, k)) == 2 else np.array([v])
        for k, v in values.items()
        if isinstance(v, int)
        and k not in ("total_cycles", "frame_interval_cycles", "frames_per_pass")
    }
    plain = {k: v for k, v in values.items() if k not in arrays}
    return replace(counts, **arrays, **plain)


def test_every_energy_term_at_a_scaled_voltage_and_memory_size() -> None:
    # Nominal point 0.8 V against the table's 0.5 V: dynamic factor 1.6**2 = 2.56, leakage
    # 1.6. FMM of 1.6 Mbit = 1/4 of the 6.4 Mbit reference: read/write energy per bit
    # x (1/4)**0.5 = 0.5; a 0.4 Mbit weight cache: x (1/16)**0.5 = 0.25.
    # The table's FP16 add (0.06) and weight-buffer write (0.015) are set apart from the
    # binary MAC and weight-buffer read (0.05 and 0.01) so no two terms share a price.
    base = hardware(
        "1x1", {"operating_point": "nominal", "fmm_bits": 1_600_000, "weight_cache_bits": 400_000}
    )
    t = base.energy.model_copy(
        update={**PER_BIT_SRAM, "fp16_add_pj": 0.06, "wbuf_write_pj_per_bit": 0.015}
    )
    hw = Hardware(base.chip, base.system, t, base.mesh)
    counts = _counts(
        macs=1000, skipped_macs=100, xnor_macs=300, fp16_adds=50, fp16_muls=7,
        fmm_read_bits=2000, fmm_write_bits=3000, wbuf_read_bits=400, wbuf_write_bits=500,
        cache_read_bits=600, offchip_weight_bits=11, c2c_border_bits=13, c2c_weight_bits=17,
        c2c_reduce_bits=19, c2c_gather_bits=23, layer_cycles=900, image_in_bits=29,
        result_out_bits=31, total_cycles=1000, frame_interval_cycles=0, frames_per_pass=2,
    )  # fmt: skip
    e = price(counts, hw)
    dyn, pj = 2.56e-12, 1e-12
    # core: FP16 MACs are those neither skipped nor XNOR: 1000 - 100 - 300 = 600
    core = (600 * 0.05 + 300 * 0.004 + 50 * 0.06 + 7 * 0.17) * dyn
    mem = (
        2000 * 0.02 * 0.5 + 3000 * 0.025 * 0.5 + 400 * 0.01 + 500 * 0.015 + 600 * 0.02 * 0.25
    ) * dyn
    # a link hop: 1/4 x (2 pads + 1 trace of 2 pF) x (1.2 V)^2 = 2.16 pJ/bit; off-chip (one
    # chip, one drop): 19.56 + 1/4 x 4 pF x 1.44 = 21 pJ/bit
    c2c = (13 + 17 + 19 + 23) * 2.16 * pj
    # leakage: 0.116 mW logic + (1.6 + 0.4) Mbit * 0.06 mW/Mbit = 0.236 mW at 0.5 V, x 1.6;
    # 300 MHz (nominal): per cycle 0.236e-3 * 1.6 / 300e6 J
    leak_cycle = 0.236e-3 * 1.6 / 300e6
    assert leakage_mw(hw) == pytest.approx(0.236 * 1.6)  # at the operating voltage
    assert sram_bits(hw.chip) == 2_000_000
    assert sram_scale(1_600_000, t) == pytest.approx(0.5)
    assert sram_scale(0, t) == 0.0  # no memory, no energy, whatever the exponent
    assert sram_scale(0, t.model_copy(update={"sram_energy_exponent": 0})) == 0.0
    assert sram_scale(1, t) == pytest.approx((1 / 6.4e6) ** 0.5)
    # a batch of 2: every per-layer joule and the frame's I/O are per frame (/ 2)
    assert e.per_layer["core"].tolist() == pytest.approx([core / 2], rel=1e-12)
    assert e.per_layer["onchip_mem"].tolist() == pytest.approx([mem / 2], rel=1e-12)
    assert e.per_layer["offchip_io"].tolist() == pytest.approx([11 * 21 * pj / 2], rel=1e-12)
    assert e.per_layer["c2c_io"].tolist() == pytest.approx([c2c / 2], rel=1e-12)
    assert e.per_layer["leakage"].tolist() == pytest.approx([900 * leak_cycle / 2], rel=1e-12)
    assert e.frame_offchip_j == pytest.approx((29 + 31) * 21 * pj / 2, rel=1e-12)
    # the 100 cycles outside the layers (image in, results out) leak too
    assert e.frame_leakage_j == pytest.approx(100 * leak_cycle / 2, rel=1e-12)
    assert e.total_j == pytest.approx(
        (core + mem + 11 * 21 * pj + c2c + 1000 * leak_cycle + 60 * 21 * pj) / 2, rel=1e-12
    )
    # frames back to back: every chip leaks for one steady-state interval per frame
    steady = price(replace(counts, frame_interval_cycles=1500), hw)
    assert steady.per_layer["leakage"].tolist() == pytest.approx(
        [900 * leak_cycle * 1.5 / 2], rel=1e-12
    )


# ------------------------------------------------------------------------------------------
# Area


AREA = AreaTable.model_validate(_preset("area/hyperdrive_22fdx.yaml"))


@pytest.mark.parametrize(
    ("mesh", "routing", "ports"),
    [
        ("1x1", "diagonal", 0),
        ("1x4", "diagonal", 4),  # W and E only: a single row has no diagonal neighbours
        ("4x1", "diagonal", 4),  # N and S only
        ("2x3", "relay", 8),  # N, S, W, E, each in and out
        ("2x3", "diagonal", 16),  # plus NW, NE, SW, SE
        ("3x2", "diagonal", 16),
        ("2x2", "diagonal", 16),
    ],
)
def test_link_ports(mesh: str, routing: str, ports: int) -> None:
    hw = hardware(mesh, corner_routing=routing)
    assert link_ports(hw.system, hw.mesh) == ports


def test_chip_area_of_a_wide_array_on_a_1x4_diagonal_mesh() -> None:
    # 2 x 5 Tile-PUs of 16 FMPUs: 10 * (0.00028 + 16 * 0.00056) = 0.0924 mm²
    # SRAM 6.4 Mbit FMM + 0.5 Mbit border buffer + 1 Mbit cache = 7.9 Mbit * 0.2 = 1.58
    # weight buffer 2 blocks * 3,000 bits + 2,000 dictionary bits = 8 kbit * 0.0017 = 0.0136
    # control 0.1: a 1.786 mm² core, side sqrt(1.786) + 2 * 0.12 = 1.5764 mm
    # pads: 26 off-chip + 4 ports * (16 + 2) = 98 signal pads + 49 power/ground = 147,
    # ceil(147 / 4) = 37 per side * 50 um + 2 * 120 um = 2.09 mm: pad-limited, 4.3681 mm²
    hw = hardware(
        "1x4",
        {"tile_rows": 2, "tile_cols": 5, "border_buffer_bits": 500_000,
         "weight_cache_bits": 1_000_000, "kernel_dictionary_bits": 2_000},
        corner_routing="diagonal",
    )  # fmt: skip
    # the per-Mbit rule (no memory table given): 0.2 mm²/Mbit
    area = AREA.model_copy(update={"sram_mm2_per_mbit": 0.2})
    a = chip_area(hw.chip, hw.system, hw.mesh, area, 3_000)
    assert a.datapath == pytest.approx(0.0924)
    assert a.sram == pytest.approx(1.58)
    assert a.weight_buffer == pytest.approx(0.0136)
    assert (a.signal_pads, a.power_pads) == (98, 49)
    assert a.control == pytest.approx(0.1)
    assert a.core_mm2 == pytest.approx(0.0924 + 1.58 + 0.0136 + 0.1)
    assert a.pad_limited
    assert a.chip_mm2 == pytest.approx(2.09**2)
    assert a.silicon_mm2 == pytest.approx(4 * a.chip_mm2)
    assert a.chips == 4


def test_a_map_narrower_than_the_mesh_does_not_cover_it() -> None:
    # 3 columns over 4 chip columns: sizes 1, 1, 1, 0 (rows 8 over 1: fine)
    t = Tiling.of(Shape(1, 8, 3), Mesh.model_validate("1x4"))
    assert t.col_sizes.tolist() == [1, 1, 1, 0]
    assert not t.covers_mesh
    assert Tiling.of(Shape(1, 8, 4), Mesh.model_validate("1x4")).covers_mesh


def test_which_chips_need_a_halo_from_beyond_their_neighbours() -> None:
    # A 9x1 kernel, padding (4, 0), on 10 rows over 3 chip rows: rows [0,4) [4,7) [7,10).
    # Output rows [lo,hi) need input rows [lo-4, hi+4) clipped to [0,10).
    # Chip row 0: [0,8): 4 rows after its own, the next chip has 3: too far.
    # Chip row 1: [0,10): 4 rows before (chip row 0 has 4) and 3 after (chip row 2 has 3).
    # Chip row 2: [3,10): 4 rows before, chip row 1 has 3: too far.
    layer = Conv("c", (INPUT,), kernel=(9, 1), padding=(4, 0), out_channels=1)
    mesh, image = Mesh.model_validate("3x1"), Shape(1, 10, 2)
    h = halo(layer, Tiling.of(layer.infer((image,)), mesh), Tiling.of(image, mesh))
    assert h.too_far.tolist() == [True, False, True]
    assert h.pixels[:, :2].tolist() == [[0, 4 * 2], [4 * 2, 3 * 2], [4 * 2, 0]]  # N, S


def test_add_upsample_and_global_pool_on_a_wide_array() -> None:
    # On a 3 x 7 share with M = 2, N = 5: steps ceil(3/2) * ceil(7/5) = 4; 8 channels.
    # add of three maps: every operand word read once, one word per Tile-PU per cycle:
    # cycles 3 * 8 * 4 = 96; 2 adds per output: 2 * 21 * 8 = 336; reads 3 * 21 * 8 * 16
    # = 8,064 bits; writes 21 * 8 * 16 = 2,688.
    b = NetBuilder("ops", input_channels=8)
    a1 = b.conv(8, 1, name="a1")
    a2 = b.conv(8, 1, src=INPUT, name="a2")
    b.add(a1, a2, INPUT, name="sum")
    b.upsample(2, name="up")
    b.global_pool(name="gp")
    infos = {i.layer.name: i for i in b.build().at(3, 7).infos}
    h, w = np.array([3]), np.array([7])
    add = layer_work(infos["sum"], WIDE, h, w, NO_SHARE, False)
    assert add.cycles.tolist() == [96]
    assert add.fp16_adds.tolist() == [336]
    assert add.fmm_read_bits.tolist() == [8_064]
    assert add.fmm_write_bits.tolist() == [2_688]
    # upsample to 6 x 14: steps ceil(6/2) * ceil(14/5) = 9; cycles 8 * 9 = 72; each of the
    # 84 * 8 output words read and written once: 10,752 bits each
    up = layer_work(infos["up"], WIDE, np.array([6]), np.array([14]), NO_SHARE, False)
    assert up.cycles.tolist() == [72]
    assert up.fmm_read_bits.tolist() == up.fmm_write_bits.tolist() == [10_752]
    # global pool of a chip's 8 channels x 84 pixels: each of the 10 Tile-PUs sums its
    # pixels channel by channel, ceil(84/10) = 9 per channel: 8 * 9 = 72 cycles; 672 adds;
    # reads 672 * 16; writes the 8 sums (128 bits); a chip without pixels writes nothing.
    gp = layer_work(infos["gp"], WIDE, np.zeros(2), np.zeros(2), np.array([672, 0]), True)
    assert gp.cycles.tolist() == [72, 0]
    assert gp.fp16_adds.tolist() == [672, 0]
    assert gp.fmm_read_bits.tolist() == [10_752, 0]
    assert gp.fmm_write_bits.tolist() == [128, 0]
    assert gp.reduce_len == 8
    # binary input, FP16 output: reads 672 * 1 bit, writes 8 * 16
    gp1 = layer_work(
        infos["gp"], WIDE, np.zeros(2), np.zeros(2), np.array([672, 0]), True, Precision(1, 16)
    )
    assert gp1.fmm_read_bits.tolist() == [672, 0]
    assert gp1.fmm_write_bits.tolist() == [128, 0]
    # channel partitioned: chips own 5 and 3 whole channels of the 84-pixel map: each
    # channel ceil(84/10) = 9 cycles: 45 and 27
    owned = np.array([5, 3])
    gpc = layer_work(infos["gp"], WIDE, np.ones(2), np.ones(2), owned * 84, False, owned=owned)
    assert gpc.cycles.tolist() == [45, 27]


def test_largest_weight_block_sizes_the_weight_buffer() -> None:
    # conv 3x3, 4 -> 20: blocks of 16 and 4 channels x 36 taps: the larger 576 bits.
    # dense 20*2*2 = 80 features -> 10 outputs: one block of min(10, 16) = 10 outputs x 80
    # = 800 bits; dense 10 -> 40: blocks of 16 outputs x 10 = 160 bits. Largest: 800.
    b = NetBuilder("blocks", input_channels=4)
    b.conv(20, 3)
    b.pool(2)
    b.dense(10)
    b.dense(40)
    infos = b.build().at(4, 4).infos
    assert largest_block_bits(infos, chip()) == 800
    assert largest_block_bits(infos[:1], chip()) == 576
    assert largest_block_bits(infos[1:2], chip()) == 0  # a pool streams no weights


def test_phases_and_streamed_halo_parts_on_a_wide_array() -> None:
    # c1 3x3 4 -> 20, c2 3x3 20 -> 8 on a 4 x 6 image over 1 x 2 chips (4 x 3 each), on the
    # 2 x 5 array: steps ceil(4/2) * ceil(3/5) = 2. c2: taps 20 * 9 = 180, one block:
    # 360 cycles in one phase. c1: blocks of 16 and 4 channels, taps 36: 144 cycles in
    # 2 phases of 72. The 2 x 5 Tile-PUs work in lock-step on 2 x 1 patches: Tile-PU
    # column 2 holds output column 2, which needs input column 3 from the neighbour, so
    # both steps (local rows 0 and 1 of the one local column) read the halo: all 360
    # cycles of c2's phase wait for it.
    # Streamed borders: c2's halo (4 rows x 1 column x 20 channels x 16 bits = 1,280 bits
    # per chip) leaves with c1's phases: 16 and 4 channels, 1,024 and 256 bits.
    b = NetBuilder("phases", input_channels=4)
    b.conv(20, 3, name="c1")
    b.conv(8, 3, name="c2")
    hw = hardware("1x2", {"tile_rows": 2, "tile_cols": 5}, border_exchange="streamed")
    plan = build_plan(b.build().at(4, 6), hw)
    c1, c2 = plan.layers
    assert (c1.phases, c2.phases) == (2, 1)
    assert c1.phase_cycles.tolist() == [72, 72]
    assert c1.phase_channels.tolist() == [16, 4]
    assert c2.phase_cycles.tolist() == [360, 360]
    assert c2.phase_border_cycles.tolist() == [360, 360]
    assert c2.halo_bits.sum(axis=1).tolist() == [1280, 1280]
    parts = streamed_halo_bits(c2, c1)
    assert parts.sum(axis=2).tolist() == [[1024, 1024], [256, 256]]


def test_reduction_adds_and_weight_cache_reads_in_a_plan() -> None:
    # conv 1x1 16 -> 16 then dense 96 -> 8 on a 2 x 3 image over 2 x 3 chips: the partial
    # vectors of 8 values go west along the rows, then north: chip (0,0) adds two vectors,
    # (0,1), (1,0), (1,1) one each, (0,2) and (1,2) none: 16, 8, 0, 8, 8, 0 adds.
    b = NetBuilder("reduce", input_channels=16)
    b.conv(16, 1)
    b.dense(8)
    net = b.build().at(2, 3)
    plan = build_plan(net, hardware("2x3"))
    assert plan.layers[1].work.fp16_adds.tolist() == [16, 8, 0, 8, 8, 0]
    # a global pool instead: every chip first sums its 16 values (one pixel of 16
    # channels), then adds the 16-value vectors it receives: 16 + 2 * 16 = 48, 32, 16, ...
    g = NetBuilder("gpool", input_channels=16)
    g.conv(16, 1)
    g.global_pool()
    pooled = build_plan(g.build().at(2, 3), hardware("2x3"))
    assert pooled.layers[1].work.fp16_adds.tolist() == [48, 32, 16, 32, 32, 16]
    # A weight cache of 2,000 bits holds both blocks (conv 16 * 16 = 256 bits, dense
    # 8 * 96 = 768 bits): in steady state every chip reads them from the cache, none
    # from off-chip. One of 300 bits holds only the conv's block.
    cached = analytic.evaluate(build_plan(net, hardware("2x3", {"weight_cache_bits": 2000})))
    assert cached.cache_read_bits.tolist() == [[256] * 6, [768] * 6]
    assert cached.offchip_weight_bits.tolist() == [0, 0]
    small = analytic.evaluate(build_plan(net, hardware("2x3", {"weight_cache_bits": 300})))
    assert small.cache_read_bits.tolist() == [[256] * 6, [0] * 6]
    assert small.offchip_weight_bits.tolist() == [0, 768]


def test_time_of_a_multicast_of_channel_shares() -> None:
    # Chips 0, 1, 2 in a row share 100, 60 and 30 bits with each other over links of 16
    # bits/cycle and 2 cycles latency (1.6 Gbit/s, 20 ns): a share takes 7, 4 and 2 cycles
    # a hop. The busiest link, 1 -> 2, carries the shares of chips 0 and 1: 11 cycles + 2.
    # Alone, chip 0's share needs two store-and-forward hops: 2 * (7 + 2) = 18, longer.
    # Link bits: 100 * 2 + 60 * 2 + 30 * 2 = 380.
    hw = hardware("1x3")
    g = multicast(np.array([100, 60, 30]), hw.mesh)
    assert gather_cycles(g, hw) == 18
    assert g.link_bits == 380
    # shares of 16, 160 and 16 bits (1, 10 and 1 cycles a hop): links 1 -> 0 and 1 -> 2
    # carry 11 cycles each, + 2 = 13; the longest leg alone is chip 1's, 10 + 2 = 12
    assert gather_cycles(multicast(np.array([16, 160, 16]), hw.mesh), hw) == 13
    # a unicast of 100 bits from chip 0 to chip 1 alone: 7 + 2 = 9 cycles
    one = np.zeros((3, 3), dtype=np.int64)
    one[0, 1] = 100
    assert gather_cycles(unicast(one, hw.mesh), hw) == 9


def test_phases_cover_every_cycle_of_a_layer() -> None:
    # 3 weight blocks (33 channels) with kernel reuse: the extra pixel steps need not
    # divide by 3; the phases are rounded up, never down (docs/model.md).
    b = NetBuilder("reuse", input_channels=16)
    b.conv(33, 3)
    plan = build_plan(b.build().at(4, 4), hardware("1x1", {"pruning": "kernel_reuse"}))
    lp = plan.layers[0]
    cycles = int(lp.work.cycles[0])
    assert lp.phases == 3 and cycles % 3
    assert lp.phase_cycles.tolist() == [-(-cycles // 3)]


def test_one_lockstep_step_with_a_border_pixel_waits_whole() -> None:
    # A 3x3 conv 1 -> 1 on 2 rows x 7 columns over 1 x 2 chips (columns 4 + 3): one block,
    # one pixel step (every output on its own Tile-PU of the 7x7 array), 9 taps: phases of
    # 9 cycles. Chip 0's output column 3 needs input column 4 and chip 1's column 4 needs
    # column 3; the single lock-step step computes those pixels too, so all 9 cycles wait
    # for the halo (by pixel count it would have been 2 of 8 and 2 of 6 outputs).
    b = NetBuilder("border", input_channels=1)
    b.conv(1, 3)
    lp = build_plan(b.build().at(2, 7), hardware("1x2")).layers[0]
    assert lp.phase_cycles.tolist() == [9, 9]
    assert lp.phase_border_cycles.tolist() == [9, 9]


def test_channel_partitioned_plan_phases_and_memory() -> None:
    # c1 1x1 16 -> 80, c2 1x1 80 -> 16 on a 1 x 2 image over 1 x 2 chips, channel
    # partitioned from the image on. Image: 1 pixel x 16 channels x 16 bits = 256 bits a
    # chip. c1's 5 blocks of 16 channels are dealt in turn: chip 0 computes blocks 0, 2, 4
    # (48 channels of both pixels, 1,536 bits), chip 1 blocks 1, 3 (32 channels, 1,024
    # bits); 3 phases, the longest chip's, of 16 cycles (1 step x 16 taps).
    # FMM need while c1 runs: image share + c1's share + the other chip's image pixel
    # (received): 256 + 1,536 + 256 = 2,048 and 256 + 1,024 + 256 = 1,536. The image
    # is then freed. c2 (one block of 16 channels, on chip 0): only chip 0 computes, so
    # only it receives the other's c1 channels: c1's share + c2's share (16 ch x 2 px x
    # 16 = 512) + the received share: 1,536 + 512 + 1,024 = 3,072; chip 1 holds its own
    # c1 share, 1,024, and receives nothing.
    b = NetBuilder("channels", input_channels=16)
    b.conv(80, 1, name="c1")
    b.conv(16, 1, name="c2")
    plan = build_plan(b.build().at(1, 2), hardware("1x2", partitioning="channel"))
    c1, c2 = plan.layers
    assert c1.block_owner.tolist() == [0, 1, 0, 1, 0]
    assert c1.chip_phases.tolist() == [3, 2]
    assert c1.phases == 3
    assert c1.phase_cycles.tolist() == [16, 16]
    assert [lp.fmm_need_bits.tolist() for lp in plan.layers] == [[2048, 1536], [3072, 1024]]
    assert c2.block_owner.tolist() == [0]
    assert c2.work.cycles.tolist() == [80, 0]  # 1 block x 1 step x 80 taps, on chip 0


def test_conv_with_kernel_reuse_and_a_kernel_dictionary() -> None:
    # The 3x3 conv 4 -> 20 on a 7 x 6 share of the 2 x 5 array (8 pixel steps, 2 blocks,
    # 36 taps) with kernel reuse: half the (input, tap) positions skipped (18 steps), 3
    # kernels reusing a parent, 2 of them parents, a quarter of the MACs saved.
    # cycles: 2 blocks * 8 * 18 + 3 * 8 (each reusing kernel reads its parent once per
    # pixel step) = 312. MACs 42 * 20 * 36 = 30,240, skipped 7,560.
    # FP16: reads 2 * 42 * 18 * 16 + 3 * 42 * 16 (the parents' outputs) = 26,208; writes
    # the outputs only, 42 * 20 * 16 = 13,440. Weight-buffer reads: per pixel step, every
    # step reads 20 weight bits and 3 mask bits: 8 * 18 * 23 = 3,312.
    info = _info(Conv("c", (INPUT,), kernel=3, padding=1, out_channels=20), 4, 7, 6)
    reuse = Pruning(saved=0.25, skippable=0.5, reusing=3, parents=2)
    share = (np.array([7]), np.array([6]), NO_SHARE, False)
    w = layer_work(info, WIDE, *share, Precision(16, 16), reuse)
    assert w.cycles.tolist() == [312]
    assert w.skipped_macs.tolist() == [7_560]
    assert w.fmm_read_bits.tolist() == [26_208]
    assert w.fmm_write_bits.tolist() == [13_440]
    assert w.wbuf_read_bits.tolist() == [3_312]
    # binary maps: inputs read at 1 bit (2 * 42 * 18), parents' outputs still FP16
    # (3 * 42 * 16): 3,528; outputs at 1 bit (840) plus the 2 parents' FP16 sums
    # (2 * 42 * 15 = 1,260): 2,100
    b = layer_work(info, WIDE, *share, Precision(1, 1), reuse)
    assert b.fmm_read_bits.tolist() == [3_528]
    assert b.fmm_write_bits.tolist() == [2_100]
    # a kernel dictionary of 2 index bits per kernel window: per pixel step, the 20 x 4
    # windows' indices on top of the 36 taps x 20 weight bits: 8 * (720 + 160) = 7,040
    d = layer_work(info, WIDE, *share, Precision(16, 16), Pruning(index_bits=2))
    assert d.wbuf_read_bits.tolist() == [7_040]
    assert d.cycles.tolist() == [576]


def test_global_pool_of_channel_partitioned_maps() -> None:
    # c1 1x1 16 -> 32 on a 1 x 2 image over 1 x 2 chips, channel partitioned: chip 0 holds
    # channels 0-15, chip 1 16-31, of both pixels. The global pool sums each chip's own
    # channels over the whole map: 16 channels x 2 pixels = 32 values a chip, 32 adds,
    # 512 bits read, 16 cycles (one pass of 2 pixels over the 49 Tile-PUs per channel).
    b = NetBuilder("gpool", input_channels=16)
    b.conv(32, 1)
    b.global_pool()
    plan = build_plan(b.build().at(1, 2), hardware("1x2", partitioning="channel"))
    gp = plan.layers[1]
    assert gp.work.fp16_adds.tolist() == [32, 32]
    assert gp.work.fmm_read_bits.tolist() == [512, 512]
    assert gp.work.cycles.tolist() == [16, 16]
