"""Every metric the golden files pin, derived by hand on small cases.

tests/golden/ pins today's output of the bundled experiments; the metrics it pins (fits,
cycles, total/core/off-chip/c2c energy, system TOp/s/W, off-chip and c2c bits,
utilization) are each checked here against a value worked out from the model's rules
(docs/model.md) and the preset tables, so none of them is pinned by the golden files alone.
Units: 100 MHz, 0.5 V (the energy table's reference voltage, so no voltage scaling), the
FMM at its reference size (no size scaling); pJ below are 1e-12 J.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from presets import PER_BIT_SRAM

from hyperdrive_sim.simulate import simulate
from hyperdrive_sim.workload.builder import NetBuilder

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
PJ = 1e-12
#: the per-bit SRAM rule (no memory table), so the hand derivation below stays in round
#: numbers; the memory table's prices are derived by hand in tests/test_memory_table.py


def _system(**over) -> dict:
    data = yaml.safe_load((CONFIGS / "systems/hyperdrive_mesh.yaml").read_text())
    data.pop("sources", None)
    data.pop("ranges", None)
    return data | {"frames": 1} | over  # one frame alone: the derivations follow one frame


def test_one_chip_metrics() -> None:
    # A 1x1 conv 64 -> 32 on one pixel, one chip, 0.8 Gbit/s off-chip (8 bits/cycle),
    # 100 ns (10 cycles): image 1,024 bits [0,128] -> 138; two blocks of 16 x 64 bits
    # [128,256] -> 266 and [256,384] -> 394; phases of 64 cycles end at 330 and 458; each
    # phase's 16 results (256 bits, 32 cycles) are read as it ends: [384,416] after block
    # 1, [458,490] -> 500 cycles.
    b = NetBuilder("one_conv", input_channels=64)
    b.conv(32, 1)
    r = simulate(
        b.build(), "1x1", mesh="1x1", energy=PER_BIT_SRAM, area={"sram_mm2_per_mbit": 0.2},
        system=_system(offchip_bandwidth_gbps=0.8, offchip_latency_ns=100),
    )  # fmt: skip
    row = r.row
    assert row["fits"] is True
    assert row["cycles"] == 500
    # MACs 32 * 64 = 2,048, each a binary MAC of 0.05 pJ
    core = 2048 * 0.05
    # FMM: 2 blocks read the 64 input words: 2 * 64 * 16 = 2,048 bits at 0.02 pJ; 32
    # outputs written, 512 bits at 0.025; weight buffer: 2,048 bits read (64 steps x 32
    # channels) and written at 0.01 each
    mem = 2048 * 0.02 + 512 * 0.025 + 2048 * 0.01 + 2048 * 0.01
    # off-chip: image 1,024 + weights 2,048 + result 512 = 3,584 bits at 21 pJ (19.56 of
    # memory and 1.44 for the one chip's drop)
    offchip = 3584 * 21.0
    # leakage: 0.116 mW + 6.4 Mbit * 0.06 mW/Mbit = 0.5 mW for 500 cycles = 5.00 us
    leakage = 0.5e-3 * 5.00e-6 / PJ
    assert row["offchip_bits"] == 3584
    assert row["c2c_bits"] == 0
    assert row["core_energy_j"] == pytest.approx(core * PJ, rel=1e-9)
    assert row["offchip_io_energy_j"] == pytest.approx(offchip * PJ, rel=1e-9)
    assert row["c2c_io_energy_j"] == 0
    total = (core + mem + offchip + leakage) * PJ
    assert row["total_energy_j"] == pytest.approx(total, rel=1e-9)
    # 2 Op per MAC: 4,096 Op per frame
    assert row["system_tops_per_w"] == pytest.approx(4096e-12 / total, rel=1e-9)
    # peak 7 * 7 Tile-PUs * 16 FMPUs = 784 MAC/cycle
    assert row["utilization"] == pytest.approx(2048 / (500 * 784), rel=1e-12)


def test_two_chip_metrics_with_border_exchange() -> None:
    # Two 3x3 convs 16 -> 16 on 4x4 over 1x2 chips, off-chip and links fast except the
    # links' 0.1 Gbit/s (1 bit/cycle, latency 0): the schedule of
    # tests/test_schedule_by_hand.py, finishing at 1,171 + 144 = 1,315 (the lock-step
    # array's single pass reads the halo, so conv2 waits whole) on chip 0 and 1,314 on chip
    # 1; each chip's one-cycle result read as it ends: 1,316 cycles. Each chip sends its
    # neighbour one column of 4 px x 16 ch x 16 bits = 1,024 bits: 2,048 link bits at 2.16 pJ
    # (a point-to-point wire: 1/4 x (2 + 2 + 2) pF x (1.2 V)^2).
    # Off-chip: images 2 * (8 px + 4 halo px) * 16 ch * 16 bits = 6,144; weights 2 * 16 *
    # 16 * 9 = 4,608; results 2 * 8 * 16 * 16 = 4,096: 14,848 bits. Each costs the memory's
    # 19.56 pJ plus 1.44 pJ per drop it charges: a weight bit on the bus both chips' (22.44),
    # an image or result bit its own chip's (21.0).
    b = NetBuilder("two_convs", input_channels=16)
    b.conv(16, 3)
    b.conv(16, 3)
    system = _system(
        link_bandwidth_gbps=0.1, link_latency_ns=0, offchip_bandwidth_gbps=1e6,
        offchip_latency_ns=0,
    )  # fmt: skip
    row = simulate(b.build(), "4x4", mesh="1x2", system=system).row
    assert row["fits"] is True
    assert row["cycles"] == 1316
    assert row["c2c_bits"] == 2048
    assert row["c2c_io_energy_j"] == pytest.approx(2048 * 2.16 * PJ, rel=1e-9)
    assert row["offchip_bits"] == 14_848
    offchip = 4_608 * 22.44 + (6_144 + 4_096) * 21.0
    assert row["offchip_io_energy_j"] == pytest.approx(offchip * PJ, rel=1e-9)
    # MACs: 2 layers * 16 px * 16 ch * 144 taps = 73,728 over 1,316 cycles of 2 chips
    assert row["utilization"] == pytest.approx(73_728 / (1316 * 2 * 784), rel=1e-12)


def test_a_point_that_does_not_fit_has_no_metrics() -> None:
    # 512 channels of 32x32 FP16 outputs (8.4 Mbit with the image) exceed the 6.4 Mbit FMM
    b = NetBuilder("wide", input_channels=3)
    b.conv(512, 3)
    row = simulate(b.build(), "32x32", mesh="1x1").row
    assert row["fits"] is False
    assert row["cycles"] is None and row["total_energy_j"] is None
