"""Mapping (tiling, halos, costs, plan, routes) against values worked out by hand.

Conventions used in every derivation below:
- ``split(size, parts)`` gives the first ``size % parts`` parts one element more.
- A window layer's output rows [lo, hi) need input rows
  [lo*stride - pad, (hi-1)*stride - pad + (k-1)*dilation + 1), clipped to [0, size).
- Chips are numbered row-major (chip = r * cols + c); a "3x2" mesh is 3 rows x 2 columns.
- Halo directions are (N, S, W, E, NW, NE, SW, SE). With per-axis counts "before"
  (rows/cols needed from the previous chip), "inside" (from the chip's own share) and
  "after" (from the next chip): N = before_r*inside_c, S = after_r*inside_c,
  W = inside_r*before_c, E = inside_r*after_c, NW = before_r*before_c,
  NE = before_r*after_c, SW = after_r*before_c, SE = after_r*after_c.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hyperdrive_sim.mapping.costs import conv_blocks, layer_work
from hyperdrive_sim.mapping.plan import (
    estimate_cycles,
    geometry,
    reduction_receives,
    reduction_target,
)
from hyperdrive_sim.mapping.routes import (
    chain_hops,
    halo_hops,
    halo_sources,
    halo_transfers,
    link_loads,
    snake_order,
)
from hyperdrive_sim.mapping.tiling import (
    DIRECTION_NAMES,
    DIRECTIONS,
    Tiling,
    halo,
    lockstep_interior_steps,
    split,
)
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, SystemSpec
from hyperdrive_sim.workload.builder import NetBuilder
from hyperdrive_sim.workload.layers import INPUT, Conv, Shape
from hyperdrive_sim.workload.network import Network

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _preset(model, rel: str):
    return loader.validate(model, loader.load(CONFIGS / rel))


CHIP: ChipSpec = _preset(ChipSpec, "chips/hyperdrive.yaml")  # M = N = 7, C = 16, FP16, 1-bit w
SYSTEM: SystemSpec = _preset(SystemSpec, "systems/hyperdrive_mesh.yaml")
ENERGY: EnergyTable = _preset(EnergyTable, "energy/hyperdrive_22fdx.yaml")


def _hw(mesh: str, chip: ChipSpec = CHIP) -> Hardware:
    return Hardware(chip, SYSTEM, ENERGY, Mesh.model_validate(mesh))


def test_preset_chip_is_the_one_the_derivations_assume() -> None:
    assert (CHIP.tile_rows, CHIP.tile_cols, CHIP.fmpus_per_tile) == (7, 7, 16)
    assert (CHIP.activation_bits, CHIP.weight_bits, CHIP.fmm_bits) == (16, 1, 6_400_000)
    assert CHIP.border_buffer_bits == 0
    assert DIRECTION_NAMES == ("N", "S", "W", "E", "NW", "NE", "SW", "SE")


# ------------------------------------------------------------------------------------------
# split / Tiling


def test_split_uneven_gives_first_parts_one_more() -> None:
    # 10 = 3*3 + 1: one part of 4, then 3, 3 -> bounds 0, 4, 7, 10
    assert split(10, 3).tolist() == [0, 4, 7, 10]
    assert np.diff(split(10, 3)).tolist() == [4, 3, 3]
    # 7 over 7: one each
    assert np.diff(split(7, 7)).tolist() == [1] * 7
    # 5 = 2*2 + 1: 3, 2 -> bounds 0, 3, 5
    assert split(5, 2).tolist() == [0, 3, 5]


def test_tiling_sizes_and_chip_pixels() -> None:
    # 10 rows over 3 -> 4,3,3; 15 cols over 2 -> 8,7; chip pixels row-major
    t = Tiling.of(Shape(1, 10, 15), Mesh.model_validate("3x2"))
    assert t.row_sizes.tolist() == [4, 3, 3]
    assert t.col_sizes.tolist() == [8, 7]
    assert t.chip_pixels().tolist() == [32, 28, 24, 21, 24, 21]  # 4*8,4*7,3*8,3*7,3*8,3*7
    assert t.covers_mesh


def test_three_rows_over_four_chip_rows_does_not_cover_the_mesh() -> None:
    # 3 = 4*0 + 3: sizes 1,1,1,0 -> the last chip row gets nothing
    t = Tiling.of(Shape(1, 3, 8), Mesh.model_validate("4x1"))
    assert t.row_sizes.tolist() == [1, 1, 1, 0]
    assert not t.covers_mesh


# ------------------------------------------------------------------------------------------
# Halo: a 3x3 conv on a 10x10 map over a 3x2 mesh
#
# Input shares (10x10): rows [0,4) [4,7) [7,10) (4,3,3); cols [0,5) [5,10) (5,5).

MESH_3X2 = Mesh.model_validate("3x2")
IN_10 = Shape(1, 10, 10)


def _conv_halo(stride: int, pad: int, dilation: int):
    layer = Conv("c", (INPUT,), kernel=3, stride=stride, padding=pad, dilation=dilation)
    out = layer.infer((IN_10,))
    return out, halo(layer, Tiling.of(out, MESH_3X2), Tiling.of(IN_10, MESH_3X2))


def test_halo_3x3_stride1_pad1() -> None:
    # Output 10x10 (same tiling as the input). Window of output rows [lo,hi): [lo-1, hi+1).
    # Rows: chip row 0 out [0,4) -> in [0,5): before 0, inside 4, after 1
    #       chip row 1 out [4,7) -> in [3,8): before 1, inside 3, after 1
    #       chip row 2 out [7,10) -> in [6,10): before 1, inside 3, after 0
    # Cols: chip col 0 out [0,5) -> in [0,6): before 0, inside 5, after 1
    #       chip col 1 out [5,10) -> in [4,10): before 1, inside 5, after 0
    out, h = _conv_halo(stride=1, pad=1, dilation=1)
    assert (out.height, out.width) == (10, 10)
    expected = [
        # N  S  W  E  NW NE SW SE
        [0, 5, 0, 4, 0, 0, 0, 1],  # (0,0): S=1*5, E=4*1, SE=1*1
        [0, 5, 4, 0, 0, 0, 1, 0],  # (0,1): S=1*5, W=4*1, SW=1*1
        [5, 5, 0, 3, 0, 1, 0, 1],  # (1,0): N=S=1*5, E=3*1, NE=SE=1
        [5, 5, 3, 0, 1, 0, 1, 0],  # (1,1): N=S=1*5, W=3*1, NW=SW=1
        [5, 0, 0, 3, 0, 1, 0, 0],  # (2,0): N=1*5, E=3*1, NE=1
        [5, 0, 3, 0, 1, 0, 0, 0],  # (2,1): N=1*5, W=3*1, NW=1
    ]
    assert h.pixels.tolist() == expected
    assert not h.too_far.any()
    # Interior output rows (window inside the chip's own input rows):
    #   row 0: r in 0..3 needs [r-1, r+2) within [0,4) -> r = 0,1,2 -> 3
    #   row 1: r in 4..6 needs [r-1, r+2) within [4,7) -> r = 5 -> 1
    #   row 2: r in 7..9 needs [r-1, min(10, r+2)) within [7,10) -> r = 8, 9 -> 2
    # Interior cols: col 0: c in 0..4, c+2 <= 5 -> 0..3 -> 4; col 1: c-1 >= 5 -> 6..9 -> 4
    # interior pixels = rows x cols: 3*4, 3*4, 1*4, 1*4, 2*4, 2*4
    assert h.interior_pixels.tolist() == [12, 12, 4, 4, 8, 8]


def test_halo_3x3_stride2_pad1() -> None:
    # Output (10 + 2 - 2 - 1)//2 + 1 = 5 -> 5x5; out rows 5 over 3 -> [0,2) [2,4) [4,5);
    # out cols 5 over 2 -> [0,3) [3,5). Window of [lo,hi): [2*lo-1, 2*(hi-1)-1+3) = [2lo-1, 2hi).
    # Rows: row 0 [0,2) -> [0,4): own [0,4): before 0, inside 4, after 0
    #       row 1 [2,4) -> [3,8): own [4,7): before 1, inside 3, after 1
    #       row 2 [4,5) -> [7,10): own [7,10): before 0, inside 3, after 0
    # Cols: col 0 [0,3) -> [0,6): own [0,5): before 0, inside 5, after 1
    #       col 1 [3,5) -> [5,10): own [5,10): before 0, inside 5, after 0
    out, h = _conv_halo(stride=2, pad=1, dilation=1)
    assert (out.height, out.width) == (5, 5)
    expected = [
        # N  S  W  E  NW NE SW SE
        [0, 0, 0, 4, 0, 0, 0, 0],  # (0,0): E = 4 rows * 1 col
        [0, 0, 0, 0, 0, 0, 0, 0],  # (0,1): needs only its own pixels
        [5, 5, 0, 3, 0, 1, 0, 1],  # (1,0): N=S=1*5, E=3*1, NE=SE=1*1
        [5, 5, 0, 0, 0, 0, 0, 0],  # (1,1): N=S=1*5 (cols need nothing from the west)
        [0, 0, 0, 3, 0, 0, 0, 0],  # (2,0): E = 3*1
        [0, 0, 0, 0, 0, 0, 0, 0],  # (2,1): nothing
    ]
    assert h.pixels.tolist() == expected
    assert not h.too_far.any()
    # Interior rows: row 0: r=0 -> [0,2), r=1 -> [1,4), both in [0,4) -> 2
    #                row 1: r=2 -> [3,6), r=3 -> [5,8), neither in [4,7) -> 0
    #                row 2: r=4 -> [7,10) in [7,10) -> 1
    # Interior cols: col 0: c=0 [0,2), c=1 [1,4) in [0,5); c=2 [3,6) not -> 2
    #                col 1: c=3 [5,8), c=4 [7,10) in [5,10) -> 2
    assert h.interior_pixels.tolist() == [4, 4, 0, 0, 2, 2]


def test_halo_3x3_dilation2_pad2() -> None:
    # Output (10 + 4 - 2*2 - 1)//1 + 1 = 10 -> 10x10, same tiling as the input.
    # Window of [lo,hi): [lo-2, (hi-1)-2+2*2+1) = [lo-2, hi+2).
    # Rows: row 0 [0,4) -> [0,6): before 0, inside 4, after 2
    #       row 1 [4,7) -> [2,9): before 2, inside 3, after 2 (2 <= 4 and 2 <= 3: neighbours)
    #       row 2 [7,10) -> [5,10): before 2, inside 3, after 0
    # Cols: col 0 [0,5) -> [0,7): before 0, inside 5, after 2
    #       col 1 [5,10) -> [3,10): before 2, inside 5, after 0
    out, h = _conv_halo(stride=1, pad=2, dilation=2)
    assert (out.height, out.width) == (10, 10)
    expected = [
        # N   S   W  E  NW NE SW SE
        [0, 10, 0, 8, 0, 0, 0, 4],  # (0,0): S=2*5, E=4*2, SE=2*2
        [0, 10, 8, 0, 0, 0, 4, 0],  # (0,1): S=2*5, W=4*2, SW=2*2
        [10, 10, 0, 6, 0, 4, 0, 4],  # (1,0): N=S=2*5, E=3*2, NE=SE=2*2
        [10, 10, 6, 0, 4, 0, 4, 0],  # (1,1): N=S=2*5, W=3*2, NW=SW=2*2
        [10, 0, 0, 6, 0, 4, 0, 0],  # (2,0): N=2*5, E=3*2, NE=2*2
        [10, 0, 6, 0, 4, 0, 0, 0],  # (2,1): N=2*5, W=3*2, NW=2*2
    ]
    assert h.pixels.tolist() == expected
    assert not h.too_far.any()


# ------------------------------------------------------------------------------------------
# Halo and FMM in a Plan


def _halo_net() -> Network:
    """a: 1x1 conv 3 -> 8 on the image (no halo); b: 3x3 conv 8 -> 8, stride 1, pad 1."""
    b = NetBuilder("halo_net", input_channels=3)
    b.conv(8, 1, name="a")
    b.conv(8, 3, name="b")
    return b.build()


def test_plan_halo_bits_are_pixels_times_channels_times_activation_bits() -> None:
    plan = build_plan(_halo_net().at(10, 10), _hw("3x2"))
    assert plan.fits, plan.reason
    a, b = plan.layers
    # a is 1x1: its window is its own share, no halo
    assert not a.halo_bits.any()
    # b: the stride-1 pad-1 pixel matrix above, times 8 input channels x 16 bits = 128 bits
    pixels = np.array(
        [
            [0, 5, 0, 4, 0, 0, 0, 1],
            [0, 5, 4, 0, 0, 0, 1, 0],
            [5, 5, 0, 3, 0, 1, 0, 1],
            [5, 5, 3, 0, 1, 0, 1, 0],
            [5, 0, 0, 3, 0, 1, 0, 0],
            [5, 0, 3, 0, 1, 0, 0, 0],
        ]
    )
    assert b.halo_bits.tolist() == (pixels * 8 * 16).tolist()
    assert not b.halo_offchip  # b's input is a, not the image
    # halo need per chip: (0,0) 5+4+1 = 10 px, (1,0) 5+5+3+1+1 = 15 px, (2,0) 5+3+1 = 9 px
    assert b.halo_need_bits.tolist() == [p * 128 for p in (10, 10, 15, 15, 9, 9)]
    # FMM need at b (halos held in the FMM since border_buffer_bits = 0): a's and b's maps
    # (the image is dead after a), 8 channels x 16 bits per pixel each, plus the halo.
    # chip (0,0): share 4x5 = 20 px -> 2 * 20 * 128 + 10 * 128 = 6,400
    # chip (1,0): share 3x5 = 15 px -> 2 * 15 * 128 + 15 * 128 = 5,760
    # chip (2,0): share 3x5 = 15 px -> 2 * 15 * 128 +  9 * 128 = 4,992
    assert b.fmm_need_bits.tolist() == [6400, 6400, 5760, 5760, 4992, 4992]


def test_first_layer_halo_comes_with_the_image() -> None:
    # One 3x3 conv (pad 1) straight on a 3x10x10 image over 3x2: its halo (pixel matrix of
    # the stride-1 case: 10,10,15,15,9,9 px per chip) arrives with the image, 3 ch x 16 bit.
    b = NetBuilder("img", input_channels=3)
    b.conv(4, 3, name="c")
    plan = build_plan(b.build().at(10, 10), _hw("3x2"))
    (c,) = plan.layers
    assert c.halo_offchip
    shares = [20, 20, 15, 15, 15, 15]  # 4x5, 4x5, 3x5, 3x5, 3x5, 3x5
    halo_px = [10, 10, 15, 15, 9, 9]
    assert plan.image_in_bits.tolist() == [
        (s + h) * 3 * 16 for s, h in zip(shares, halo_px, strict=True)
    ]


def test_border_buffer_overflow_names_layer_chip_and_overshoot() -> None:
    # With a separate 1,000-bit border buffer, b's largest halo is 15 px * 128 = 1,920 bits on
    # chips (1,0) and (1,1); the first of them is reported, 920 bits over.
    chip = CHIP.model_copy(update={"border_buffer_bits": 1000})
    plan = build_plan(_halo_net().at(10, 10), _hw("3x2", chip))
    assert not plan.fits
    assert "layer 'b'" in plan.reason
    assert "border buffer" in plan.reason
    assert "chip (1,0)" in plan.reason
    assert "1,920 bits" in plan.reason
    assert "over by 920 bits" in plan.reason
    # and the halo is then not counted in the FMM: 2 * 20 * 128 = 5,120 on chip (0,0)
    assert plan.layers[1].fmm_need_bits[0] == 5120


def test_halo_from_beyond_a_neighbour_does_not_fit() -> None:
    # 8x8 map over 4x4 chips: 2 rows/cols each. A 7x7 conv (pad 3) on chip row 0, out rows
    # [0,2), needs input rows [0,5): 3 rows after its share, but the next chip holds only 2.
    b = NetBuilder("big_kernel", input_channels=3)
    b.conv(8, 1, name="squeeze")
    b.conv(8, 7, name="big")
    plan = build_plan(b.build().at(8, 8), _hw("4x4"))
    assert not plan.fits
    assert "layer 'big'" in plan.reason
    assert "chip (0,0)" in plan.reason
    assert "beyond its neighbours" in plan.reason
    assert "4x4 mesh" in plan.reason


def test_mesh_larger_than_the_map_does_not_fit() -> None:
    # 8 rows over 16 chip rows: 8 chip rows get no pixels
    b = NetBuilder("small", input_channels=3)
    b.conv(8, 3)
    plan = build_plan(b.build().at(8, 8), _hw("16x16"))
    assert not plan.fits
    assert "16x16 mesh" in plan.reason
    assert "no pixels" in plan.reason


def test_layer_map_smaller_than_the_mesh_does_not_fit() -> None:
    # 8x8 image over 4x4 is fine (2 each); stride 2 -> 4x4 (1 each); stride 2 again -> 2x2
    b = NetBuilder("shrink", input_channels=3)
    b.conv(8, 3, stride=2, name="s1")
    b.conv(8, 3, stride=2, name="s2")
    plan = build_plan(b.build().at(8, 8), _hw("4x4"))
    assert not plan.fits
    assert "layer 's2'" in plan.reason
    assert "output map of 2 rows x 2 columns" in plan.reason
    assert "4x4 mesh" in plan.reason


# ------------------------------------------------------------------------------------------
# Cycles (docs/model.md)


def _one_conv(cin: int, cout: int, groups: int = 1) -> Network:
    return Network(
        "one",
        (Conv("c", (INPUT,), kernel=3, padding=1, out_channels=cout, groups=groups),),
        input_channels=cin,
    )


def _work_on_share(net: Network, h: int, w: int):
    info = net.at(h, w).infos[0]
    return layer_work(info, CHIP, np.array([h]), np.array([w]), np.zeros(1, np.int64), False)


def test_conv_cycles_formula() -> None:
    # C_in 32 -> C_out 40, 3x3, output share 10x15 on M = N = 7, C = 16:
    # ceil(40/16) = 3 blocks * ceil(10/7) * ceil(15/7) = 2 * 3 = 6 pixel iterations
    # * 32 * 9 = 288 taps = 3 * 6 * 288 = 5,184 cycles
    work = _work_on_share(_one_conv(32, 40), 10, 15)
    assert work.cycles.tolist() == [5184]
    # MACs: 10*15 = 150 px * 40 ch * 288 taps = 1,728,000
    assert work.macs.tolist() == [1_728_000]
    # blocks of 16, 16, 8 channels, each 288 one-bit weights per channel
    assert work.blocks.tolist() == [16 * 288, 16 * 288, 8 * 288]
    assert int(work.blocks.sum()) == 40 * 32 * 9  # every weight streamed once

    # The same via a one-chip Plan on a 15-wide, 10-high input (pad 1 keeps 10x15)
    plan = build_plan(_one_conv(32, 40).at(10, 15), _hw("1x1"))
    assert plan.layers[0].work.cycles.tolist() == [5184]
    assert plan.layers[0].phases == 3  # one phase per weight block
    assert plan.layers[0].phase_cycles.tolist() == [5184 // 3]


def test_conv_cycles_per_chip_show_the_tile_pu_utilisation_loss() -> None:
    # Same layer over 3x2 chips: rows 10 -> 4,3,3 ; cols 15 -> 8,7.
    # Column 0 (8 wide) needs ceil(8/7) = 2 column passes, column 1 (7 wide) needs 1;
    # every row share (<= 7) needs 1 row pass. cycles = 3 blocks * passes * 288.
    plan = build_plan(_one_conv(32, 40).at(10, 15), _hw("3x2"))
    assert plan.layers[0].work.cycles.tolist() == [1728, 864] * 3  # 3*2*288, 3*1*288


def test_depthwise_conv_uses_one_fmpu() -> None:
    # 32 channels, groups = 32: each block is 1 channel (32 blocks);
    # cycles = C_out * pix_iter * 9 = 32 * 6 * 9 = 1,728
    work = _work_on_share(_one_conv(32, 32, groups=32), 10, 15)
    assert work.cycles.tolist() == [1728]
    assert work.blocks.tolist() == [9] * 32  # 1 channel * 1 input channel * 9 taps
    assert work.macs.tolist() == [150 * 32 * 9]


def test_grouped_conv_blocks_and_cycles() -> None:
    # blocks never mix groups: 64 out / 2 groups = 32 per group = 16 + 16, twice
    assert conv_blocks(64, 2, 16).tolist() == [16, 16, 16, 16]
    # 40 / 2 = 20 per group = 16 + 4, twice
    assert conv_blocks(40, 2, 16).tolist() == [16, 4, 16, 4]
    # 48 / 4 = 12 per group: one partial block per group
    assert conv_blocks(48, 4, 16).tolist() == [12, 12, 12, 12]
    # depthwise
    assert conv_blocks(8, 8, 16).tolist() == [1] * 8
    # 32 -> 40 in 2 groups on 10x15: 4 blocks * 6 pixel iterations * (32/2 * 9 = 144)
    # = 3,456 cycles; MACs 150 * 40 * 144 = 864,000
    work = _work_on_share(_one_conv(32, 40, groups=2), 10, 15)
    assert work.cycles.tolist() == [3456]
    assert work.macs.tolist() == [864_000]


def test_spatial_layer_after_the_reduction_runs_its_whole_map_on_the_root() -> None:
    # 8x8 image, conv 3 -> 8 (tiled), global pool -> 8x1x1 on the root, then a 1x1 conv
    # 8 -> 16 with padding 1 (output (1 + 2 - 1)//1 + 1 = 3 -> 16x3x3) and a 2x upsample
    # (16x6x6), both on the root chip only.
    b = NetBuilder("after_pool", input_channels=3)
    b.conv(8, 3, name="c1")
    b.global_pool(name="gp")
    b.conv(16, 1, pad=1, name="padded")
    b.upsample(2, name="up")
    net = b.build().at(8, 8)
    plan = build_plan(net, _hw("2x2"))
    assert plan.fits, plan.reason
    padded, up = plan.layers[2], plan.layers[3]
    assert (padded.placement, up.placement) == ("root", "root")
    # padded: 3*3 = 9 px * 16 out * 8 taps = 1,152 MACs on the root, none elsewhere;
    # cycles = 1 block * ceil(3/7) * ceil(3/7) * 8 = 8
    assert padded.work.macs.tolist() == [1152, 0, 0, 0]
    assert padded.work.cycles.tolist() == [8, 0, 0, 0]
    # up: each of 16 * 6 * 6 output words read and written once (16 bits)
    assert up.work.fmm_write_bits.tolist() == [16 * 36 * 16, 0, 0, 0]
    # and the whole network's MACs are accounted for: c1 is 64 px * 8 * 27 = 13,824
    assert plan.macs == net.macs == 13_824 + 1152
    assert plan.result_out_bits.tolist() == [16 * 36 * 16, 0, 0, 0]


# ------------------------------------------------------------------------------------------
# Feature-map memory


def test_fmm_overflow_names_layer_and_overshoot() -> None:
    # One chip, 3x32x32 image, 3x3 conv (pad 1) to 512 channels: the image and the output
    # are live together: (3*32*32 + 512*32*32) * 16 = (3,072 + 524,288) * 16 = 8,437,760 bits
    # against 6,400,000 -> over by 2,037,760 bits (31.8%).
    b = NetBuilder("wide_net", input_channels=3)
    b.conv(512, 3, name="wide")
    plan = build_plan(b.build().at(32, 32), _hw("1x1"))
    assert not plan.fits
    assert plan.layers[0].fmm_need_bits.tolist() == [8_437_760]
    assert "layer 'wide'" in plan.reason
    assert "feature-map memory" in plan.reason
    assert "8,437,760 bits" in plan.reason
    assert "over by 2,037,760 bits" in plan.reason
    assert "31.8%" in plan.reason


def test_residual_keeps_its_tensor_alive_in_between() -> None:
    # One chip, 8x16x16 image, three 3x3 convs 8 -> 8 and add(c, a). Every map is
    # 8 * 16 * 16 * 16 bits = 32,768 bits.
    #   a (0): image + a                      = 2 maps = 65,536
    #   b (1): a (kept for the add) + b       = 2 maps = 65,536
    #   c (2): a (kept) + b + c               = 3 maps = 98,304
    #   add (3): a + c + add                  = 3 maps = 98,304
    m = 8 * 16 * 16 * 16
    b = NetBuilder("res", input_channels=8)
    b.conv(8, 3, name="a")
    b.conv(8, 3, name="b")
    b.conv(8, 3, name="c")
    b.add("c", "a", name="add")
    plan = build_plan(b.build().at(16, 16), _hw("1x1"))
    assert [int(lp.fmm_need_bits[0]) for lp in plan.layers] == [2 * m, 2 * m, 3 * m, 3 * m]

    # Without the shortcut, a is dead after b, so c only holds b and c: 2 maps
    b = NetBuilder("plain", input_channels=8)
    b.conv(8, 3, name="a")
    b.conv(8, 3, name="b")
    b.conv(8, 3, name="c")
    plan = build_plan(b.build().at(16, 16), _hw("1x1"))
    assert [int(lp.fmm_need_bits[0]) for lp in plan.layers] == [2 * m, 2 * m, 2 * m]


# ------------------------------------------------------------------------------------------
# Routes

MESH_3X3 = Mesh.model_validate("3x3")


def _all_directions_into_centre() -> np.ndarray:
    bits = np.zeros((9, 8), dtype=np.int64)
    bits[4] = [1, 2, 3, 4, 5, 6, 7, 8]  # chip 4 = (1,1) receives d+1 bits from direction d
    return bits


def test_halo_sources_of_a_corner_chip() -> None:
    # chip (0,0) of a 3x2 mesh: S = (1,0) = 2, E = (0,1) = 1, SE = (1,1) = 3, others off-mesh
    assert halo_sources(MESH_3X2)[0].tolist() == [-1, 2, -1, 1, -1, -1, -1, 3]


def test_relay_routes_corners_through_the_receivers_west_or_east_neighbour() -> None:
    transfers = halo_transfers(_all_directions_into_centre(), MESH_3X3, "relay")
    got = {DIRECTION_NAMES[t.bits - 1]: (t.src, t.dst, t.links) for t in transfers}
    # 3x3 chip numbers: 0 1 2 / 3 4 5 / 6 7 8; the centre's W neighbour is 3, E is 5
    assert got == {
        "N": (1, 4, ((1, 4),)),
        "S": (7, 4, ((7, 4),)),
        "W": (3, 4, ((3, 4),)),
        "E": (5, 4, ((5, 4),)),
        "NW": (0, 4, ((0, 3), (3, 4))),  # down the column to 3, then east to 4
        "NE": (2, 4, ((2, 5), (5, 4))),
        "SW": (6, 4, ((6, 3), (3, 4))),
        "SE": (8, 4, ((8, 5), (5, 4))),
    }
    # link (3,4) carries W (3) + NW (5) + SW (7) bits; link (5,4) carries E + NE + SE
    loads = link_loads(transfers)
    assert loads[(3, 4)] == 3 + 5 + 7
    assert loads[(5, 4)] == 4 + 6 + 8
    # link-hop bits: edges once (1+2+3+4), corners twice (2*(5+6+7+8))
    assert sum(loads.values()) == 10 + 2 * 26


def test_diagonal_routes_corners_in_one_hop() -> None:
    transfers = halo_transfers(_all_directions_into_centre(), MESH_3X3, "diagonal")
    assert all(len(t.links) == 1 and t.links[0] == (t.src, t.dst) for t in transfers)
    assert sorted(t.src for t in transfers) == [0, 1, 2, 3, 5, 6, 7, 8]
    assert sum(link_loads(transfers).values()) == 36  # 1 + 2 + ... + 8
    assert halo_hops("relay").tolist() == [1, 1, 1, 1, 2, 2, 2, 2]
    assert halo_hops("diagonal").tolist() == [1] * 8


def test_snake_order_and_chain_hops() -> None:
    # row 0 left to right, row 1 right to left, row 2 left to right
    assert snake_order(MESH_3X3) == [0, 1, 2, 5, 4, 3, 6, 7, 8]
    # 2x3: order 0,1,2,5,4,3 -> chip 3 is the 5th hop, chip 5 the 3rd
    assert chain_hops(Mesh.model_validate("2x3")).tolist() == [0, 1, 2, 5, 4, 3]


@pytest.mark.parametrize("mesh", ["1x1", "1x4", "4x1", "2x3", "3x3", "4x4"])
def test_reduction_receives_one_vector_per_other_chip(mesh: str) -> None:
    m = Mesh.model_validate(mesh)
    got = reduction_receives(m)
    assert int(got.sum()) == m.chips - 1  # every chip but the root sends exactly once
    # and each chip receives exactly from those that target it
    expected = np.zeros(m.chips, dtype=np.int64)
    for c in range(m.chips):
        t = reduction_target(c, m.cols)
        if t is not None:
            expected[t] += 1
    assert got.tolist() == expected.tolist()


def test_reduction_receives_2x3_by_hand() -> None:
    # rows reduce westwards: (r,0) gets from (r,1), (r,1) from (r,2); column 0 then reduces
    # north: (0,0) also gets from (1,0). -> [[2,1,0],[1,1,0]]
    assert reduction_receives(Mesh.model_validate("2x3")).tolist() == [2, 1, 0, 1, 1, 0]


def test_directions_match_names() -> None:
    assert dict(zip(DIRECTION_NAMES, DIRECTIONS, strict=True)) == {
        "N": (-1, 0),
        "S": (1, 0),
        "W": (0, -1),
        "E": (0, 1),
        "NW": (-1, -1),
        "NE": (-1, 1),
        "SW": (1, -1),
        "SE": (1, 1),
    }


def test_layout_layers_hold_no_bits_of_their_own() -> None:
    # 3x8x8 image on one chip, 16-bit activations. c1 and c2 (8 channels each) are
    # 8*64*16 = 8192 bits each; concat is a view of them; c3 has 4*64*16 = 4096 bits.
    b = NetBuilder("cat", input_channels=3)
    b.conv(8, 1, name="c1")
    b.conv(8, 1, src="input", name="c2")
    b.concat("c1", "c2", name="cat")
    b.conv(4, 1, name="c3")
    plan = build_plan(b.build().at(8, 8), _hw("1x1"))
    need = {lp.name: int(lp.fmm_need_bits[0]) for lp in plan.layers}
    # the image (3*64*16 = 3072) is freed after c2, its last reader
    assert need["c2"] == 3072 + 8192 + 8192
    # at the concat only c1 and c2 are held (not a copy of them)
    assert need["cat"] == 8192 + 8192
    # c1 and c2 stay alive until the concat's reader c3 is done
    assert need["c3"] == 8192 + 8192 + 4096


def test_halo_of_the_image_may_reach_past_the_neighbours() -> None:
    # An 11x11 conv (pad 5) on a 16x16 map over 4x4 chips: each chip holds 4 rows but
    # needs 5 more on each side. From the image that halo arrives from off-chip and is
    # fine; the same layer on an on-chip map would need a non-neighbour's pixels.
    b = NetBuilder("wide_kernel", input_channels=1)
    b.conv(2, 11, name="first")
    b.conv(2, 11, name="second")
    plan = build_plan(b.build().at(16, 16), _hw("4x4"))
    assert not plan.fits
    assert len(plan.problems) == 1 and "layer 'second'" in plan.reason
    # chip (1,1) loads its 4x4 tile plus a 13x13 window (rows 0..12 clipped) less its own
    # 16 pixels: rows [0, 13) x cols [0, 13) = 169 pixels of 1 channel at 16 bits
    assert int(plan.image_in_bits[5]) == 169 * 16


def test_halo_free_steps_follow_the_lock_step_tile_pu_array() -> None:
    # A 3x3 conv (pad 1) on a 42x42 map over 2x2 chips: each chip computes 21x21 outputs
    # on 7x7 Tile-PUs, 3x3 pixels each; a step computes local pixel (r, c) in all 49 patches
    # at once. Chip (0,0) needs its bottom neighbour's row 21 for its output row 20 and its
    # right neighbour's column 21 for column 20 (rows/cols at the mesh edge read padding).
    # Row 20 is local row 2 of Tile-PU row 6, so local row 2 touches the halo; local rows
    # 0 and 1 never do. Likewise columns: 2 x 2 = 4 of the 9 steps are halo-free (the
    # pixel count would say 400 of 441 outputs, 91%).
    conv = Conv("c", ("x",), kernel=(3, 3), padding=(1, 1, 1, 1), out_channels=16)
    two = Tiling.of(Shape(16, 42, 42), Mesh.model_validate("2x2"))
    assert lockstep_interior_steps(conv, two, two, (7, 7)).tolist() == [4, 4, 4, 4]
    # the middle chip of 3x3 chips (63x63 map) needs halos on all four sides: local rows
    # and columns 0 and 2 touch them, only step (1, 1) is halo-free
    three = Tiling.of(Shape(16, 63, 63), Mesh.model_validate("3x3"))
    assert lockstep_interior_steps(conv, three, three, (7, 7))[4] == 1
    # a plan books the halo-dependent share of a phase accordingly: 5 of 9 steps
    hw = Hardware(CHIP, SYSTEM, ENERGY, Mesh.model_validate("2x2"))
    b = NetBuilder("one", input_channels=16)
    b.conv(16, 3, name="a")
    b.conv(16, 3, name="b")
    lp = build_plan(b.build().at(42, 42), hw).layers[1]
    # one block of 16 channels: 9 steps x 144 taps = 1,296 cycles; 5 x 144 = 720 need the halo
    assert lp.phase_cycles.tolist() == [1296] * 4
    assert lp.phase_border_cycles.tolist() == [720] * 4
    # 44x44 on 2x2: 22x22 per chip, patches of ceil(22/7) = 4 rows and columns (the last
    # Tile-PUs' shorter): 16 steps of 144 taps = 2,304 cycles. Chip (0,0)'s row 21 is local
    # row 1 of Tile-PU row 5 (21 = 5 * 4 + 1), likewise column 21: 3 x 3 = 9 halo-free
    # steps, 7 x 144 = 1,008 cycles wait for the halo
    lp = build_plan(b.build().at(44, 44), hw).layers[1]
    assert lp.phase_cycles.tolist() == [2304] * 4
    assert lp.phase_border_cycles.tolist() == [1008] * 4
    # the quick estimate the hybrid planner uses is each layer's slowest chip (no moves
    # here), the same cycles the plan books (a 2x5 array gives non-square patches)
    wide = Hardware(CHIP.model_copy(update={"tile_rows": 2, "tile_cols": 5}), SYSTEM, ENERGY,
                    Mesh.model_validate("2x2"))  # fmt: skip
    net = b.build().at(30, 44)
    plan = build_plan(net, wide)
    assert estimate_cycles(geometry(net, wide), wide) == sum(
        int(lp.work.cycles.max()) for lp in plan.layers
    )


def _lockstep_by_enumeration(conv, out: Tiling, inp: Tiling, units: tuple[int, int]) -> list:
    """Halo-free lock-step steps per chip, by visiting every Tile-PU's pixel of every step:
    a step is halo-free when no pixel it computes reads an input row or column outside
    the chip's own input share."""
    m, n = units
    free = []
    for r in range(len(out.row_bounds) - 1):
        for c in range(len(out.col_bounds) - 1):
            r0, r1 = int(out.row_bounds[r]), int(out.row_bounds[r + 1])
            c0, c1 = int(out.col_bounds[c]), int(out.col_bounds[c + 1])
            ph, pw = -(-(r1 - r0) // m), -(-(c1 - c0) // n)
            own_r = (int(inp.row_bounds[r]), int(inp.row_bounds[r + 1]))
            own_c = (int(inp.col_bounds[c]), int(inp.col_bounds[c + 1]))
            count = 0
            for lr in range(ph):
                for lc in range(pw):
                    clean = True
                    for i in range(m):
                        for j in range(n):
                            y, x = r0 + i * ph + lr, c0 + j * pw + lc
                            if y >= r1 or x >= c1:
                                continue  # this Tile-PU has no pixel at this step
                            ylo, yhi = conv.input_rows(y, y + 1, inp.shape.height)
                            xlo, xhi = conv.input_cols(x, x + 1, inp.shape.width)
                            if ylo < own_r[0] or yhi > own_r[1] or xlo < own_c[0] or xhi > own_c[1]:
                                clean = False
                    count += clean
            free.append(count)
    return free


@pytest.mark.parametrize("seed", range(12))
def test_halo_free_steps_match_an_enumeration_of_the_tile_pus(seed: int) -> None:
    # second method: every Tile-PU's pixel of every lock-step step visited directly, on
    # random kernels, strides, maps, meshes and non-square arrays (chip shares that do not
    # start at a multiple of the patch included)
    rng = np.random.default_rng(seed)
    k, s = int(rng.integers(1, 5)), int(rng.integers(1, 3))
    pad = int(rng.integers(0, k))
    conv = Conv("c", ("x",), kernel=(k, k), stride=(s, s), padding=(pad,) * 4, out_channels=4)
    h, w = int(rng.integers(8, 60)), int(rng.integers(8, 60))
    inp_shape = Shape(4, h, w)
    out_shape = conv.infer((inp_shape,))
    mesh = Mesh(rows=int(rng.integers(1, 4)), cols=int(rng.integers(1, 4)))
    out, inp = Tiling.of(out_shape, mesh), Tiling.of(inp_shape, mesh)
    if not out.covers_mesh or not inp.covers_mesh:
        return
    units = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    got = lockstep_interior_steps(conv, out, inp, units).tolist()
    assert got == _lockstep_by_enumeration(conv, out, inp, units)
