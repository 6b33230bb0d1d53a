"""Chip and system silicon area from the chip's sizes and an area table.

Every chip of a mesh is the same die, so each carries the link ports the mesh uses:
vertical ports when the mesh has more than one row, horizontal ones with more than one
column, diagonal ones with diagonal corner routing; each neighbour direction has an input
and an output port. The weight buffer holds ``weight_buffer_blocks`` of the largest weight
block the network streams, so it is sized by the network being run; the kernel dictionary
store (``kernel_dictionary_bits``) is priced at the weight buffer's area per bit.

The die is the core inside a ring of pads (one ring, pads on all four sides): signal pads
(the off-chip interface, and ``link_width_bits + link_control_pads`` per cmos link port or
``link_width_bits · serdes_pads_per_lane`` per serdes one) plus
``power_pads_per_signal_pad`` power/ground pads per signal pad. A square die of side ``s``
with a ring ``d`` deep holds ``ceil(pads / 4)`` pads of pitch ``p`` per side between its
corner cells, so it needs ``s >= ceil(pads / 4) · p + 2d`` (pad-limited), and
``s >= sqrt(core) + 2d`` for the core to fit inside the ring (core-limited).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hyperdrive_sim.pricing.datapath import mac_area_ratio
from hyperdrive_sim.pricing.energy import sram_bits
from hyperdrive_sim.pricing.memory import memory_prices
from hyperdrive_sim.spec.area import AreaTable
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, SystemSpec

#: core area parts, in the order reports show them
AREA_PARTS = ("datapath", "sram", "weight_buffer", "control")
UM_PER_MM = 1e3


@dataclass(frozen=True, slots=True)
class AreaBreakdown:
    """mm² of one chip's core by part, its die side, and the whole system's silicon."""

    datapath: float
    sram: float
    weight_buffer: float
    control: float
    signal_pads: int
    power_pads: int
    #: mm: the pad ring's depth, and the side the ring alone needs
    ring_depth: float
    pad_side: float
    chips: int

    @property
    def core_mm2(self) -> float:
        return self.datapath + self.sram + self.weight_buffer + self.control

    @property
    def core_side(self) -> float:
        """Side of the square die that just holds the core inside the ring, mm."""
        return math.sqrt(self.core_mm2) + 2 * self.ring_depth

    @property
    def pad_limited(self) -> bool:
        """The ring needs more perimeter than the core gives it."""
        return self.pad_side > self.core_side

    @property
    def chip_mm2(self) -> float:
        """Die area of one chip: the core or the pad ring, whichever needs more."""
        return max(self.core_side, self.pad_side) ** 2

    @property
    def silicon_mm2(self) -> float:
        return self.chip_mm2 * self.chips


def link_ports(system: SystemSpec, mesh: Mesh) -> int:
    """Directed link ports on each die (input and output per neighbour direction used)."""
    directions = 2 * (mesh.rows > 1) + 2 * (mesh.cols > 1)
    if system.corner_routing == "diagonal" and mesh.rows > 1 and mesh.cols > 1:
        directions += 4
    return 2 * directions


def signal_pads(system: SystemSpec, mesh: Mesh, table: AreaTable) -> int:
    """Signal pads of one die: the off-chip interface and every link port's wires (a cmos
    port's data and control wires, a serdes port's lanes)."""
    if system.link_technology == "serdes":
        per_port = system.link_width_bits * table.serdes_pads_per_lane
    else:
        per_port = system.link_width_bits + table.link_control_pads
    return table.offchip_pads + link_ports(system, mesh) * per_port


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
    signals = signal_pads(system, mesh, table)
    power = math.ceil(signals * table.power_pads_per_signal_pad)
    depth = table.pad_ring_depth_um / UM_PER_MM
    pad_side = math.ceil((signals + power) / 4) * table.pad_pitch_um / UM_PER_MM + 2 * depth
    # the kernel dictionary is a latch array next to the FMPUs like the weight buffer
    wbuf_bits = chip.weight_buffer_blocks * max_block_bits + chip.kernel_dictionary_bits
    fmpu = table.fmpu_mm2 * mac_area_ratio(chip, table)
    return AreaBreakdown(
        datapath=chip.tiles * (table.tile_pu_mm2 + chip.fmpus_per_tile * fmpu),
        sram=sram_area_mm2(chip, table, energy, chip.weight_buffer_blocks * max_block_bits),
        weight_buffer=wbuf_bits / 1e3 * table.wbuf_mm2_per_kbit,
        control=table.control_mm2,
        signal_pads=signals,
        power_pads=power,
        ring_depth=depth,
        pad_side=pad_side,
        chips=mesh.chips,
    )
