"""Dataflow options of the system spec: streamed border exchange, batches, frames back to back.

Expected values are derived by hand in the comments from the rules in docs/model.md
("Border exchange", "Batches and frames back to back"); both evaluators must give them.
"""

from __future__ import annotations

import numpy as np
import pytest

from hyperdrive_sim.evaluators import analytic, des
from hyperdrive_sim.mapping.plan import build_plan, streamed_halo_bits
from hyperdrive_sim.simulate import simulate
from hyperdrive_sim.spec.defaults import default_section
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import Mesh
from hyperdrive_sim.verify.run import verify
from hyperdrive_sim.workload.builder import NetBuilder

CHIP = default_section("chip")  # 7x7 Tile-PUs, 16 FMPUs, efficient point: 100 MHz
ENERGY = default_section("energy")
# 0.8 Gbit/s at 100 MHz = 8 bits per link cycle, 20 ns = 2 cycles; 12.8 Gbit/s off-chip =
# 128 bits per cycle
SYSTEM = default_section("system").model_copy(update={"link_bandwidth_gbps": 0.8})
EVALUATORS = {"analytic": analytic.evaluate, "simpy": des.evaluate}


def _two_convs():
    """16-channel image -> conv 3x3 pad 1 to 32 channels (2 weight blocks) -> conv 3x3 to 16."""
    b = NetBuilder("two_convs", input_channels=16)
    b.conv(32, 3, name="conv1")
    b.conv(16, 3, name="conv2")
    return b.build().at(14, 14)


def _plan(exchange: str, mesh: str = "1x2", **system):
    sys = SYSTEM.model_copy(update={"border_exchange": exchange, **system})
    return build_plan(_two_convs(), Hardware(CHIP, sys, ENERGY, Mesh.model_validate(mesh)))


def test_streamed_parts_split_the_halo_by_producer_phase() -> None:
    plan = _plan("streamed")
    conv1, conv2 = plan.layers
    # conv2 on chip 0 (west) needs column 7 of conv1's output: 14 pixels x 32 channels x 16 bits
    assert conv2.halo_bits.sum(axis=1).tolist() == [7168, 7168]
    parts = streamed_halo_bits(conv2, conv1)
    # conv1 computes 16 channels per phase, so each phase carries half: 14 x 16 x 16 = 3584
    assert parts.shape[0] == 2
    assert parts.sum(axis=(1, 2)).tolist() == [7168, 7168]  # 3584 to each chip per phase
    assert np.array_equal(parts.sum(axis=0), conv2.halo_bits)


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_streamed_halo_arrives_one_producer_phase_earlier(evaluator: str) -> None:
    # Off-chip, 128 bits per cycle, 10 cycles latency, first come first served: image tile 0
    # (14 x 8 pixels with its halo column x 16 channels x 16 bits = 28,672 bits) takes
    # cycles 0-224, conv1's block 0 (16 x 144 bits) 224-242, tile 1 242-466. So chip 0 starts
    # conv1 at 252 (its block) and chip 1 at 476 (its image).
    # conv1: 2 phases of ceil(14/7) * ceil(7/7) = 2 pixel steps x 16*9 taps = 288 cycles:
    # it ends at E0 = 252 + 576 = 828 on chip 0 and E1 = 476 + 576 = 1052 on chip 1.
    # conv2: 1 phase of 2 x 32*9 = 576 cycles; its border is 1 of 7 output columns,
    # ceil(576 * 14/98) = 83 cycles, so the interior ends at E + 493.
    # bulk: the 7168-bit halo leaves when the neighbour's conv1 ends: 896 cycles + 2 latency.
    #   chip 0 waits for E1 + 898 - (E0 + 493) = 629, chip 1 for E0 + 898 - (E1 + 493) = 181.
    # streamed: part 0 (3584 bits) leaves at E - 288 and is sent by E + 160; part 1 leaves at
    #   E and queues until E + 160: delivered at E + 610, 288 cycles earlier.
    #   chip 0 waits 629 - 288 = 341; chip 1's halo is there by E0 + 610 < E1 + 493: 0.
    # chip 0 is critical, so the frame is 288 cycles shorter.
    evaluate = EVALUATORS[evaluator]
    bulk, streamed = evaluate(_plan("bulk")), evaluate(_plan("streamed"))
    assert bulk.stall_io_cycles.tolist() == [234, 476]  # image arrivals, 10 cycles latency
    assert bulk.stall_border_cycles[1].tolist() == [629, 181]
    assert streamed.stall_border_cycles[1].tolist() == [341, 0]
    assert bulk.total_cycles - streamed.total_cycles == 288
    # the same bits cross the links either way
    assert bulk.c2c_border_bits.tolist() == streamed.c2c_border_bits.tolist() == [0, 2 * 7168]


def test_streamed_is_bulk_when_every_producer_has_one_phase() -> None:
    # a 16-channel producer computes all its channels in one phase: nothing to stream early
    b = NetBuilder("one_block", input_channels=16)
    b.conv(16, 3, name="conv1")
    b.conv(16, 3, name="conv2")
    net = b.build().at(14, 14)
    hw = {
        x: Hardware(
            CHIP, SYSTEM.model_copy(update={"border_exchange": x}), ENERGY, Mesh(rows=1, cols=2)
        )
        for x in ("bulk", "streamed")
    }
    for evaluate in EVALUATORS.values():
        a, b2 = (evaluate(build_plan(net, hw[x])) for x in ("bulk", "streamed"))
        assert a.total_cycles == b2.total_cycles
        assert a.stall_border_cycles.tolist() == b2.stall_border_cycles.tolist()


@pytest.mark.parametrize("routing", ["relay", "diagonal"])
def test_streamed_borders_verify_exactly(routing: str) -> None:
    # the numerical check sends each phase's channels as a message of its own and assembles
    # the parts at the receiver; a mis-assembly (break_halo="parts") must be caught
    ok = verify("resnet18", "64x64", mesh="2x2", corner_routing=routing, border_exchange="streamed")
    assert ok.ok and ok.border_exchange == "streamed"
    broken = verify("resnet18", "64x64", mesh="2x2", border_exchange="streamed", break_halo="parts")
    assert not broken.ok


def test_streamed_conserves_and_cuts_border_stall_on_resnet18() -> None:
    # a second method: the event model, with link contention, on a real network
    base = {"mesh": "4x4", "evaluator": "simpy"}
    bulk = simulate("resnet18", "224x224", system={"border_exchange": "bulk"}, **base)
    streamed = simulate("resnet18", "224x224", system={"border_exchange": "streamed"}, **base)
    assert bulk.row["c2c_border_bits"] == streamed.row["c2c_border_bits"]
    assert bulk.row["macs"] == streamed.row["macs"]
    assert streamed.row["stall_border_cycles"] < bulk.row["stall_border_cycles"]
    assert streamed.row["cycles"] <= bulk.row["cycles"]
