"""Counts: what happened in one evaluated frame, in actions and cycles, never in joules."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields

import numpy as np

from hyperdrive_sim.mapping.costs import COUNT_FIELDS
from hyperdrive_sim.mapping.plan import Plan

#: [layer, chip] arrays
PER_LAYER_CHIP = (
    *COUNT_FIELDS,
    "cache_read_bits",
    "busy_cycles",
    "stall_weight_cycles",
    "stall_border_cycles",
)
#: [layer] arrays
PER_LAYER = (
    "layer_end",
    "layer_cycles",
    "offchip_weight_bits",
    "c2c_border_bits",
    "c2c_weight_bits",
    "c2c_reduce_bits",
    "c2c_gather_bits",
)
#: [chip] arrays
PER_CHIP = ("image_in_bits", "result_out_bits", "stall_io_cycles", "finish_cycles")


@dataclass(frozen=True, eq=False)
class Counts:
    """Action counts of one frame. c2c bits are link-hop bits (a relayed bit counts twice)."""

    evaluator: str
    layer_names: tuple[str, ...]
    total_cycles: int
    macs: np.ndarray
    xnor_macs: np.ndarray
    skipped_macs: np.ndarray
    fp16_adds: np.ndarray
    fp16_muls: np.ndarray
    fmm_read_bits: np.ndarray
    fmm_write_bits: np.ndarray
    wbuf_read_bits: np.ndarray
    wbuf_write_bits: np.ndarray
    cache_read_bits: np.ndarray
    busy_cycles: np.ndarray
    stall_weight_cycles: np.ndarray
    stall_border_cycles: np.ndarray
    layer_end: np.ndarray
    layer_cycles: np.ndarray
    offchip_weight_bits: np.ndarray
    c2c_border_bits: np.ndarray
    c2c_weight_bits: np.ndarray
    c2c_reduce_bits: np.ndarray
    #: feature maps moved to change partitioning (all-gathers, channel slices to the root)
    c2c_gather_bits: np.ndarray
    image_in_bits: np.ndarray
    result_out_bits: np.ndarray
    stall_io_cycles: np.ndarray
    finish_cycles: np.ndarray
    #: steady-state cycles between two frames' results; 0: one frame alone (total_cycles)
    frame_interval_cycles: int = 0
    #: frames the counts cover (a batch applies each weight block to this many frames)
    frames_per_pass: int = 1

    @property
    def interval_cycles(self) -> int:
        """Cycles per frame in steady state: what sets fps and the leakage per frame."""
        return self.frame_interval_cycles or self.total_cycles

    @property
    def chips(self) -> int:
        return self.macs.shape[1]

    @property
    def offchip_bits(self) -> int:
        return int(
            self.offchip_weight_bits.sum() + self.image_in_bits.sum() + self.result_out_bits.sum()
        )

    @property
    def c2c_bits(self) -> int:
        return int(
            self.c2c_border_bits.sum()
            + self.c2c_weight_bits.sum()
            + self.c2c_reduce_bits.sum()
            + self.c2c_gather_bits.sum()
        )

    def to_dict(self) -> dict:
        """Plain lists, for JSON; ``from_dict`` restores an equal object."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.tolist() if isinstance(value, np.ndarray) else value
        out["layer_names"] = list(self.layer_names)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Counts:
        kwargs = {}
        for f in fields(cls):
            if f.name not in data and f.default is not MISSING:
                continue
            if f.name == "c2c_gather_bits" and f.name not in data:  # written before it existed
                data = {**data, f.name: [0] * len(data["layer_names"])}
            value = data[f.name]
            if f.name in PER_LAYER_CHIP or f.name in PER_LAYER or f.name in PER_CHIP:
                value = np.asarray(value, dtype=np.int64)
            kwargs[f.name] = tuple(value) if f.name == "layer_names" else value
        return cls(**kwargs)


def plan_counts(plan: Plan) -> dict[str, np.ndarray]:
    """The [layer, chip] action counts fixed by the plan, identical for every evaluator.

    Halo pixels received from neighbours are written to the FMM, so they count as writes;
    blocks served by the weight cache are read from it by every chip that needs them.
    """
    counts = {
        name: np.stack([getattr(lp.work, name) for lp in plan.layers]).astype(np.int64)
        for name in COUNT_FIELDS
    }
    counts["fmm_write_bits"] += np.stack(
        [lp.halo_bits.sum(axis=1) * (not lp.halo_offchip) for lp in plan.layers]
    )
    counts["cache_read_bits"] = np.stack(
        [
            (lp.work.wbuf_write_bits > 0) * int(lp.work.blocks[lp.cached_blocks].sum())
            for lp in plan.layers
        ]
    ).astype(np.int64)
    return counts
