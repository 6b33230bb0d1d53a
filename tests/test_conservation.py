"""Conservation laws of the analytic evaluator on the bundled presets.

Each point is simulated with ``hyperdrive_sim.simulate.simulate`` on the preset chip,
system and energy table, on ResNet-18 at 224x224 and the bundled tiny_residual network,
over 2x2, 3x2 and 4x4 meshes. The expected sides are computed independently of the
evaluator: from the network's own MAC and weight counts, from the halo geometry, or from
the energy table.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

import numpy as np
import pytest

import hyperdrive_sim.evaluators as evaluators_pkg
from hyperdrive_sim.evaluators import analytic
from hyperdrive_sim.mapping.routes import halo_transfers, link_loads
from hyperdrive_sim.mapping.tiling import split
from hyperdrive_sim.pricing import PARTS, weight_buffer_bits
from hyperdrive_sim.pricing.energy import sram_prices
from hyperdrive_sim.pricing.io import link_pj_per_bit
from hyperdrive_sim.result import Result
from hyperdrive_sim.simulate import simulate
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, SystemSpec

#: the module (the package attribute of the same name is the simulate function)
simulate_mod = importlib.import_module("hyperdrive_sim.simulate")

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CHIP = loader.validate(ChipSpec, loader.load(CONFIGS / "chips/hyperdrive.yaml"))
SYSTEM = loader.validate(SystemSpec, loader.load(CONFIGS / "systems/hyperdrive_mesh.yaml"))
ENERGY = loader.validate(EnergyTable, loader.load(CONFIGS / "energy/hyperdrive_22fdx.yaml"))

NETWORKS = {
    "resnet18": ("resnet18", "224x224"),
    # 60 wide x 44 high: the stride-2 stem gives 30x22 (WxH) and "down" 15x11, so the
    # meshes split unevenly (e.g. 44 rows over 3 -> 15,15,14; 11 rows over 4 -> 3,3,3,2)
    "tiny_residual": (str(CONFIGS / "networks/tiny_residual.yaml"), "60x44"),
}
MESHES = ("2x2", "3x2", "4x4")
POINTS = [(net, mesh) for net in NETWORKS for mesh in MESHES]


@cache
def run(net: str, mesh: str, distribution: str = "bus", routing: str = "relay") -> Result:
    system = SYSTEM.model_copy(
        update={"weight_distribution": distribution, "corner_routing": routing}
    )
    network, resolution = NETWORKS[net]
    result = simulate(network, resolution, CHIP, system, ENERGY, mesh=mesh)
    assert result.fits, result.plan.reason
    return result


def test_presets_are_what_the_expectations_assume() -> None:
    assert (SYSTEM.weight_distribution, SYSTEM.corner_routing) == ("bus", "relay")
    assert CHIP.activation_bits == 16 and CHIP.weight_bits == 1
    # energies are given at the operating point's voltage: no voltage scaling below
    assert CHIP.point.voltage_v == ENERGY.reference_voltage_v


# ------------------------------------------------------------------------------------------
# Ops


@pytest.mark.parametrize(("net", "mesh"), POINTS)
def test_per_chip_macs_sum_to_network_macs(net: str, mesh: str) -> None:
    r = run(net, mesh)
    shaped = r.plan.network
    # whole frame: sum over layers and chips == ShapedNetwork.macs (checked against
    # published figures in test_zoo.py)
    assert int(r.counts.macs.sum()) == shaped.macs
    # and layer by layer
    for i, lp in enumerate(r.plan.layers):
        assert int(r.counts.macs[i].sum()) == lp.info.macs, lp.name
    assert r.row["macs"] == shaped.macs
    assert r.row["ops"] == 2 * shaped.macs  # 1 binary MAC = 2 Op


# ------------------------------------------------------------------------------------------
# Border (halo) bits


def _geometric_halo(lp, mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """(sent, received) halo bits per chip from rectangles, without mapping.tiling.halo.

    Chip c needs the input rectangle given by the layer's window over its output share; it
    receives the part of it owned by other chips, and each owner sends that overlap.
    """
    layer, (inp,), out = lp.info.layer, lp.info.in_shapes, lp.info.out_shape
    orow, ocol = split(out.height, mesh.rows), split(out.width, mesh.cols)
    irow, icol = split(inp.height, mesh.rows), split(inp.width, mesh.cols)
    sent = np.zeros(mesh.chips, dtype=np.int64)
    received = np.zeros(mesh.chips, dtype=np.int64)
    per_pixel = inp.channels * CHIP.activation_bits
    for c in range(mesh.chips):
        r, k = divmod(c, mesh.cols)
        rlo, rhi = (int(v) for v in layer.input_rows(int(orow[r]), int(orow[r + 1]), inp.height))
        clo, chi = (int(v) for v in layer.input_cols(int(ocol[k]), int(ocol[k + 1]), inp.width))
        for s in range(mesh.chips):
            if s == c:
                continue
            sr, sk = divmod(s, mesh.cols)
            rows = max(0, min(rhi, int(irow[sr + 1])) - max(rlo, int(irow[sr])))
            cols = max(0, min(chi, int(icol[sk + 1])) - max(clo, int(icol[sk])))
            sent[s] += rows * cols * per_pixel
            received[c] += rows * cols * per_pixel
    return sent, received


@pytest.mark.parametrize(("net", "mesh"), POINTS)
@pytest.mark.parametrize("routing", ["relay", "diagonal"])
def test_halo_bits_sent_equal_bits_received(net: str, mesh: str, routing: str) -> None:
    r = run(net, mesh, routing=routing)
    m = r.hw.mesh
    checked = 0
    for lp in r.plan.layers:
        if lp.placement != "tiled" or lp.info.layer.arity != 1:
            continue
        received = lp.halo_bits.sum(axis=1)
        transfers = halo_transfers(lp.halo_bits, m, routing)
        sent = np.zeros(m.chips, dtype=np.int64)
        got = np.zeros(m.chips, dtype=np.int64)
        for t in transfers:
            sent[t.src] += t.bits
            got[t.dst] += t.bits
        # senders' side == receivers' side, in total and per receiver
        assert int(sent.sum()) == int(received.sum()), lp.name
        assert got.tolist() == received.tolist(), lp.name
        # and both match the rectangle geometry chip by chip
        geo_sent, geo_received = _geometric_halo(lp, m)
        assert sent.tolist() == geo_sent.tolist(), lp.name
        assert received.tolist() == geo_received.tolist(), lp.name
        checked += lp.halo_bits.any()
    assert checked > 0  # the networks do have 3x3 convs with halos


@pytest.mark.parametrize(("net", "mesh"), POINTS)
@pytest.mark.parametrize(("routing", "corner_hops"), [("relay", 2), ("diagonal", 1)])
def test_c2c_border_bits_count_link_hops(
    net: str, mesh: str, routing: str, corner_hops: int
) -> None:
    r = run(net, mesh, routing=routing)
    for i, lp in enumerate(r.plan.layers):
        edge = int(lp.halo_bits[:, :4].sum())  # N, S, W, E
        corner = int(lp.halo_bits[:, 4:].sum())  # NW, NE, SW, SE
        # the first layer's halo comes with the image from off-chip, not over links
        expected = 0 if lp.halo_offchip else edge + corner_hops * corner
        assert int(r.counts.c2c_border_bits[i]) == expected, lp.name
        if not lp.halo_offchip:
            loads = link_loads(halo_transfers(lp.halo_bits, r.hw.mesh, routing))
            assert sum(loads.values()) == expected, lp.name
    assert r.row["c2c_border_bits"] == int(r.counts.c2c_border_bits.sum())


# ------------------------------------------------------------------------------------------
# Energy


@pytest.mark.parametrize(("net", "mesh"), POINTS)
def test_energy_parts_sum_to_total_and_follow_the_table(net: str, mesh: str) -> None:
    r = run(net, mesh)
    row, c, t = r.row, r.counts, ENERGY
    parts = {p: row[f"{p}_energy_j"] for p in PARTS}
    assert sum(parts.values()) == pytest.approx(row["total_energy_j"], rel=1e-12)
    pj = 1e-12
    # V = V_ref, so no voltage scaling of the core: each part is count x energy per action;
    # the SRAMs' energies per bit come from the memory table for this chip (at its voltage)
    m = sram_prices(r.hw, weight_buffer_bits(r.plan))
    assert parts["core"] == pytest.approx(
        (c.macs.sum() * t.binary_mac_pj + c.fp16_adds.sum() * t.fp16_add_pj) * pj, rel=1e-12
    )
    assert parts["onchip_mem"] == pytest.approx(
        (
            c.fmm_read_bits.sum() * m.fmm_read_pj_per_bit
            + c.fmm_write_bits.sum() * m.fmm_write_pj_per_bit
            + c.wbuf_read_bits.sum() * m.wbuf_read_pj_per_bit
            + c.wbuf_write_bits.sum() * m.wbuf_write_pj_per_bit
        )
        * pj,
        rel=1e-12,
    )
    # off-chip: weights + image + results, each bit once; a weight bit on the bus charges
    # every chip's drop, an image or result bit its own chip's: one drop is
    # 0.25 x (2 pF pad + 2 pF trace) x (1.2 V)^2 = 1.44 pJ (the preset's wire keys, by hand)
    drop = 1.44
    addressed_bits = c.image_in_bits.sum() + c.result_out_bits.sum()
    expected = c.offchip_weight_bits.sum() * (t.offchip_pj_per_bit + r.hw.chips * drop)
    expected += addressed_bits * (t.offchip_pj_per_bit + drop)
    assert parts["offchip_io"] == pytest.approx(expected * pj, rel=1e-12)
    # a link hop: two pads and one trace, 0.25 x (2 x 2 + 2) pF x 1.44 V^2 = 2.16 pJ/bit
    c2c_bits = c.c2c_border_bits.sum() + c.c2c_weight_bits.sum() + c.c2c_reduce_bits.sum()
    assert parts["c2c_io"] == pytest.approx(c2c_bits * 2.16 * pj, rel=1e-12)
    # leakage: every chip leaks for one steady-state frame interval (frames back to back),
    # its logic and each SRAM bit (the FMM)
    seconds = c.frame_interval_cycles / r.hw.frequency_hz
    assert 0 < c.frame_interval_cycles <= c.total_cycles
    leak_w = (t.logic_leakage_mw_per_chip + m.sram_leakage_mw) * 1e-3
    leak_w *= r.hw.chips
    assert parts["leakage"] == pytest.approx(leak_w * seconds, rel=1e-12)


@pytest.mark.parametrize(("net", "mesh"), POINTS)
def test_reprice_doubles_only_offchip_energy_without_evaluating(
    net: str, mesh: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = run(net, mesh)

    def forbidden(*args, **kwargs):
        raise AssertionError("re-pricing must not plan or evaluate again")

    monkeypatch.setattr(analytic, "evaluate", forbidden)
    monkeypatch.setattr(evaluators_pkg, "evaluate", forbidden)
    monkeypatch.setattr(simulate_mod, "evaluate", forbidden)
    monkeypatch.setattr(simulate_mod, "build_plan", forbidden)
    monkeypatch.setitem(evaluators_pkg.EVALUATORS, "analytic", forbidden)

    # the memory's energy and the wires' (their activity) doubled, the links' kept as they are
    doubled = ENERGY.model_copy(
        update={
            "offchip_pj_per_bit": 2 * ENERGY.offchip_pj_per_bit,
            "io_activity": 2 * ENERGY.io_activity,
            "c2c_pj_per_bit": link_pj_per_bit(ENERGY),
        }
    )
    r2 = r.reprice(doubled)
    assert r2.counts is r.counts
    old, new = r.row, r2.row
    assert new["offchip_io_energy_j"] == pytest.approx(2 * old["offchip_io_energy_j"], rel=1e-12)
    for part in PARTS:
        if part != "offchip_io":
            assert new[f"{part}_energy_j"] == old[f"{part}_energy_j"], part
    assert new["total_energy_j"] == pytest.approx(
        old["total_energy_j"] + old["offchip_io_energy_j"], rel=1e-12
    )
    assert new["cycles"] == old["cycles"]


# ------------------------------------------------------------------------------------------
# Weights


@pytest.mark.parametrize(("net", "mesh"), POINTS)
def test_bus_reads_each_weight_from_offchip_once(net: str, mesh: str) -> None:
    r = run(net, mesh, distribution="bus")
    shaped = r.plan.network
    # every weight is one bit and is read once, whatever the number of chips
    assert int(r.counts.offchip_weight_bits.sum()) == shaped.weights * CHIP.weight_bits
    for i, lp in enumerate(r.plan.layers):
        assert int(r.counts.offchip_weight_bits[i]) == lp.info.weights * CHIP.weight_bits
    # a bus broadcast forwards nothing chip to chip
    assert int(r.counts.c2c_weight_bits.sum()) == 0


@pytest.mark.parametrize(("net", "mesh"), POINTS)
def test_chain_forwards_each_block_over_chips_minus_one_links(net: str, mesh: str) -> None:
    r = run(net, mesh, distribution="chain")
    chips = r.hw.chips
    assert int(r.counts.offchip_weight_bits.sum()) == r.plan.network.weights
    for i, lp in enumerate(r.plan.layers):
        bits = lp.info.weights * CHIP.weight_bits
        if lp.placement == "tiled":
            # every chip holds a share of the map and needs every block: the snake path
            # from the root crosses chips - 1 links
            assert int(r.counts.c2c_weight_bits[i]) == bits * (chips - 1), lp.name
        else:
            # the classifier runs on the root chip, where the chain starts
            assert int(r.counts.c2c_weight_bits[i]) == 0, lp.name


# ------------------------------------------------------------------------------------------
# Image, results and the final reduction


@pytest.mark.parametrize("mesh", [*MESHES, "1x1"])
def test_resnet18_image_in_and_result_out(mesh: str) -> None:
    if mesh == "1x1":
        # one chip cannot hold ResNet-18's 224x224 maps; use the counts of a fitting 64x64
        # frame: 3 x 64 x 64 x 16 = 196,608 bits, no halo on a single chip
        r = simulate("resnet18", "64x64", CHIP, SYSTEM, ENERGY, mesh=mesh)
        assert r.fits, r.plan.reason
        assert int(r.counts.image_in_bits.sum()) == 3 * 64 * 64 * 16
    else:
        r = run("resnet18", mesh)
        image = 3 * 224 * 224 * 16  # 2,408,448 bits
        halo = sum(int(lp.halo_bits.sum()) for lp in r.plan.layers if lp.halo_offchip)
        assert int(r.counts.image_in_bits.sum()) >= image
        # exactly: every chip's share of the image plus conv1's halo, loaded from off-chip
        assert int(r.counts.image_in_bits.sum()) == image + halo
        assert halo > 0  # conv1 is 7x7: chips do need pixels beyond their share
    # fc: 1000 FP16 logits, on the root chip only
    assert r.counts.result_out_bits.tolist() == [1000 * 16] + [0] * (r.hw.chips - 1)


@pytest.mark.parametrize(("net", "mesh"), POINTS)
def test_global_pool_reduction_sends_one_vector_per_non_root_chip(net: str, mesh: str) -> None:
    r = run(net, mesh)
    for i, lp in enumerate(r.plan.layers):
        if lp.info.layer.kind == "global_pool":
            # resnet18: 512 channels; tiny_residual: 64; each vector is channels x 16 bits
            vector = lp.info.out_shape.channels * 16
            assert int(r.counts.c2c_reduce_bits[i]) == (r.hw.chips - 1) * vector
        else:
            assert int(r.counts.c2c_reduce_bits[i]) == 0, lp.name
