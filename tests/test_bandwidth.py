"""Every modelled bandwidth is respected, and every metric is finite and non-negative.

The off-chip interface carries the image tiles, the weight reads and the results; a mesh
link carries halos, forwarded weights and partial vectors. Both evaluators schedule each of
them as one channel moving ``bits_per_cycle`` at most, so over a frame
``bits / bits_per_cycle <= cycles``: utilisation at most 1 (up to float rounding). This was
broken by the analytic evaluator overlapping the image load with the weight stream on the
same interface (utilisation 1.016 for ResNet-18 at 64x64 on one chip at 1 Gbit/s).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperdrive_sim.errors import InputError
from hyperdrive_sim.evaluators import analytic
from hyperdrive_sim.simulate import simulate
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, SystemSpec

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CHIP = loader.validate(ChipSpec, loader.load(CONFIGS / "chips/hyperdrive.yaml"))
SYSTEM = loader.validate(SystemSpec, loader.load(CONFIGS / "systems/hyperdrive_mesh.yaml"))
ENERGY = loader.validate(EnergyTable, loader.load(CONFIGS / "energy/hyperdrive_22fdx.yaml"))
TINY = str(CONFIGS / "networks/tiny_residual.yaml")
EPS = 1e-9


def _run(net, res, mesh, evaluator, chip=CHIP, system=SYSTEM, energy=ENERGY):
    r = simulate(net, res, chip, system, energy, mesh=mesh, evaluator=evaluator)
    assert r.fits, r.plan.reason
    return r


def test_the_reported_case_no_longer_exceeds_the_interface() -> None:
    # ResNet-18 at 64x64 on one chip at 1 Gbit/s = 10 bits/cycle at 100 MHz: the frame
    # moves offchip_bits over the interface, so it lasts at least offchip_bits / 10 cycles
    # plus the latency of the first and last transfer (10 cycles each).
    system = SYSTEM.model_copy(update={"offchip_bandwidth_gbps": 1.0})
    for evaluator in ("analytic", "simpy"):
        row = _run("resnet18", "64x64", "1x1", evaluator, system=system).row
        assert row["cycles"] >= row["offchip_bits"] / 10 + 2 * 10, evaluator
        assert row["offchip_gbps"] <= 1.0 + EPS, evaluator
        assert row["offchip_utilization"] <= 1 + EPS, evaluator


def test_image_and_weights_take_turns_on_the_interface() -> None:
    # Two tiles of 3 and 5 cycles and three reads of 2, 4 and 1 cycles. Both requesters ask
    # at 0; the image loader goes first: tile 0 [0,3], read 0 [3,5], tile 1 [5,10] (asked
    # at 3), read 1 [10,14] (asked at 5), read 2 [14,15]. Busy 15 = 3+5+2+4+1: no overlap.
    tiles, reads, free = analytic.port_schedule([3, 5], [2, 4, 1])
    assert (tiles, reads, free) == ([3, 10], [5, 14, 15], 15)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(
    net=st.sampled_from([(TINY, "32x32"), ("resnet18", "64x64")]),
    mesh=st.sampled_from(["1x1", "1x2", "2x1", "2x2"]),
    offchip=st.sampled_from([0.1, 0.5, 1.0, 3.2, 12.8, 100.0]),
    link=st.sampled_from([0.01, 0.1, 1.6, 100.0]),
    distribution=st.sampled_from(["bus", "chain"]),
    routing=st.sampled_from(["relay", "diagonal"]),
)
def test_no_evaluator_exceeds_a_bandwidth(net, mesh, offchip, link, distribution, routing):
    system = SYSTEM.model_copy(
        update={
            "offchip_bandwidth_gbps": offchip,
            "link_bandwidth_gbps": link,
            "weight_distribution": distribution,
            "corner_routing": routing,
        }
    )
    for evaluator in ("analytic", "simpy"):
        row = _run(*net, mesh, evaluator, system=system).row
        assert row["offchip_utilization"] <= 1 + EPS, (evaluator, row["offchip_utilization"])
        assert row["link_utilization"] <= 1 + EPS, (evaluator, row["link_utilization"])


def _numeric(rows):
    for row in rows:
        for key, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                yield key, value


@pytest.mark.parametrize("evaluator", ["analytic", "simpy"])
@pytest.mark.parametrize(
    "chip_mhz, offchip_gbps, latency_ns",
    [(1e5, 1e-6, 1e9), (1e-3, 1e-6, 1e9), (1e5, 1e6, 0), (1e-3, 1e6, 1e9)],
)
def test_extreme_inputs_give_finite_non_negative_metrics(
    evaluator, chip_mhz, offchip_gbps, latency_ns
) -> None:
    # Built with model_copy, which skips validation: these are the extremes of the
    # documented ranges (or beyond them), not what a YAML file may say.
    point = CHIP.point.model_copy(update={"frequency_mhz": chip_mhz})
    chip = CHIP.model_copy(update={"operating_points": {CHIP.operating_point: point}})
    system = SYSTEM.model_copy(
        update={
            "offchip_bandwidth_gbps": offchip_gbps,
            "link_bandwidth_gbps": offchip_gbps,
            "offchip_latency_ns": latency_ns,
            "link_latency_ns": latency_ns,
            "weight_distribution": "chain",
        }
    )
    energy = ENERGY.model_copy(update={"offchip_pj_per_bit": 1e6, "c2c_pj_per_bit": 1e6})
    r = _run(TINY, "32x32", "2x2", evaluator, chip, system, energy)
    rows = [r.row, *r.chip_rows(), *r.layer_rows()]
    bad = [(k, v) for k, v in _numeric(rows) if not (math.isfinite(v) and v >= 0)]
    assert not bad
    # a frame is at least its off-chip bits at that bandwidth (an overflow would wrap it)
    seconds = r.row["offchip_bits"] / (offchip_gbps * 1e9)
    assert r.row["latency_s"] >= seconds * (1 - 1e-12)


def test_a_bandwidth_too_low_to_count_is_an_input_error_not_a_wrapped_number() -> None:
    # 1e-300 Gbit/s at 100 MHz: one bit takes 1e292 cycles, far beyond 64-bit counters.
    system = SYSTEM.model_copy(update={"offchip_bandwidth_gbps": 1e-300})
    for evaluator in ("analytic", "simpy"):
        with pytest.raises(InputError, match="cycles"):
            simulate(TINY, "32x32", CHIP, system, ENERGY, mesh="1x1", evaluator=evaluator)


def test_an_all_zero_energy_table_leaves_efficiency_undefined() -> None:
    # no joules at all: TOp/s/W is ops / 0, undefined (an empty cell), not a crash
    zero = ENERGY.model_copy(
        update={k: 0.0 for k, v in ENERGY.model_dump().items() if isinstance(v, float)}
        | {"reference_voltage_v": ENERGY.reference_voltage_v}
    )
    row = _run(TINY, "32x32", "1x1", "analytic", energy=zero).row
    assert row["total_energy_j"] == 0
    assert row["system_tops_per_w"] is None and row["core_tops_per_w"] is None
    assert row["tops"] > 0
