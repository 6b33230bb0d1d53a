"""Numerical verification of channel and hybrid partitioning (docs/verify.md).

Each chip holds the output channels it owns over the whole map; before a channel layer the
plan's move (``LayerPlan.gather``) is carried out leg by leg over the links and the receiver
assembles what it reads. Every layer is compared with the monolithic numpy reference.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_verify import networks, verified_exactly

from hyperdrive_sim.errors import InputError
from hyperdrive_sim.mapping.tiling import Tiling
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.simulate import resolve_network
from hyperdrive_sim.spec.models import Mesh
from hyperdrive_sim.verify import VerifyGeometryError, verify
from hyperdrive_sim.verify.run import _hardware
from hyperdrive_sim.workload.builder import NetBuilder
from hyperdrive_sim.workload.network import Network

ACT_BITS = 16  # activation_bits of the bundled hyperdrive chip preset (FP16 maps)
C = 16  # fmpus_per_tile of the bundled preset: channels per weight block


def _plan(net, res: str, mesh: str, partitioning: str):
    hw = _hardware(None, None, None, None, mesh, None, None, partitioning)
    width, height = (int(v) for v in res.split("x"))
    return build_plan(resolve_network(net).at(height, width), hw)


def _hops(a: int, b: int, cols: int) -> int:
    """Row-then-column route length between two chips (the unicast legs' path)."""
    (ra, ca), (rb, cb) = divmod(a, cols), divmod(b, cols)
    return abs(ra - rb) + abs(ca - cb)


def _check_moves(report, plan, chips: int, cols: int) -> None:
    """Link bits per layer: what verify moved == the plan's legs == a hand count."""
    by_name = {c.name: c for c in report.layers}
    moved = 0
    for lp in plan.layers:
        check = by_name[lp.name]
        if lp.gather is None:
            if lp.placement == "channel":
                assert check.link_bits == 0, lp.name
            continue
        moved += 1
        # second method: the plan's own count, each leg's bits times its links
        assert check.link_bits == lp.gather.link_bits, lp.name
        src = lp.info.in_shapes[0]
        if lp.gather.kind == "multicast":
            # by hand: the shares partition the input tensor, and each share crosses every
            # link of a spanning tree of the mesh (chips - 1 links) exactly once
            assert check.link_bits == (chips - 1) * src.elements * ACT_BITS, lp.name
        elif lp.info.layer.kind == "dense":
            # by hand: every chip's channel slice travels its row-then-column distance to
            # chip (0, 0); a chip owns the blocks of C channels dealt to it in turn (the
            # channels of resnet18's / mobilenet_v2's last map are multiples of C)
            assert src.channels % C == 0
            owned = [
                sum(C for p in range(src.channels // C) if p % chips == s) for s in range(chips)
            ]
            hand = sum(owned[s] * src.pixels * ACT_BITS * _hops(s, 0, cols) for s in range(chips))
            assert check.link_bits == hand, lp.name
    assert moved, "no move was exercised"


# ------------------------------------------------------------------------------------------
# ResNet-18: exact in fp32, and in fp16 too (no sum is ever split across chips)


@pytest.mark.parametrize("routing", ["relay", "diagonal"])
@pytest.mark.parametrize("mesh", ["2x2", "1x3"])
@pytest.mark.parametrize("partitioning", ["channel", "hybrid"])
def test_resnet18_fp32_exact(partitioning: str, mesh: str, routing: str) -> None:
    report = verify(
        "resnet18", "64x64", mesh=mesh, partitioning=partitioning, corner_routing=routing
    )
    assert report.ok, report.table()
    assert all(c.max_abs_err == 0 for c in report.layers)
    plan = _plan("resnet18", "64x64", mesh, partitioning)
    places = [c.placement for c in report.layers]
    assert places == [lp.placement for lp in plan.layers]
    if partitioning == "channel":  # from the image on; the dense runs on the root chip
        assert places == ["channel"] * 30 + ["root"]
    else:  # hybrid: tiled, then channel from the planner's cut (a conv whose input is tiled)
        k = places.index("channel")
        assert k > 0 and set(places[:k]) == {"tiled"} and set(places[k:-1]) == {"channel"}
        assert report.layers[k].kind == "conv"
    m = Mesh.model_validate(mesh)
    _check_moves(report, plan, m.chips, m.cols)
    assert f"{partitioning} partitioning" in report.summary()
    assert any("channel partitioned from layer" in note for note in report.notes)


@pytest.mark.parametrize(
    "partitioning, mesh, routing",
    [("channel", "2x2", "relay"), ("channel", "1x3", "diagonal"), ("hybrid", "2x2", "diagonal"),
     ("hybrid", "1x3", "relay")],
)  # fmt: skip
def test_resnet18_fp16_within_bound(partitioning: str, mesh: str, routing: str) -> None:
    report = verify(
        "resnet18",
        "32x32",
        mesh=mesh,
        partitioning=partitioning,
        corner_routing=routing,
        precision="fp16",
        seed=4,
    )
    assert report.ok, report.table()
    assert "channel" in {c.placement for c in report.layers}
    # every chip sums whole outputs in the reference's order, and the global pool of a
    # channel map is per chip: no reduction across the mesh, so fp16 is bit for bit here
    assert all(c.bound_use is None and c.max_abs_err == 0 for c in report.layers)


# ------------------------------------------------------------------------------------------
# MobileNet-V2: depthwise convs keep their channels where they are


def test_mobilenet_v2_hybrid_fp32_and_fp16() -> None:
    report = verify("mobilenet_v2", "64x64", mesh="2x2", partitioning="hybrid")
    assert report.ok, report.table()
    plan = _plan("mobilenet_v2", "64x64", "2x2", "hybrid")
    _check_moves(report, plan, 4, 2)
    dw = [c for c in report.layers if c.placement == "channel" and c.name.endswith(".dw")]
    assert dw and all(c.link_bits == 0 for c in dw)  # no move before a depthwise conv
    half = verify(
        "mobilenet_v2",
        "96x96",
        mesh="1x3",
        partitioning="hybrid",
        precision="fp16",
        corner_routing="diagonal",
    )
    assert half.ok, half.table()
    channel = [c for c in half.layers if c.placement == "channel"]
    assert channel and all(c.max_abs_err == 0 for c in channel)


# ------------------------------------------------------------------------------------------
# the switch by point-to-point messages: a pool (or depthwise conv) reading a tiled map


def _switch_net() -> Network:
    """pool at the switch (unicast of each tile's channels), depthwise, conv, upsample,
    residual add, global max pool and a dense after a channel map."""
    b = NetBuilder("switch", 40)
    b.pool(3, 1, pad=1, mode="max", name="pool")
    x = b.conv(40, 3, groups=40, name="dw")
    b.conv(40, 3, name="full")
    b.add(b.last, x, name="add")
    b.upsample(2, name="up")
    b.conv(24, 1, groups=2, name="grouped")
    b.global_pool("max", name="gmax")
    b.dense(5, name="fc")
    return b.build()


def test_switch_by_unicast_and_grouped_conv() -> None:
    net = _switch_net()
    report = verify(net, "10x9", mesh="2x2", partitioning="channel", seed=2)
    assert report.ok, report.table()
    assert all(c.max_abs_err == 0 for c in report.layers)
    by_name = {c.name: c for c in report.layers}
    # by hand: the pool's 40 channels are dealt in blocks of C=16 (16, 16, 8 to chips 0, 1,
    # 2); every tile sends each other chip its channels over the row-then-column distance
    owned = [16, 16, 8, 0]
    tiles = Tiling.of(net.at(9, 10).input_shape, Mesh.model_validate("2x2")).chip_pixels()
    hand = sum(
        int(tiles[s]) * owned[d] * ACT_BITS * _hops(s, d, 2)
        for s in range(4)
        for d in range(4)
        if s != d
    )
    assert by_name["pool"].link_bits == hand
    assert by_name["dw"].link_bits == by_name["add"].link_bits == by_name["up"].link_bits == 0
    assert [c.placement for c in report.layers][-1] == "root"
    for broken in ("gather-drop", "gather-offset"):
        bad = verify(net, "10x9", mesh="2x2", partitioning="channel", seed=2, break_halo=broken)
        assert not bad.ok and bad.first_bad.name == "pool", broken


# ------------------------------------------------------------------------------------------
# deliberately broken moves


@pytest.mark.parametrize("broken", ["gather-drop", "gather-offset"])
@pytest.mark.parametrize(
    "partitioning, mesh, first", [("channel", "2x2", "conv1"), ("hybrid", "1x3", None)]
)
def test_broken_moves_are_caught(broken: str, partitioning: str, mesh: str, first) -> None:
    report = verify("resnet18", "32x32", mesh=mesh, partitioning=partitioning, break_halo=broken)
    assert not report.ok
    # the first mismatch is the first layer with a move: conv1 (channel), the switch (hybrid)
    switch = next(c for c in report.layers if c.placement == "channel")
    assert report.first_bad.name == (first or switch.name)
    assert all(c.ok for c in report.layers[: report.layers.index(report.first_bad)])
    assert f"break_halo={broken}" in report.summary()


def test_move_breaks_do_not_touch_spatial_partitioning() -> None:
    # no move exists under spatial partitioning, so the break has nothing to corrupt
    report = verify("resnet18", "32x32", mesh="2x2", break_halo="gather-drop")
    assert report.ok, report.table()


# ------------------------------------------------------------------------------------------
# random small networks


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    net=networks(),
    height=st.integers(8, 20),
    width=st.integers(8, 20),
    mesh=st.sampled_from(["1x2", "2x1", "2x2", "1x3", "3x1", "2x3", "3x2"]),
    partitioning=st.sampled_from(["channel", "channel", "hybrid"]),
    precision=st.sampled_from(["fp32", "fp16"]),
    seed=st.integers(0, 2**16),
)
def test_random_networks_channel_and_hybrid(
    net, height, width, mesh, partitioning, precision, seed
) -> None:
    report = verified_exactly(
        net, height, width, mesh=mesh, partitioning=partitioning, precision=precision, seed=seed
    )
    moves = [c for c in report.layers if c.placement == "channel" and c.link_bits]
    event("with moves" if moves else "without a move (hybrid kept tiles, or one chip)")


# ------------------------------------------------------------------------------------------
# errors and the command line


def test_unsupported_layers_and_bad_partitioning_are_input_errors() -> None:
    with pytest.raises(VerifyGeometryError, match="concat of channel-partitioned maps"):
        verify("shufflenet_v2", "64x64", mesh="2x2", partitioning="channel")
    with pytest.raises(InputError, match="partitioning must be one of"):
        verify("resnet18", "32x32", mesh="2x2", partitioning="rows")


def test_cli_partitioning(capsys) -> None:
    from hyperdrive_sim.cli import main

    base = ["verify", "--network", "resnet18", "--input", "32x32", "--mesh", "1x3"]
    assert main([*base, "--partitioning", "channel"]) == 0
    out = capsys.readouterr().out
    assert "channel partitioning" in out.splitlines()[-1] and "OK: all 31 layers" in out
    assert main([*base, "--partitioning", "hybrid", "--break-halo", "gather-offset"]) == 3
    assert "MISMATCH" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*base, "--partitioning", "rows"])
    assert "--partitioning" in capsys.readouterr().err
    assert main(["verify", "--network", "shufflenet_v2", "--input", "64x64", "--mesh", "2x2",
                 "--partitioning", "channel"]) == 2  # fmt: skip
    assert "concat" in capsys.readouterr().err
