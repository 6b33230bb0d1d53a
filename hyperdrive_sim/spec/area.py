"""Silicon area per component: what each design knob costs in mm² (the Accelergy ART idea).

A chip's core is the sum of its datapath (Tile-PUs and their FMPUs), its SRAM (feature-map
memory, border buffer, weight cache), its weight buffer and a fixed controller. Its die is
the core inside a ring of pads: signal pads for the off-chip interface and for each link
port, plus power/ground pads in proportion; the die is pad-limited when the ring needs more
perimeter than the core gives it.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from hyperdrive_sim import limits
from hyperdrive_sim.spec.base import Sourced, integer, number

Area = number(ge=0, le=limits.MAX_AREA_MM2)
Length = number(gt=0, le=limits.MAX_PAD_UM)
PerBit = number(gt=0, le=limits.MAX_AREA_MM2 * 1e6)

#: keys of earlier versions and what replaced them
RENAMED = {
    "pad_mm2": "pad_pitch_um and pad_ring_depth_um (a pad is one pitch wide and one ring "
    "depth deep; the pads now form a ring around the core, see docs/model.md)",
    "link_port_pads": "link_control_pads (a link port has system.link_width_bits data pads "
    "plus these)",
}


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
    offchip_pads: integer(ge=0, le=limits.MAX_PADS) = Field(
        description="signal pads of the off-chip memory interface (data, command, clock)"
    )
    link_control_pads: integer(ge=0, le=limits.MAX_PADS) = Field(
        description="signal pads of one directed cmos link port besides its data pads"
    )
    serdes_pads_per_lane: integer(ge=0, le=limits.MAX_PADS) = Field(
        description="signal pads of one SerDes lane (a differential pair)"
    )
    power_pads_per_signal_pad: number(ge=0, le=limits.MAX_PADS) = Field(
        description="power and ground pads per signal pad"
    )
    pad_pitch_um: Length = Field(description="centre-to-centre spacing of pads along the ring")
    pad_ring_depth_um: Length = Field(
        description="depth of the pad ring: pad cell height (driver, ESD) from die edge to core"
    )
    fp_add_um2_per_bit: PerBit = Field(
        description="floating-point adder area per bit of width (datapath scaling by precision)"
    )
    int_add_um2_per_bit: PerBit = Field(description="integer adder area per bit of width")
    int_mul_um2_per_bit2: PerBit = Field(
        description="integer multiplier area per bit of one operand times bit of the other"
    )
    fp_mul_um2_per_bit: PerBit = Field(
        description="floating-point multiplier area per bit of width"
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for old, new in RENAMED.items():
                if old in data:
                    raise ValueError(f"key {old!r} was replaced by {new}")
        return data
