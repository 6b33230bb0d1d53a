"""Chip and system silicon area from the chip's sizes and an area table.

Every chip of a mesh is the same die, so each carries the link ports the mesh uses:
vertical ports when the mesh has more than one row, horizontal ones with more than one
column, diagonal ones with diagonal corner routing; each neighbour direction has an input
and an output port. The weight buffer holds ``weight_buffer_blocks`` of the largest weight
block the network streams, so it is sized by the network being run; the kernel dictionary
store (``kernel_dictionary_bits``) is priced at the weight buffer's area per bit.
"""

from __future__ import annotations

from dataclasses import dataclass

from hyperdrive_sim.pricing.energy import sram_bits
from hyperdrive_sim.pricing.memory import memory_prices
from hyperdrive_sim.spec.area import AreaTable
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, SystemSpec

#: area parts, in the order reports show them
AREA_PARTS = ("datapath", "sram", "weight_buffer", "control", "pads")


@dataclass(frozen=True, slots=True)
class AreaBreakdown:
    """mm² of one chip by part, and of the whole system."""

    datapath: float
    sram: float
    weight_buffer: float
    control: float
    pads: float
    chips: int

    @property
    def chip_mm2(self) -> float:
        return self.datapath + self.sram + self.weight_buffer + self.control + self.pads

    @property
    def silicon_mm2(self) -> float:
        return self.chip_mm2 * self.chips


def link_ports(system: SystemSpec, mesh: Mesh) -> int:
    """Directed link ports on each die (input and output per neighbour direction used)."""
    directions = 2 * (mesh.rows > 1) + 2 * (mesh.cols > 1)
    if system.corner_routing == "diagonal" and mesh.rows > 1 and mesh.cols > 1:
        directions += 4
    return 2 * directions


def sram_area_mm2(
    chip: ChipSpec, table: AreaTable, energy: EnergyTable | None, wbuf_bits: int
) -> float:
    """FMM, border buffer and weight cache: the memory table's macros when the energy table
    names one, else ``sram_mm2_per_mbit`` per Mbit."""
    if energy is not None and energy.memory_table is not None:
        voltage = chip.point.voltage_v  # the area does not depend on it
        prices = memory_prices(chip, energy, voltage, wbuf_bits)
        return prices.sram_area_mm2 * table.sram_area_scale
    if table.sram_mm2_per_mbit is None:
        raise ValueError("no SRAM area: give area.sram_mm2_per_mbit or energy.memory_table")
    return sram_bits(chip) / 1e6 * table.sram_mm2_per_mbit


def chip_area(
    chip: ChipSpec,
    system: SystemSpec,
    mesh: Mesh,
    table: AreaTable,
    max_block_bits: int,
    energy: EnergyTable | None = None,
) -> AreaBreakdown:
    """Area of one chip and of ``mesh.chips`` of them (SRAMs from ``energy``'s memory table
    when it names one)."""
    pads = table.offchip_pads + link_ports(system, mesh) * table.link_port_pads
    # the kernel dictionary is a latch array next to the FMPUs like the weight buffer
    wbuf_bits = chip.weight_buffer_blocks * max_block_bits + chip.kernel_dictionary_bits
    return AreaBreakdown(
        datapath=chip.tiles * (table.tile_pu_mm2 + chip.fmpus_per_tile * table.fmpu_mm2),
        sram=sram_area_mm2(chip, table, energy, chip.weight_buffer_blocks * max_block_bits),
        weight_buffer=wbuf_bits / 1e3 * table.wbuf_mm2_per_kbit,
        control=table.control_mm2,
        pads=pads * table.pad_mm2,
        chips=mesh.chips,
    )
