"""Depth-first execution (``system.fusion: depth_first``), derived by hand on a tiny network.

The network: an 8x8 single-channel image, conv ``a`` (3x3, pad 1, 2 channels), conv ``b``
(3x3, pad 1, 2 channels), conv ``c`` (1x1, 2 channels). The chip has one Tile-PU (1x1) with
2 FMPUs, so a conv's cycles are ``rows * cols * taps`` (one weight block of 2 channels):
``a`` costs 9 cycles per output pixel, ``b`` 18 (2 input channels x 9). Maps are FP16 (16
bits), a pixel of ``a`` or ``b`` is 2 x 16 = 32 bits. The fused stack is ``a, b``
(``fused_layers: 2``); ``c`` runs layer by layer after it.

Rows a band of ``b`` needs from ``a``: the 3x3 window, rows [lo - 1, hi + 1) clipped to the
map. Weights: a 2 x 1 x 9 = 18 bits, b 2 x 2 x 9 = 36, c 2 x 2 x 1 = 4 bits; the network's
largest block is b's 36 bits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from presets import preset as _preset
from pydantic import ValidationError

from hyperdrive_sim.evaluators import evaluate
from hyperdrive_sim.mapping.bands import stack_cuts, stack_problem
from hyperdrive_sim.mapping.depth_first import choices, stack_plan
from hyperdrive_sim.mapping.plan import tiled_plan
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, SystemSpec
from hyperdrive_sim.workload.builder import NetBuilder

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def tiny():
    b = NetBuilder("tiny_df", input_channels=1)
    b.conv(2, 3, name="a")
    b.conv(2, 3, name="b")
    b.conv(2, 1, name="c")
    return b.build().at(8, 8)


def hardware(mesh: str, chip: dict | None = None, **system) -> Hardware:
    chip_spec = _preset("chips/hyperdrive.yaml") | {
        "tile_rows": 1, "tile_cols": 1, "fmpus_per_tile": 2, **(chip or {}),
    }  # fmt: skip
    over = {"frames": 1, "fusion": "depth_first", "fused_layers": 2, **system}
    return Hardware(
        ChipSpec.model_validate(chip_spec),
        SystemSpec.model_validate(_preset("systems/hyperdrive_mesh.yaml") | over),
        EnergyTable.model_validate(_preset("energy/hyperdrive_22fdx.yaml")),
        Mesh.model_validate(mesh),
    )


def bands_of(plan, name: str):
    return [lp for lp in plan.layers if lp.name.startswith(f"{name} band ")]


# ---- 1x2 mesh: one mesh row (bands top to bottom), chips of 8 rows x 4 columns ------------
# band_rows 2 -> 4 bands; band k of b is rows [2k, 2k+2), needing rows [2k-1, 2k+3) of a.
# cache: a computes [0,3), [3,5), [5,7), [7,8) = 3, 2, 2, 1 rows (the last band reaches the
# chip's edge); recompute: [0,3), [1,5), [3,7), [5,8) = 3, 4, 4, 3 rows (6 recomputed).


@pytest.mark.parametrize(
    ("overlap", "a_rows"), [("cache", [3, 2, 2, 1]), ("recompute", [3, 4, 4, 3])]
)
def test_rows_and_cycles_per_band_on_1x2(overlap, a_rows) -> None:
    plan = build_plan(tiny(), hardware("1x2", band_rows=2, band_overlap=overlap))
    assert plan.fits, plan.reason
    a, b = bands_of(plan, "a"), bands_of(plan, "b")
    assert [int(lp.work.cycles[0]) for lp in a] == [r * 4 * 9 for r in a_rows]
    assert [int(lp.work.cycles[1]) for lp in b] == [2 * 4 * 18] * 4
    # the network's MACs are counted once, whatever is recomputed: a has 64 px x 2 ch x 9
    assert sum(lp.info.macs for lp in a) == 64 * 2 * 9
    assert sum(int(lp.work.macs.sum()) for lp in a) == sum(a_rows) * 8 * 2 * 9


@pytest.mark.parametrize(
    ("overlap", "rows"), [("cache", [3, 2, 2, 1]), ("recompute", [3, 4, 4, 3])]
)
def test_halo_bits_per_band_on_1x2(overlap, rows) -> None:
    # b's window needs 1 column of a beyond each chip's 4: chip 0 from its east neighbour,
    # chip 1 from its west; per band the rows of a it reads for the first time (cache:
    # 3, 2, 2, 1) or all of them again (recompute: 3, 4, 4, 3); one a pixel is 32 bits
    plan = build_plan(tiny(), hardware("1x2", band_rows=2, band_overlap=overlap))
    east, west = 3, 2  # DIRECTIONS: N, S, W, E, ...
    for lp, r in zip(bands_of(plan, "b"), rows, strict=True):
        assert lp.halo_bits[0, east] == r * 32 and lp.halo_bits[1, west] == r * 32
        assert lp.halo_bits.sum() == 2 * r * 32
    counts = evaluate(plan, "analytic")
    assert counts.c2c_border_bits[: 2 * 4].sum() == 2 * sum(rows) * 32


def test_fmm_peak_per_band_on_1x2() -> None:
    # image tile 8 x 4 plus a's column of halo: 40 px x 16 = 640 bits, held whole.
    # band k: a's held rows x 4 cols x 32 + b's rows done so far x 4 x 32 + b's halo
    # (held rows x 1 col x 32):  band 1: 3*128 + 2*128 + 3*32 + 640 = 1376,
    # band 2: 4*128 + 4*128 + 4*32 + 640 = 1792, band 3: 4*128 + 6*128 + 128 + 640 = 2048,
    # band 4: 3*128 + 8*128 + 3*32 + 640 = 2144
    plan = build_plan(tiny(), hardware("1x2", band_rows=2))
    needs = [int(lp.fmm_need_bits[0]) for lp in bands_of(plan, "b")]
    assert needs == [1376, 1792, 2048, 2144]
    # layer by layer, b holds all of a (1024), all of b (1024) and 8 halo rows (256): 2304
    flat = tiled_plan(tiny(), hardware("1x2", fusion="layer_by_layer", fused_layers=0))
    assert int(flat.layers[1].fmm_need_bits[0]) == 2304


def test_weights_read_once_when_the_stack_fits_the_buffer() -> None:
    # 2 blocks of 36 bits hold a and b (18 + 36 = 54): band 1 streams them, bands 2-4 reuse
    plan = build_plan(tiny(), hardware("1x2", band_rows=2))
    counts = evaluate(plan, "analytic")
    assert counts.offchip_weight_bits.sum() == 18 + 36 + 4


def test_weights_streamed_per_band_when_the_stack_does_not_fit() -> None:
    # one 36-bit block cannot hold 54 bits: every one of the 4 bands streams a and b again
    hw = hardware("1x2", {"weight_buffer_blocks": 1}, band_rows=2)
    counts = evaluate(build_plan(tiny(), hw), "analytic")
    assert counts.offchip_weight_bits.sum() == 4 * (18 + 36) + 4


# ---- 2x2 mesh: mesh row 0 runs top to bottom, mesh row 1 bottom to top --------------------
# chips hold 4 x 4; band_rows 2 -> 2 bands. Row 0: b rows [0,2) then [2,4); row 1: [6,8)
# then [4,6). The two rows meet at their shared edge (row 4) in band 2.
# a (cache): row 0 computes [0,3) then [3,4); row 1 [5,8) then [4,5); recompute: the second
# band computes [1,4) and [4,7): 3 rows each (2 recomputed).


@pytest.mark.parametrize(("overlap", "a_rows"), [("cache", [3, 1]), ("recompute", [3, 3])])
def test_rows_and_cycles_on_2x2(overlap, a_rows) -> None:
    plan = build_plan(tiny(), hardware("2x2", band_rows=2, band_overlap=overlap))
    assert plan.fits, plan.reason
    a, b = bands_of(plan, "a"), bands_of(plan, "b")
    for chip in range(4):
        assert [int(lp.work.cycles[chip]) for lp in a] == [r * 4 * 9 for r in a_rows]
        assert [int(lp.work.cycles[chip]) for lp in b] == [2 * 4 * 18] * 2


def test_halo_bits_per_band_on_2x2() -> None:
    # chip (0,0), band 1: b reads a rows [0,3), its own: 3 rows from the east (96 bits).
    # band 2: b reads a rows [1,5); new are [3,5): row 3 own (1 px from the east) and row 4
    # from the chip below: 4 px south + 1 px south-east = 5 px. 32 bits per px.
    plan = build_plan(tiny(), hardware("2x2", band_rows=2))
    n, s, w, e, nw, ne, sw, se = range(8)
    first, second = bands_of(plan, "b")
    assert first.halo_bits[0].tolist() == [0, 0, 0, 96, 0, 0, 0, 0]
    assert second.halo_bits[0].tolist() == [0, 128, 0, 32, 0, 0, 0, 32]
    # chip (1,0) mirrors it: its second band reads row 3 from the chip above
    assert second.halo_bits[2].tolist() == [128, 0, 0, 32, 0, 32, 0, 0]
    assert (n, s, w, e, nw, ne, sw, se) == tuple(range(8))


def test_fmm_peak_per_band_on_2x2() -> None:
    # chip (0,0): image 4 x 4 plus a's halo (rows and columns 4: 4 + 4 + 1 = 9 px): 25 x 16
    # = 400. Band 1: a rows [0,3) x 4 x 32 = 384, b 2 rows x 128 = 256, halo 3 px = 96:
    # 1136. Band 2: a rows [1,4) = 384, b 4 rows = 512, halo of rows [1,5): 3 east + 4
    # south + 1 south-east = 8 px = 256: 1552.
    plan = build_plan(tiny(), hardware("2x2", band_rows=2))
    assert [int(lp.fmm_need_bits[0]) for lp in bands_of(plan, "b")] == [1136, 1552]


@pytest.mark.parametrize("mesh", ["1x2", "2x2"])
@pytest.mark.parametrize("overlap", ["cache", "recompute"])
@pytest.mark.parametrize("blocks", [2, 1])
def test_simpy_and_analytic_agree(mesh, overlap, blocks) -> None:
    # diagonal corners: no two halos share a link, so nothing contends (the project's
    # criterion: cycles within 0.5%, counts exactly)
    hw = hardware(
        mesh, {"weight_buffer_blocks": blocks}, band_rows=2, band_overlap=overlap,
        corner_routing="diagonal",
    )  # fmt: skip
    plan = build_plan(tiny(), hw)
    a, d = evaluate(plan, "analytic"), evaluate(plan, "simpy")
    assert abs(a.total_cycles - d.total_cycles) <= 0.005 * a.total_cycles
    for field in ("c2c_border_bits", "offchip_weight_bits", "macs", "fmm_write_bits"):
        assert np.array_equal(getattr(a, field), getattr(d, field)), field


def test_recompute_costs_more_cycles_than_cache() -> None:
    # 1x2: recompute adds 6 rows of a, 6 * 4 * 9 = 216 cycles on every chip
    cache = evaluate(build_plan(tiny(), hardware("1x2", band_rows=2)), "analytic")
    again = build_plan(tiny(), hardware("1x2", band_rows=2, band_overlap="recompute"))
    assert (
        evaluate(again, "analytic").busy_cycles.sum(axis=0)[0] - cache.busy_cycles.sum(axis=0)[0]
        == 6 * 4 * 9
    )


def test_stack_boundaries() -> None:
    net = tiny()
    assert stack_cuts(net) == [1, 2, 3]
    assert "3 layers" in stack_problem(net, 4)
    plan = stack_plan(net, hardware("1x2"), 4, 2)
    assert not plan.fits and "fused_layers" in plan.reason


def test_planner_picks_a_stack_that_fits() -> None:
    # FMM 2200 bits: layer by layer b needs 2304 (does not fit); the planner's bands fit
    hw = hardware("1x2", {"fmm_bits": 2200}, fused_layers=0)
    plan = build_plan(tiny(), hw)
    assert plan.fits, plan.reason
    assert any(" band " in lp.name for lp in plan.layers)
    assert any(not c.problems for c in choices(tiny(), hw))
    assert not tiled_plan(tiny(), hw).fits


@pytest.mark.parametrize(
    ("over", "words"),
    [
        ({"fusion": "depth_first", "organisation": "pipeline"}, "organisation"),
        ({"fusion": "depth_first", "partitioning": "channel"}, "partitioning"),
        ({"fusion": "depth_first", "batch": 2}, "batch"),
        ({"fused_layers": 3}, "fused_layers"),
        ({"band_overlap": "recompute"}, "band_overlap"),
    ],
)
def test_invalid_combinations_are_rejected(over, words) -> None:
    with pytest.raises(ValidationError, match=words):
        SystemSpec.model_validate(_preset("systems/hyperdrive_mesh.yaml") | over)


def test_fit_answers_with_fewer_chips_depth_first() -> None:
    # FMM of 2200 bits. Layer by layer, 2 chips (1x2 or 2x1, 8 x 4 pixels each) need 2304
    # at b (test above), 3 chips (1x3: 3, 3, 2 columns) need at most 768 + 768 + 512 = 2048
    # on the middle chip (a and b on 24 px, 16 halo px): fewest 3. Depth first on 1x2 the
    # peak is 2144 (bands of 2 rows, above): fewest 2. One chip holds the 1024-bit image and
    # all of b (2048) at its last band: no.
    from hyperdrive_sim.mapping.fit import fewest_chips

    net = tiny().network
    chip = _preset("chips/hyperdrive.yaml") | {
        "tile_rows": 1, "tile_cols": 1, "fmpus_per_tile": 2, "fmm_bits": 2200,
    }  # fmt: skip
    system = _preset("systems/hyperdrive_mesh.yaml") | {"frames": 1}
    flat = fewest_chips(net, (8, 8), chip, system)
    deep = fewest_chips(net, (8, 8), chip, system | {"fusion": "depth_first"})
    assert {m.chips for m in flat} == {3} and {m.chips for m in deep} == {2}


def test_fit_fusion_option_is_validated(tmp_path, capsys) -> None:
    from hyperdrive_sim.cli import main

    system = tmp_path / "system.yaml"
    system.write_text(
        yaml.safe_dump(_preset("systems/hyperdrive_mesh.yaml") | {"partitioning": "channel"})
    )
    args = ["fit", "resnet18", "--input", "224x224", "--system", str(system)]
    assert main([*args, "--fusion", "depth_first"]) == 2
    err = capsys.readouterr().err
    assert "--fusion" in err and "partitioning" in err


TINY_YAML = """
name: tiny_df
input_channels: 1
layers:
  - {name: a, type: conv, out: 2, kernel: 3}
  - {name: b, type: conv, out: 2, kernel: 3}
  - {name: c, type: conv, out: 2, kernel: 1}
"""


def test_explore_takes_fusion_as_an_axis(tmp_path) -> None:
    # 1x2 chips of 1x1 Tile-PU and 2 FMPUs, FMMs of 2200 and 4000 bits: layer by layer needs
    # 2304 (fits only 4000); depth first fits both (bands of 2 rows need 2144, above): each
    # memory size gets its own plan, not the largest one's checked layer by layer
    from hyperdrive_sim.experiment import load_experiment
    from hyperdrive_sim.explore.run import explore

    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    (tmp_path / "x.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "x", "networks": ["tiny.yaml"], "inputs": ["8x8"],
                "chip": {"tile_rows": 1, "tile_cols": 1, "fmpus_per_tile": 2},
                "system": {"frames": 1},
                "explore": {
                    "mesh": {"shapes": ["1x2"]},
                    "axes": {
                        "system.fusion": ["layer_by_layer", "depth_first"],
                        "chip.fmm_bits": [2200, 4000],
                    },
                    "objectives": {"energy": "min", "fps": "max"},
                },
            }
        )
    )  # fmt: skip
    spec, base = load_experiment(tmp_path / "x.yaml")
    result = explore(spec, base, write=False, executor="serial")
    fits = {(r["system.fusion"], r["chip.fmm_bits"]): r["fits"] for r in result.rows}
    assert fits == {
        ("layer_by_layer", 2200): False, ("layer_by_layer", 4000): True,
        ("depth_first", 2200): True, ("depth_first", 4000): True,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("net", "size", "mesh"),
    [
        ("resnet34", "1920x1080", "2x2"),
        ("resnet34", "640x480", "2x2"),
        ("resnet18", "224x224", "1x1"),
    ],
)
def test_depth_first_never_needs_more_memory_than_layer_by_layer(net, size, mesh):
    """With fused_layers 0 the planner may keep layer by layer, so the depth-first memory
    answer is never above it. On a mesh no stack fits, a deep stack caches more rows of its
    early maps than they hold whole: ResNet-34 at 1080p on 2x2 once answered 683,024,752
    bits (a 53-layer stack) where layer by layer needs 166,657,024."""
    from hyperdrive_sim.mapping.fit import smallest_fmm_bits
    from hyperdrive_sim.spec.defaults import coerce

    flat_system = coerce(None, "system")
    fused_system = flat_system.model_copy(update={"fusion": "depth_first"})
    flat = smallest_fmm_bits(net, size, None, flat_system, None, mesh=mesh)
    fused = smallest_fmm_bits(net, size, None, fused_system, None, mesh=mesh)
    assert fused.bits <= flat.bits
