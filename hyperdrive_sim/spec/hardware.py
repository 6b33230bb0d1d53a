"""The resolved hardware of one simulated point: chip + system + energy + mesh (+ area), in
cycles."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from hyperdrive_sim.spec.area import AreaTable
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, SystemSpec


@dataclass(frozen=True)
class Hardware:
    """Bandwidths are converted to bits per chip-clock cycle here, once."""

    chip: ChipSpec
    system: SystemSpec
    energy: EnergyTable
    mesh: Mesh
    #: silicon area per component; None leaves the area columns empty
    area: AreaTable | None = None

    @property
    def chips(self) -> int:
        return self.mesh.chips

    @property
    def frequency_hz(self) -> float:
        return self.chip.point.frequency_mhz * 1e6

    @property
    def voltage_v(self) -> float:
        return self.chip.point.voltage_v

    @cached_property
    def offchip_bits_per_cycle(self) -> float:
        return self.system.offchip_bandwidth_gbps * 1e9 / self.frequency_hz

    @cached_property
    def link_gbps(self) -> float:
        """Rate of one directed link: its own clock times its width (link_bandwidth_gbps,
        when given, wins)."""
        return link_gbps(self.system)

    @cached_property
    def link_bits_per_cycle(self) -> float:
        return self.link_gbps * 1e9 / self.frequency_hz

    @cached_property
    def offchip_burst_cycles(self) -> int:
        """Interface cycles of one full burst of an image tile or of results (at least 1)."""
        return max(1, int(self.system.offchip_burst_bits // self.offchip_bits_per_cycle))

    @cached_property
    def offchip_latency_cycles(self) -> int:
        return _cycles(self.system.offchip_latency_ns, self.chip.point.frequency_mhz)

    @cached_property
    def link_latency_cycles(self) -> int:
        return _cycles(self.system.link_latency_ns, self.chip.point.frequency_mhz)

    @property
    def peak_macs_per_cycle(self) -> int:
        """Binary MACs per cycle of the whole system: M * N * C per chip."""
        return self.chip.tiles * self.chip.fmpus_per_tile * self.chips


def link_gbps(system: SystemSpec) -> float:
    """Gbit/s of one directed link of ``system``."""
    if system.link_bandwidth_gbps is not None:
        return system.link_bandwidth_gbps
    return system.link_clock_mhz * system.link_width_bits / 1e3


def _cycles(ns: float, mhz: float) -> int:
    """Whole cycles covering ``ns`` at ``mhz``; rounding first keeps 100 ns at 300 MHz at 30
    (the float product is 30.000000000000004)."""
    return math.ceil(round(ns * mhz / 1000, 9))
