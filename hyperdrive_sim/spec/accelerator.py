"""Other binary-weight / binary accelerators, described by their published figures.

They are priced with the same off-chip I/O energy model as the Hyperdrive system, so that
"system-level efficiency including I/O" is a like-for-like comparison.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from hyperdrive_sim import limits
from hyperdrive_sim.spec.base import Sourced, integer, number

WordBits = integer(gt=0, le=limits.MAX_WORD_BITS)
MemoryBits = integer(ge=0, le=limits.MAX_MEMORY_BITS)


class AcceleratorSpec(Sourced):
    """A single-chip accelerator: core efficiency and throughput as published, buffers, I/O.

    ``fm_streaming``: binary weights, fixed-point feature maps read from and written to
    off-chip memory for every layer (YodaNN/UNPU class). ``binary``: 1-bit feature maps and
    XNOR-popcount; maps stay on chip when a layer's input and output fit the buffer, and go
    off-chip otherwise (XNORBIN, BinarEye, XNOR Neural Engine class).
    """

    dataflow: Literal["fm_streaming", "binary"]
    technology: str = Field(description="process and supply, for the comparison table")
    core_tops_per_w: number(ge=limits.MIN_PUBLISHED, le=limits.MAX_TOPS_PER_W) = Field(
        description="published core efficiency"
    )
    peak_gops: number(ge=limits.MIN_PUBLISHED, le=limits.MAX_GOPS) = Field(
        description="published throughput"
    )
    activation_bits: WordBits = Field(description="feature-map precision")
    weight_bits: WordBits
    image_bits: WordBits = Field(description="precision of the input image read off-chip")
    onchip_fm_bits: MemoryBits = Field(description="feature-map buffer on chip")
    onchip_weight_bits: MemoryBits = Field(description="weight buffer on chip")
    offchip_bandwidth_gbps: number(ge=limits.MIN_BANDWIDTH_GBPS, le=limits.MAX_BANDWIDTH_GBPS) = (
        Field(description="memory interface for I/O time")
    )
    offchip_pj_per_bit: number(ge=0, le=limits.MAX_ENERGY_PJ) | None = Field(
        default=None,
        description="off-chip energy per bit; None means the experiment's energy table's",
    )
    overhead_pj_per_op: number(ge=0, le=limits.MAX_ENERGY_PJ) = Field(
        default=0.0,
        description="energy per op of the rest of the accelerator's system (memories, host) "
        "beyond its published core figure; fitted to its own system-level measurement",
    )
    published: date | None = Field(
        default=None,
        description="when the work first appeared (YYYY-MM-DD): only work published before a "
        "claim can be a competitor in it",
    )
