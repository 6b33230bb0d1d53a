"""Peak feature-map memory need, 'does not fit' reasons, and the fit helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperdrive_sim.errors import MappingError, NetworkError
from hyperdrive_sim.mapping.fit import (
    fewest_chips,
    fmm_peak,
    mesh_family,
    smallest_fmm_bits,
    smallest_mesh,
)
from hyperdrive_sim.mapping.plan import capacity_problems, geometry
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, Resolution, SystemSpec
from hyperdrive_sim.workload.yaml_network import load_network_yaml
from hyperdrive_sim.workload.zoo import get_network

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CHIP = loader.validate(ChipSpec, loader.load(CONFIGS / "chips/hyperdrive.yaml"))
SYSTEM = loader.validate(SystemSpec, loader.load(CONFIGS / "systems/hyperdrive_mesh.yaml"))
ENERGY = loader.validate(EnergyTable, loader.load(CONFIGS / "energy/hyperdrive_22fdx.yaml"))
TINY = CONFIGS / "networks/tiny_residual.yaml"


def _hw(mesh: str, fmm_bits: int = CHIP.fmm_bits) -> Hardware:
    chip = CHIP.model_copy(update={"fmm_bits": fmm_bits})
    return Hardware(chip, SYSTEM, ENERGY, Mesh.model_validate(mesh))


def test_peak_of_tiny_residual_on_one_chip_by_hand() -> None:
    # 16x16 image on one chip, FP16 (16 bits per value), no halos on a 1x1 mesh:
    #   image 3x16x16 = 768 values = 12,288 bits; stem, block1.conv1, block1.conv2 are
    #   32x8x8 = 2,048 values = 32,768 bits each.
    #   stem:         image + stem                         = 45,056
    #   block1.conv1: stem (kept for the add) + conv1      = 65,536
    #   block1.conv2: stem + conv1 + conv2                 = 98,304  <- the peak
    #   block1.add:   stem + conv2 + add                   = 98,304  (not larger)
    #   later layers work on 64x4x4 maps (16,384 bits each) and need less.
    net = load_network_yaml(TINY).at(16, 16)
    assert fmm_peak(net, _hw("1x1")) == (98_304, "block1.conv2", (0, 0))
    # fmm_bits = peak fits, one bit less does not, and the reason leads with the peak
    assert build_plan(net, _hw("1x1", 98_304)).fits
    short = build_plan(net, _hw("1x1", 98_303))
    assert not short.fits
    assert short.reason.startswith(
        "needs 98,304 bits of feature-map memory (FMM) at layer 'block1.conv2' on chip (0,0), "
        "the chip has 98,303 (over by 1 bits, 0.0%); 2 layers overflow, first 'block1.conv2'"
    )


def test_reason_names_the_peak_not_the_first_overflow() -> None:
    # ResNet-18 at 640x480 on 2x2: conv1 overflows first, but maxpool (conv1's output and
    # the pooled map live together) needs the most; sizing the FMM to the reported peak fits.
    net = get_network("resnet18").at(480, 640)
    plan = build_plan(net, _hw("2x2"))
    peak = fmm_peak(net, _hw("2x2"))
    assert peak.layer == "maxpool"
    assert f"needs {peak.bits:,} bits" in plan.reason and "first 'conv1'" in plan.reason
    # the peak equals the largest per-layer need the plan reports, and the row keeps it
    assert peak.bits == max(int(lp.fmm_need_bits.max()) for lp in plan.layers)
    assert build_plan(net, _hw("2x2", peak.bits)).fits
    assert not build_plan(net, _hw("2x2", peak.bits - 1)).fits


def test_smallest_fmm_bits_is_the_peak_and_rejects_a_mesh_too_fine() -> None:
    peak = smallest_fmm_bits(str(TINY), "32x32", CHIP, SYSTEM, ENERGY, mesh="2x2")
    net = load_network_yaml(TINY).at(32, 32)
    assert build_plan(net, _hw("2x2", peak.bits)).fits
    assert not build_plan(net, _hw("2x2", peak.bits - 1)).fits
    # tiny_residual at 32x32: "down" outputs 8x8, fewer rows than a 16x16 mesh has
    with pytest.raises(MappingError, match="no FMM size helps"):
        smallest_fmm_bits(str(TINY), "32x32", CHIP, SYSTEM, ENERGY, mesh="16x16")


@pytest.mark.parametrize("shapes", ["square", "wide"])
def test_smallest_mesh_fits_and_the_one_before_does_not(shapes) -> None:
    res = Resolution.model_validate("640x480")
    mesh = smallest_mesh("resnet18", res, CHIP, SYSTEM, ENERGY, shapes=shapes)
    net = get_network("resnet18").at(480, 640)
    assert build_plan(net, _hw(str(mesh))).fits
    family = mesh_family(shapes, res)
    before = family[family.index(mesh) - 1]
    assert not build_plan(net, _hw(str(before))).fits
    if shapes == "wide":  # 4:3 image: n rows x round(4n/3) columns
        assert mesh.cols == round(mesh.rows * 4 / 3)


def test_no_mesh_fits_an_absurd_frame() -> None:
    tiny_fmm = CHIP.model_copy(update={"fmm_bits": 1})
    with pytest.raises(MappingError, match="fits no square mesh up to 64x64"):
        smallest_mesh("resnet18", "640x480", tiny_fmm, SYSTEM, ENERGY)


def test_yolov3_says_its_input_sides_must_be_multiples_of_32() -> None:
    # five stride-2 stages: 1080 / 32 = 33.75, so the upsampled 34-row map of the head
    # would meet a 67-row map at the concat; the next multiple of 32 is 1088.
    with pytest.raises(NetworkError) as err:
        get_network("yolov3").at(1080, 1920)
    assert str(err.value) == (
        "inputs: input sides must be multiples of 32 for yolov3, got 1920x1080 "
        "(1080 = 33.75 x 32); try 1920x1088"
    )
    assert get_network("yolov3").at(1088, 1920).infos  # the suggestion works


def test_fewest_chips_beats_every_smaller_mesh_by_brute_force() -> None:
    # resnet18 at 640x480: the square family answers 4x4 and the wide family 4x5, but
    # any ROWSxCOLS may be the answer. Brute force: plan every mesh of fewer chips (all
    # shapes up to 15 rows or columns) and check none fits; every mesh returned fits and
    # has the same chip count.
    found = fewest_chips("resnet18", "640x480", CHIP, SYSTEM, ENERGY)
    net = get_network("resnet18").at(480, 640)
    chips = found[0].chips
    assert {m.chips for m in found} == {chips}
    for mesh in found:
        assert build_plan(net, _hw(str(mesh))).fits
    for rows in range(1, chips):
        for cols in range(1, (chips - 1) // rows + 1):
            hw = _hw(f"{rows}x{cols}")
            geo = geometry(net, hw)
            assert capacity_problems(geo, hw) or geo.problems, f"{rows}x{cols} fits"
    # every factorisation of that count is either returned or does not fit
    for rows in range(1, chips + 1):
        if chips % rows == 0 and Mesh(rows=rows, cols=chips // rows) not in found:
            assert not build_plan(net, _hw(f"{rows}x{chips // rows}")).fits


def test_fewest_chips_finds_the_mesh_the_families_miss() -> None:
    # resnet50 at 1280x720 (reported by a user): the square family answers 11x11 (121
    # chips) and the 16:9 family 9x16 (144), while 7x16 (112 chips) fits.
    res = Resolution.model_validate("1280x720")
    assert smallest_mesh("resnet50", res, CHIP, SYSTEM, ENERGY, shapes="square").chips == 121
    found = fewest_chips("resnet50", res, CHIP, SYSTEM, ENERGY)
    assert Mesh(rows=7, cols=16) in found
    assert found[0].chips == 112


def test_fewest_chips_respects_the_bounds_and_says_when_nothing_fits() -> None:
    tiny_fmm = CHIP.model_copy(update={"fmm_bits": 1})
    with pytest.raises(MappingError, match="fits no mesh up to 4x4"):
        fewest_chips("resnet18", "640x480", tiny_fmm, SYSTEM, ENERGY, max_rows=4, max_cols=4)
