"""Die area from the pad ring, bus and link energy from capacitance, precision-scaled MACs.

Every expected number is derived by hand in the comments from the preset YAML values:
pad pitch 50 um, ring depth 120 um, 26 off-chip pads, 2 control pads per link port,
0.5 power/ground pads per signal pad; 2 pF per pad, 2 pF of trace per drop, activity 1/4,
1.2 V I/O; Horowitz per-bit costs (fp add 0.00377, int add 0.000472, int mul 0.000472 pJ;
fp add 85, int add 4.3 um² per bit).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperdrive_sim.pricing.area import chip_area, signal_pads
from hyperdrive_sim.pricing.datapath import mac_area_ratio, mac_energy_ratio
from hyperdrive_sim.pricing.io import bus_pj_per_bit, drop_pj_per_bit, link_pj_per_bit
from hyperdrive_sim.simulate import simulate
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.area import AreaTable
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, SystemSpec

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CHIP = loader.validate(ChipSpec, loader.load(CONFIGS / "chips/hyperdrive.yaml"))
SYSTEM = loader.validate(SystemSpec, loader.load(CONFIGS / "systems/hyperdrive_mesh.yaml"))
ENERGY = loader.validate(EnergyTable, loader.load(CONFIGS / "energy/hyperdrive_22fdx.yaml"))
AREA = loader.validate(AreaTable, loader.load(CONFIGS / "area/hyperdrive_22fdx.yaml"))
#: the per-Mbit SRAM rule (0.2 mm2/Mbit, as without a memory table), so that these pad-ring
#: derivations stay independent of the CACTI macros (test_memory_table checks those)
PER_MBIT = AREA.model_copy(update={"sram_mm2_per_mbit": 0.2})
TINY = str(CONFIGS / "networks/tiny_residual.yaml")


# ------------------------------------------------------------------------------------------
# Die area


def test_preset_chip_on_a_mesh_is_pad_limited_by_hand() -> None:
    # a 14x16 mesh with relay routing: 4 directions x in/out = 8 link ports of 16 data + 2
    # control pads, and the 26 off-chip pads: 26 + 8 x 18 = 170 signal pads; 85 power and
    # ground pads (0.5 each); 255 pads, ceil(255 / 4) = 64 per side at 50 um = 3.2 mm, plus
    # two 0.12 mm corners: a 3.44 mm side, 11.8336 mm²
    mesh = Mesh.model_validate("14x16")
    assert signal_pads(SYSTEM, mesh, AREA) == 170
    area = chip_area(CHIP, SYSTEM, mesh, PER_MBIT, max_block_bits=0)
    assert (area.signal_pads, area.power_pads) == (170, 85)
    # core without a weight buffer: 49 Tile-PUs x (0.00028 + 16 x 0.00056) = 0.45276,
    # 6.4 Mbit x 0.2 = 1.28 of SRAM, 0.1 of control: 1.83276 mm², side 1.353795 + 0.24
    assert area.core_mm2 == pytest.approx(1.83276, rel=1e-12)
    assert area.pad_limited
    assert area.chip_mm2 == pytest.approx(3.44**2, rel=1e-12)
    assert area.silicon_mm2 == pytest.approx(224 * 11.8336, rel=1e-12)


def test_a_single_chip_is_core_limited_by_hand() -> None:
    # 1x1: no link ports, 26 signal + 13 power pads = 39, 10 per side: 0.5 + 0.24 = 0.74 mm,
    # less than the core's sqrt(1.83276) + 0.24 = 1.593795 mm side: 2.540181 mm²
    area = chip_area(CHIP, SYSTEM, Mesh.model_validate("1x1"), PER_MBIT, max_block_bits=0)
    assert area.pad_side == pytest.approx(0.74, rel=1e-12)
    assert not area.pad_limited
    assert area.chip_mm2 == pytest.approx((1.83276**0.5 + 0.24) ** 2, rel=1e-12)
    assert area.chip_mm2 == pytest.approx(2.540181, rel=1e-6)


def test_wider_links_need_more_pads() -> None:
    # 32-bit links on a 2x2 mesh: 26 + 8 x 34 = 298 signal pads
    wide = SYSTEM.model_copy(update={"link_width_bits": 32})
    assert signal_pads(wide, Mesh.model_validate("2x2"), AREA) == 298


def test_result_rows_report_core_die_and_the_flag() -> None:
    r = simulate(TINY, "60x44", CHIP, SYSTEM, ENERGY, mesh="2x2", area=AREA)
    row = r.row
    assert row["pad_limited"] is True
    assert row["chip_area_mm2"] == pytest.approx(11.8336, rel=1e-12)
    assert row["core_area_mm2"] < row["chip_area_mm2"]
    assert row["silicon_area_mm2"] == pytest.approx(4 * 11.8336, rel=1e-12)


# ------------------------------------------------------------------------------------------
# Bus and link energy


@pytest.mark.parametrize(("drops", "pj"), [(1, 1.44), (4, 5.76), (224, 322.56)])
def test_bus_energy_follows_the_capacitance_formula(drops: int, pj: float) -> None:
    # n x 1/4 x (2 pF + 2 pF) x (1.2 V)^2 = n x 1.44 pJ per bit
    assert bus_pj_per_bit(ENERGY, drops) == pytest.approx(pj, rel=1e-12)
    assert drop_pj_per_bit(ENERGY) == pytest.approx(1.44, rel=1e-12)


def test_a_link_hop_is_two_pads_and_a_trace_unless_given() -> None:
    # 1/4 x (2 x 2 + 2) pF x 1.44 V^2 = 2.16 pJ/bit
    assert link_pj_per_bit(ENERGY) == pytest.approx(2.16, rel=1e-12)
    assert link_pj_per_bit(ENERGY.model_copy(update={"c2c_pj_per_bit": 0.7})) == 0.7


@pytest.mark.parametrize("evaluator", ["analytic", "simpy"])
def test_bus_and_chain_pay_for_their_wires(evaluator: str) -> None:
    totals = {}
    for dist in ("bus", "chain"):
        system = SYSTEM.model_copy(update={"weight_distribution": dist})
        r = simulate(TINY, "60x44", CHIP, system, ENERGY, mesh="2x3", evaluator=evaluator)
        c, t = r.counts, r.energy.totals
        weights = int(c.offchip_weight_bits.sum())
        addressed = int(c.image_in_bits.sum() + c.result_out_bits.sum())
        # bus: a weight bit charges the 6 drops; chain: the head's only; image and results
        # one drop each (19.56 pJ/bit of memory, 1.44 per drop)
        drops = 6 if dist == "bus" else 1
        offchip = weights * (19.56 + drops * 1.44) + addressed * (19.56 + 1.44)
        assert t["offchip_io"] == pytest.approx(offchip * 1e-12, rel=1e-12)
        assert t["c2c_io"] == pytest.approx(c.c2c_bits * 2.16e-12, rel=1e-12)
        totals[dist] = c
    assert totals["chain"].c2c_weight_bits.sum() > 0 == totals["bus"].c2c_weight_bits.sum()


# ------------------------------------------------------------------------------------------
# Link clocks


def test_link_rate_follows_its_own_clock_not_the_core() -> None:
    # 100 MHz x 16 wires = 1.6 Gbit/s: 16 bits per 100 MHz core cycle, 5.33 per 300 MHz one
    nominal = CHIP.model_copy(update={"operating_point": "nominal"})
    mesh = Mesh.model_validate("2x2")
    assert Hardware(CHIP, SYSTEM, ENERGY, mesh).link_bits_per_cycle == pytest.approx(16)
    assert Hardware(nominal, SYSTEM, ENERGY, mesh).link_bits_per_cycle == pytest.approx(16 / 3)
    faster = SYSTEM.model_copy(update={"link_clock_mhz": 200.0, "link_width_bits": 8})
    assert Hardware(nominal, faster, ENERGY, mesh).link_gbps == pytest.approx(1.6)
    given = SYSTEM.model_copy(update={"link_bandwidth_gbps": 0.8})
    assert Hardware(CHIP, given, ENERGY, mesh).link_gbps == 0.8


# ------------------------------------------------------------------------------------------
# Precision


def _chip(**update) -> ChipSpec:
    return ChipSpec.model_validate({**CHIP.model_dump(), **update})


@pytest.mark.parametrize(
    ("update", "ratio"),
    [
        ({}, 1.0),
        # FP8 adder: half the FP16 one
        ({"activation_bits": 8}, 0.5),
        # 8-bit integer add over FP16 add: 8 x 0.000472 / (16 x 0.00377) = 0.0625995
        ({"activation_mode": "fixed", "activation_bits": 8}, 0.003776 / 0.06032),
        # ternary, FP16: the add on the 58% non-zero weights
        ({"weight_format": "ternary", "weight_bits": 2}, 0.58),
        # 8-bit fixed x 2-bit integer: (8 x 0.000472 + 8 x 2 x 0.000472) / 0.06032
        (
            {
                "activation_mode": "fixed",
                "activation_bits": 8,
                "weight_format": "integer",
                "weight_bits": 2,
            },
            0.011328 / 0.06032,
        ),
        # FP16 x 2-bit integer: FP16 add plus FP16 multiply, (0.06032 + 16 x 0.0104) / 0.06032
        ({"weight_format": "integer", "weight_bits": 2}, (0.06032 + 0.1664) / 0.06032),
    ],
)
def test_mac_energy_follows_precision_by_hand(update: dict, ratio: float) -> None:
    assert mac_energy_ratio(_chip(**update), ENERGY) == pytest.approx(ratio, rel=1e-12)


def test_fixed_point_area_by_hand() -> None:
    # an 8-bit integer adder over an FP16 one: 8 x 4.3 / (16 x 85) = 0.0252941
    assert mac_area_ratio(_chip(activation_mode="fixed", activation_bits=8), AREA) == (
        pytest.approx(34.4 / 1360, rel=1e-12)
    )


def test_core_energy_follows_the_datapath() -> None:
    # tiny_residual has no scaling factors or XNOR MACs: its core energy is MACs and adds,
    # both priced at the datapath's ratio, so 8-bit fixed point costs 0.0625995 of FP16
    fp16 = simulate(TINY, "60x44", CHIP, SYSTEM, ENERGY, mesh="2x2")
    fixed = _chip(activation_mode="fixed", activation_bits=8)
    r = simulate(TINY, "60x44", fixed, SYSTEM, ENERGY, mesh="2x2")
    assert r.counts.macs.sum() == fp16.counts.macs.sum()
    core, ref = r.energy.totals["core"], fp16.energy.totals["core"]
    assert core == pytest.approx(ref * 0.003776 / 0.06032, rel=1e-12)
    # ternary: the adds of MACs (not the feature-map adds) drop to 58%
    tern = simulate(TINY, "60x44", _chip(weight_format="ternary", weight_bits=2), SYSTEM,
                    ENERGY, mesh="2x2")  # fmt: skip
    c, t = tern.counts, ENERGY
    expected = (c.macs.sum() * 0.58 * t.binary_mac_pj + c.fp16_adds.sum() * t.fp16_add_pj) * 1e-12
    assert tern.energy.totals["core"] == pytest.approx(expected, rel=1e-12)


def test_weight_format_must_fit_weight_bits() -> None:
    with pytest.raises(ValueError, match="weight_format 'binary' needs weight_bits == 1, got 2"):
        _chip(weight_bits=2)
    with pytest.raises(ValueError, match="'ternary' needs weight_bits == 2"):
        _chip(weight_format="ternary")


# ------------------------------------------------------------------------------------------
# SerDes links


def test_a_serdes_link_has_lanes_of_two_pads_and_its_own_energy() -> None:
    # 2 lanes at 10 Gbit/s: 20 Gbit/s per directed link; 8 ports x 2 lanes x 2 pads = 32
    # link pads + 26 off-chip = 58 signal pads, 29 power: 87 pads, 22 per side: 1.1 + 0.24 mm
    serdes = SYSTEM.model_copy(
        update={"link_technology": "serdes", "link_clock_mhz": 10_000.0, "link_width_bits": 2}
    )
    mesh = Mesh.model_validate("2x2")
    assert Hardware(CHIP, serdes, ENERGY, mesh).link_gbps == pytest.approx(20.0)
    assert signal_pads(serdes, mesh, AREA) == 58
    area = chip_area(CHIP, serdes, mesh, PER_MBIT, max_block_bits=0)
    assert area.pad_side == pytest.approx(1.34, rel=1e-12)
    assert not area.pad_limited  # the 1.83276 mm2 core needs a 1.593795 mm side
    assert link_pj_per_bit(ENERGY, "serdes") == 2.0
    r = simulate(TINY, "60x44", CHIP, serdes, ENERGY, mesh="2x2")
    assert r.energy.totals["c2c_io"] == pytest.approx(r.counts.c2c_bits * 2.0e-12, rel=1e-12)
