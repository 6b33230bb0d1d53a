"""Silicon area per component: what each design knob costs in mm² (the Accelergy ART idea).

A chip's area is the sum of its datapath (Tile-PUs and their FMPUs), its SRAM (feature-map
memory, border buffer, weight cache), its weight buffer, a fixed controller, and its pads:
the off-chip interface and one port per direction to each mesh neighbour it can talk to.
"""

from __future__ import annotations

from pydantic import Field

from hyperdrive_sim import limits
from hyperdrive_sim.spec.base import Sourced, integer, number

Area = number(ge=0, le=limits.MAX_AREA_MM2)


class AreaTable(Sourced):
    """mm² per component of a Hyperdrive chip; pricing multiplies by the chip's sizes."""

    fmpu_mm2: Area = Field(description="one FMPU: FP16 add/subtract unit and accumulator")
    tile_pu_mm2: Area = Field(description="one Tile-PU without its FMPUs: input register, control")
    sram_mm2_per_mbit: Area | None = Field(
        default=None,
        description="without a memory table (energy.memory_table): SRAM macros (feature-map "
        "memory, border buffer, weight cache) per Mbit",
    )
    sram_area_scale: number(gt=0, le=limits.MAX_SRAM_SCALE) = Field(
        default=1.0, description="factor on the memory table's macro areas (corner spread)"
    )
    wbuf_mm2_per_kbit: Area = Field(description="latch-based weight buffer per kbit")
    control_mm2: Area = Field(description="per chip: controller, DMA, clocking")
    pad_mm2: Area = Field(description="one I/O pad with its driver")
    offchip_pads: integer(ge=0, le=limits.MAX_PADS) = Field(
        description="pads of the off-chip memory interface (data, command, clock)"
    )
    link_port_pads: integer(ge=0, le=limits.MAX_PADS) = Field(
        description="pads of one directed chip-to-chip link port"
    )
