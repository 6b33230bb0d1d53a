"""Energy of a frame from action counts and an energy table (the Accelergy split).

Core and on-chip memory energies scale with (V / V_ref) ** dynamic_voltage_exponent, and
leakage power with (V / V_ref) ** leakage_voltage_exponent; pad and link energies per bit
do not scale with the core voltage (they are set by the I/O supply).

A MAC and a feature-map add cost ``binary_mac_pj`` and ``fp16_add_pj`` times the ratio of
the chip's datapath precision to FP16 (``pricing.datapath``). An off-chip bit costs the
memory's ``offchip_pj_per_bit`` plus the board wires it charges (``pricing.io``): a weight
bit on a bus every chip's drop, a weight bit of a chain the head's drop alone, an image tile
or result bit the drop of the chip it is addressed to. Chip-to-chip bits cost the link's
energy per hop.

Memory sizes have a price. With a memory table (``memory_table``, the bundled presets'
choice) the SRAMs' energies per bit, leakage and area come from CACTI's macros for the
chip's organisation, at the operating voltage (:mod:`hyperdrive_sim.pricing.memory`).
Without one, leakage power per chip is the logic's plus ``sram_leakage_mw_per_mbit`` for
every SRAM bit on the chip (FMM, border buffer, weight cache), and the FMM's read and write
energies per bit hold at ``sram_reference_bits`` and scale with
(capacity / reference) ** sram_energy_exponent; the weight cache, a macro of its own,
scales with its own capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperdrive_sim.evaluators.counts import Counts
from hyperdrive_sim.mapping.costs import largest_block_bits
from hyperdrive_sim.pricing.datapath import add_energy_ratio, mac_energy_ratio
from hyperdrive_sim.pricing.io import bus_pj_per_bit, link_pj_per_bit, weight_drops
from hyperdrive_sim.pricing.memory import MemoryPrices, memory_prices
from hyperdrive_sim.spec.hardware import Hardware

PJ = 1e-12
#: energy parts, in the order reports and figures show them
PARTS = ("core", "onchip_mem", "offchip_io", "c2c_io", "leakage")


@dataclass(frozen=True, eq=False)
class EnergyBreakdown:
    """Joules per part: ``per_layer[part]`` arrays plus frame-level I/O outside layers."""

    per_layer: dict[str, np.ndarray]
    #: image-in and result-out I/O, and leakage during those phases
    frame_offchip_j: float
    frame_leakage_j: float

    @property
    def totals(self) -> dict[str, float]:
        t = {part: float(self.per_layer[part].sum()) for part in PARTS}
        t["offchip_io"] += self.frame_offchip_j
        t["leakage"] += self.frame_leakage_j
        return t

    @property
    def total_j(self) -> float:
        return sum(self.totals.values())


def sram_bits(chip) -> int:
    """SRAM bits on one chip: feature-map memory, border buffer and weight cache."""
    return chip.fmm_bits + chip.border_buffer_bits + chip.weight_cache_bits


def weight_buffer_bits(plan) -> int:
    """Capacity of the weight buffer: ``weight_buffer_blocks`` of the plan's largest block."""
    return plan.hw.chip.weight_buffer_blocks * largest_block_bits(plan.network.infos, plan.hw.chip)


def sram_prices(hw: Hardware, wbuf_bits: int | None) -> MemoryPrices:
    """The chip's SRAM costs at its operating voltage, from the memory table or per bit."""
    table, chip = hw.energy, hw.chip
    if table.memory_table is not None:
        if wbuf_bits is None:
            raise ValueError("pricing with a memory table needs the weight buffer's capacity")
        return memory_prices(chip, table, hw.voltage_v, wbuf_bits)
    ratio = hw.voltage_v / table.reference_voltage_v
    dyn = ratio**table.dynamic_voltage_exponent
    fmm = sram_scale(chip.fmm_bits, table) * dyn
    return MemoryPrices(
        fmm_read_pj_per_bit=table.fmm_read_pj_per_bit * fmm,
        fmm_write_pj_per_bit=table.fmm_write_pj_per_bit * fmm,
        wbuf_read_pj_per_bit=table.wbuf_read_pj_per_bit * dyn,
        wbuf_write_pj_per_bit=table.wbuf_write_pj_per_bit * dyn,
        cache_read_pj_per_bit=(
            table.fmm_read_pj_per_bit * sram_scale(chip.weight_cache_bits, table) * dyn
        ),
        sram_leakage_mw=sram_bits(chip) / 1e6 * table.sram_leakage_mw_per_mbit
        * ratio**table.leakage_voltage_exponent,
        sram_area_mm2=float("nan"),  # priced by the area table's sram_mm2_per_mbit
    )  # fmt: skip


def leakage_mw(hw: Hardware, wbuf_bits: int | None = None) -> float:
    """Leakage power of one chip at its operating voltage: logic plus every SRAM."""
    table = hw.energy
    ratio = hw.voltage_v / table.reference_voltage_v
    logic = table.logic_leakage_mw_per_chip * ratio**table.leakage_voltage_exponent
    return logic + sram_prices(hw, wbuf_bits).sram_leakage_mw


def sram_scale(capacity_bits: int, table) -> float:
    """Factor on the reference energy per bit for an SRAM of ``capacity_bits``."""
    if capacity_bits <= 0:
        return 0.0
    return (capacity_bits / table.sram_reference_bits) ** table.sram_energy_exponent


def price(counts: Counts, hw: Hardware, wbuf_bits: int | None = None) -> EnergyBreakdown:
    """Price ``counts`` with ``hw.energy`` at the chip's operating point; ``wbuf_bits`` (the
    weight buffer's capacity, :func:`weight_buffer_bits`) is needed with a memory table."""
    table = hw.energy
    ratio = hw.voltage_v / table.reference_voltage_v
    dyn = ratio**table.dynamic_voltage_exponent * PJ
    sram = sram_prices(hw, wbuf_bits)
    leak_w = leakage_mw(hw, wbuf_bits) * 1e-3
    per_chip = lambda a: a.sum(axis=1).astype(float)  # noqa: E731
    fp16_macs = counts.macs - counts.skipped_macs - counts.xnor_macs
    core = (
        per_chip(fp16_macs) * table.binary_mac_pj * mac_energy_ratio(hw.chip, table)
        + per_chip(counts.xnor_macs) * table.xnor_mac_pj
        + per_chip(counts.fp16_adds) * table.fp16_add_pj * add_energy_ratio(hw.chip, table)
        + per_chip(counts.fp16_muls) * table.fp16_mul_pj
    )
    mem = (  # already at the operating voltage
        per_chip(counts.fmm_read_bits) * sram.fmm_read_pj_per_bit
        + per_chip(counts.fmm_write_bits) * sram.fmm_write_pj_per_bit
        + per_chip(counts.wbuf_read_bits) * sram.wbuf_read_pj_per_bit
        + per_chip(counts.wbuf_write_bits) * sram.wbuf_write_pj_per_bit
        + per_chip(counts.cache_read_bits) * sram.cache_read_pj_per_bit
    )
    c2c = (
        counts.c2c_border_bits
        + counts.c2c_weight_bits
        + counts.c2c_reduce_bits
        + counts.c2c_gather_bits
    ).astype(float)
    # every chip leaks for one steady-state frame interval per frame; the per-layer split
    # follows the single frame's schedule, scaled to that interval
    leak_per_cycle = leak_w * counts.chips / hw.frequency_hz
    if counts.total_cycles:
        leak_per_cycle *= counts.interval_cycles / counts.total_cycles
    drops = weight_drops(hw.system.weight_distribution, counts.chips)
    weight_pj = table.offchip_pj_per_bit + bus_pj_per_bit(table, drops)
    addressed_pj = table.offchip_pj_per_bit + bus_pj_per_bit(table, 1)
    per_layer = {
        "core": core * dyn,
        "onchip_mem": mem * PJ,
        "offchip_io": counts.offchip_weight_bits.astype(float) * weight_pj * PJ,
        "c2c_io": c2c * link_pj_per_bit(table, hw.system.link_technology) * PJ,
        "leakage": counts.layer_cycles.astype(float) * leak_per_cycle,
    }
    frame_bits = float(counts.image_in_bits.sum() + counts.result_out_bits.sum())
    io_cycles = counts.total_cycles - int(counts.layer_cycles.sum())
    per_frame = 1.0 / counts.frames_per_pass  # a batch's counts cover all its frames
    return EnergyBreakdown(
        per_layer={part: joules * per_frame for part, joules in per_layer.items()},
        frame_offchip_j=frame_bits * addressed_pj * PJ * per_frame,
        frame_leakage_j=io_cycles * leak_per_cycle * per_frame,
    )
