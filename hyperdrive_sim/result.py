"""Result of one simulated point: metrics, per-layer table, and re-pricing from counts."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np

from hyperdrive_sim.errors import SimulationError
from hyperdrive_sim.evaluators.counts import Counts
from hyperdrive_sim.mapping.costs import largest_block_bits
from hyperdrive_sim.mapping.plan import Plan
from hyperdrive_sim.pricing import PARTS, EnergyBreakdown, price, weight_buffer_bits
from hyperdrive_sim.pricing.area import AreaBreakdown, chip_area
from hyperdrive_sim.spec.area import AreaTable
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import EnergyTable

#: results.csv columns, in order (units in the names; see README "Result columns")
RESULT_COLUMNS = (
    "network", "input_h", "input_w", "mesh_rows", "mesh_cols", "chips", "evaluator",
    "accelerator",
    "operating_point", "voltage_v", "frequency_mhz",
    "cycles", "latency_s", "fps", "ops", "macs", "macs_skipped", "xnor_macs",
    "core_energy_j", "onchip_mem_energy_j", "offchip_io_energy_j", "c2c_io_energy_j",
    "leakage_energy_j", "total_energy_j", "offchip_weight_energy_j", "image_io_energy_j",
    "core_tops_per_w", "system_tops_per_w", "tops",
    "offchip_bits", "weight_bits", "image_bits", "result_bits", "c2c_bits",
    "c2c_border_bits", "c2c_weight_bits", "c2c_reduce_bits", "c2c_gather_bits",
    "offchip_gbps", "offchip_utilization", "link_utilization", "utilization",
    "stall_weight_cycles", "stall_border_cycles",
    "stall_io_cycles", "critical_chip", "fmm_peak_bits", "fmm_capacity_bits",
    "core_area_mm2", "chip_area_mm2", "silicon_area_mm2", "pad_limited", "fits", "reason",
    "status", "point_id",
)  # fmt: skip

CHIP_COLUMNS = (
    "point_id", "network", "input_h", "input_w", "mesh_rows", "mesh_cols", "evaluator",
    "accelerator", "chip", "chip_row", "chip_col", "busy_cycles", "stall_weight_cycles",
    "stall_border_cycles", "stall_io_cycles", "idle_cycles", "finish_cycles", "macs",
)  # fmt: skip

LAYER_COLUMNS = (
    "point_id", "network", "input_h", "input_w", "mesh_rows", "mesh_cols", "evaluator",
    "accelerator",
    "layer", "type", "placement", "in_shape", "out_shape", "ops", "macs", "macs_skipped",
    "xnor_macs", "weight_bits",
    "offchip_bits",
    "cycles", "max_chip_cycles", "utilization", "border_bits", "gather_bits",
    "stall_weight_cycles",
    "stall_border_cycles", "fmm_need_bits", "fmm_capacity_bits", "halo_need_bits",
    *(f"{part}_energy_j" for part in PARTS), "total_energy_j",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class Result:
    """One (network, resolution, hardware) point. ``counts`` is None when it does not fit."""

    plan: Plan
    counts: Counts | None
    energy: EnergyBreakdown | None

    @property
    def hw(self) -> Hardware:
        return self.plan.hw

    @property
    def fits(self) -> bool:
        return self.plan.fits

    @property
    def ops(self) -> int:
        """Operations per frame: 2 per MAC (one binary MAC = 2 Op)."""
        return 2 * self.plan.network.macs

    @cached_property
    def area(self) -> AreaBreakdown | None:
        """Silicon area of one chip and of the system; None without an area table."""
        hw = self.hw
        if hw.area is None:
            return None
        block = largest_block_bits(self.plan.network.infos, hw.chip)
        return chip_area(hw.chip, hw.system, hw.mesh, hw.area, block, hw.energy)

    def reprice(self, table: EnergyTable, area: AreaTable | None = None) -> Result:
        """The same counts priced with another energy (and area) table: no re-simulation."""
        if self.counts is None:
            return self
        hw = replace(self.hw, energy=table, area=area or self.hw.area)
        plan = replace(self.plan, hw=hw)
        return Result(plan, self.counts, price(self.counts, hw, weight_buffer_bits(plan)))

    def _keys(self) -> dict[str, Any]:
        net, hw = self.plan.network, self.hw
        return {
            "network": net.name,
            "input_h": net.input_shape.height,
            "input_w": net.input_shape.width,
            "mesh_rows": hw.mesh.rows,
            "mesh_cols": hw.mesh.cols,
            "accelerator": hw.chip.name,
        }

    @cached_property
    def row(self) -> dict[str, Any]:
        """The results.csv row; metric cells are None when the point does not fit."""
        hw, c = self.hw, self.counts
        row: dict[str, Any] = dict.fromkeys(RESULT_COLUMNS)
        row.update(self._keys())
        row.update(
            chips=hw.chips,
            evaluator=c.evaluator if c else None,
            operating_point=hw.chip.operating_point,
            voltage_v=hw.voltage_v,
            frequency_mhz=hw.chip.point.frequency_mhz,
            ops=self.ops,
            macs=self.plan.network.macs,
            fmm_capacity_bits=hw.chip.fmm_bits,
            fits=self.fits,
            reason=self.plan.reason,
            status="ok" if self.fits else "infeasible",
        )
        if self.plan.layers:
            row["fmm_peak_bits"] = int(max(lp.fmm_need_bits.max() for lp in self.plan.layers))
        if (area := self.area) is not None:
            row.update(
                core_area_mm2=area.core_mm2,
                chip_area_mm2=area.chip_mm2,
                silicon_area_mm2=area.silicon_mm2,
                pad_limited=area.pad_limited,
            )
        if c is None or self.energy is None:
            return row
        totals = self.energy.totals  # per frame
        latency = c.total_cycles / hw.frequency_hz
        # steady state: frames_per_pass frames leave every interval (one frame alone:
        # the interval is its latency)
        frame_s = c.interval_cycles / hw.frequency_hz / c.frames_per_pass
        total_j = sum(totals.values())
        links = directed_links(hw)

        def per_frame(value) -> int | float:
            """A count of the pass, per frame (exact when the batch divides it)."""
            q, r = divmod(int(value), c.frames_per_pass)
            return q if not r else int(value) / c.frames_per_pass

        row.update(
            cycles=c.total_cycles,
            latency_s=latency,
            fps=_ratio(1.0, frame_s),
            **{f"{part}_energy_j": totals[part] for part in PARTS},
            total_energy_j=total_j,
            offchip_weight_energy_j=float(self.energy.per_layer["offchip_io"].sum()),
            image_io_energy_j=self.energy.frame_offchip_j,
            core_tops_per_w=_ratio(self.ops * 1e-12, totals["core"]),
            system_tops_per_w=_ratio(self.ops * 1e-12, total_j),
            tops=_ratio(self.ops * 1e-12, frame_s),
            offchip_bits=per_frame(c.offchip_bits),
            weight_bits=per_frame(c.offchip_weight_bits.sum()),
            image_bits=per_frame(c.image_in_bits.sum()),
            result_bits=per_frame(c.result_out_bits.sum()),
            c2c_bits=per_frame(c.c2c_bits),
            macs_skipped=per_frame(c.skipped_macs.sum()),
            xnor_macs=per_frame(c.xnor_macs.sum()),
            c2c_border_bits=per_frame(c.c2c_border_bits.sum()),
            c2c_weight_bits=per_frame(c.c2c_weight_bits.sum()),
            c2c_reduce_bits=per_frame(c.c2c_reduce_bits.sum()),
            c2c_gather_bits=per_frame(c.c2c_gather_bits.sum()),
            offchip_gbps=_ratio(c.offchip_bits * 1e-9 / c.frames_per_pass, frame_s),
            offchip_utilization=_ratio(
                c.offchip_bits / hw.offchip_bits_per_cycle, c.interval_cycles
            ),
            link_utilization=_ratio(c.c2c_bits / hw.link_bits_per_cycle, c.interval_cycles * links)
            if links
            else 0.0,
            utilization=_ratio(self.plan.macs, c.interval_cycles * hw.peak_macs_per_cycle),
            stall_weight_cycles=int(c.stall_weight_cycles.sum()),
            stall_border_cycles=int(c.stall_border_cycles.sum()),
            stall_io_cycles=int(c.stall_io_cycles.sum()),
            critical_chip=int(np.argmax(c.finish_cycles)),
        )
        check_metrics(row, "results")
        return row

    def chip_rows(self) -> list[dict[str, Any]]:
        """One row per chip: where its time went (empty when the point does not fit)."""
        c = self.counts
        if c is None:
            return []
        keys = {**self._keys(), "evaluator": c.evaluator}
        busy = c.busy_cycles.sum(axis=0)
        weight = c.stall_weight_cycles.sum(axis=0)
        border = c.stall_border_cycles.sum(axis=0)
        rows = []
        for chip in range(self.hw.chips):
            stalls = int(weight[chip] + border[chip] + c.stall_io_cycles[chip])
            rows.append(
                {
                    **keys,
                    "chip": chip,
                    "chip_row": chip // self.hw.mesh.cols,
                    "chip_col": chip % self.hw.mesh.cols,
                    "busy_cycles": int(busy[chip]),
                    "stall_weight_cycles": int(weight[chip]),
                    "stall_border_cycles": int(border[chip]),
                    "stall_io_cycles": int(c.stall_io_cycles[chip]),
                    "idle_cycles": c.total_cycles - int(busy[chip]) - stalls,
                    "finish_cycles": int(c.finish_cycles[chip]),
                    "macs": int(c.macs[:, chip].sum()),
                }
            )
            check_metrics(rows[-1], f"chip {chip}")
        return rows

    def layer_rows(self) -> list[dict[str, Any]]:
        """One row per layer; timing and energy cells are None when the point does not fit."""
        hw, c, e = self.hw, self.counts, self.energy
        keys = {**self._keys(), "evaluator": c.evaluator if c else None}
        rows = []
        for i, lp in enumerate(self.plan.layers):
            info = lp.info
            row: dict[str, Any] = dict.fromkeys(LAYER_COLUMNS)
            row.update(keys)
            row.update(
                layer=lp.name,
                type=info.layer.kind,
                placement=lp.placement,
                in_shape=" + ".join(map(str, info.in_shapes)),
                out_shape=str(info.out_shape),
                ops=2 * info.macs,
                macs=info.macs,
                weight_bits=lp.weight_bits,
                max_chip_cycles=int(lp.work.cycles.max()),
                fmm_need_bits=int(lp.fmm_need_bits.max()),
                fmm_capacity_bits=hw.chip.fmm_bits,
                halo_need_bits=int(lp.halo_need_bits.max()),
            )
            if c is not None and e is not None:
                cycles = int(c.layer_cycles[i])
                parts = {f"{p}_energy_j": float(e.per_layer[p][i]) for p in PARTS}
                row.update(
                    cycles=cycles,
                    utilization=_ratio(info.macs, cycles * hw.peak_macs_per_cycle),
                    border_bits=int(c.c2c_border_bits[i]),
                    gather_bits=int(c.c2c_gather_bits[i]),
                    macs_skipped=int(c.skipped_macs[i].sum()),
                    xnor_macs=int(c.xnor_macs[i].sum()),
                    offchip_bits=int(c.offchip_weight_bits[i]),
                    stall_weight_cycles=int(c.stall_weight_cycles[i].sum()),
                    stall_border_cycles=int(c.stall_border_cycles[i].sum()),
                    **parts,
                    total_energy_j=sum(parts.values()),
                )
            check_metrics(row, f"layer {lp.name!r}")
            rows.append(row)
        return rows


def _ratio(num: float, den: float) -> float | None:
    """``num / den``, or None (an empty cell) when the ratio is undefined (``den == 0``)."""
    return num / den if den else None


def check_metrics(row: dict[str, Any], where: str) -> None:
    """Every number of a result row must be finite and non-negative.

    Inputs within the documented limits never break this; if one does, it is a bug of the
    simulator (an overflow or a wrong sign), reported as such instead of written as data.
    """
    for key, value in row.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            continue
        if not (math.isfinite(value) and value >= 0):
            raise SimulationError(
                f"{where}: column {key!r} is {value!r}; every metric must be finite and >= 0"
            )


def directed_links(hw: Hardware) -> int:
    """Directed chip-to-chip links of the mesh (diagonals too under diagonal routing)."""
    r, c = hw.mesh.rows, hw.mesh.cols
    links = 2 * (r * (c - 1) + c * (r - 1))
    if hw.system.corner_routing == "diagonal":
        links += 4 * (r - 1) * (c - 1)
    return links
