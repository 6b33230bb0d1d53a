"""Numerical verification of the border exchange (hyperdrive_sim.verify, docs/verify.md).

The mesh computes real numbers, each chip from its own tiles plus the halo pieces received
over the simulated links; every layer is compared with a monolithic numpy reference.
"""

from __future__ import annotations

import subprocess
import sys
from itertools import product

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hyperdrive_sim.errors import InputError, NetworkError
from hyperdrive_sim.mapping.tiling import Tiling
from hyperdrive_sim.spec.models import Mesh
from hyperdrive_sim.verify import VerifyGeometryError, verify
from hyperdrive_sim.verify import reference as ref
from hyperdrive_sim.verify.numerics import U16, fp16_bound
from hyperdrive_sim.verify.weights import random_weights
from hyperdrive_sim.workload.builder import NetBuilder
from hyperdrive_sim.workload.layers import Shape
from hyperdrive_sim.workload.network import Network

ROUTINGS = ("relay", "diagonal")


def _two_convs(k: int = 3, channels: int = 3) -> Network:
    """conv -> conv: the first reads the image (halo from off-chip), the second exchanges."""
    b = NetBuilder("two_convs", channels)
    b.conv(4, k, name="c1")
    b.conv(5, k, name="c2")
    return b.build()


# ------------------------------------------------------------------------------------------
# the reference kernels against direct loops (so the reference is not checked only by itself)


def _naive_conv(x, w, stride, pads, dil, groups):
    c, h, wd = x.shape
    co, cig, kh, kw = w.shape
    t, left, bottom, right = pads
    xp = np.zeros((c, h + t + bottom, wd + left + right))
    xp[:, t : t + h, left : left + wd] = x
    ho = (h + t + bottom - dil[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + left + right - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((co, ho, wo))
    for o, i, j in product(range(co), range(ho), range(wo)):
        g = o // (co // groups)
        for ci, a, b in product(range(cig), range(kh), range(kw)):
            out[o, i, j] += (
                w[o, ci, a, b]
                * xp[g * cig + ci, i * stride[0] + a * dil[0], j * stride[1] + b * dil[1]]
            )
    return out


@pytest.mark.parametrize(
    "k, stride, pads, dil, groups",
    [
        (3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
        (3, (2, 1), (0, 2, 1, 0), (2, 1), 2),
        (1, (2, 2), (0, 0, 0, 0), (1, 1), 4),
        (5, (1, 2), (2, 1, 2, 3), (1, 2), 1),
    ],
)
def test_reference_conv_equals_direct_loops(k, stride, pads, dil, groups) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(-5, 6, size=(4, 9, 11)).astype(np.float64)
    w = rng.choice([-1.0, 1.0], size=(4, 4 // groups, k, k))
    got = ref.conv2d(x, w, stride, pads, dil, groups)
    np.testing.assert_array_equal(got, _naive_conv(x, w, stride, pads, dil, groups))


def test_reference_pooling_semantics() -> None:
    x = np.arange(1.0, 10.0).reshape(1, 3, 3)
    # avg with padding counts the zero pads: the top-left window sees 1, 2, 4, 5 of 9 cells
    avg = ref.pool2d(x, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), "avg")
    assert avg[0, 0, 0] == pytest.approx((1 + 2 + 4 + 5) / 9)
    assert avg[0, 1, 1] == pytest.approx(45 / 9)
    # max ignores the pads, even around negative values (zero pads would give 0)
    mx = ref.pool2d(-x, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), "max")
    assert mx.tolist() == [[[-1.0, -2.0], [-4.0, -5.0]]]
    # channel shuffle as torch: view(g, c/g) -> transpose -> flatten
    c = np.arange(6.0).reshape(6, 1, 1)
    assert ref.channel_shuffle(c, 2).ravel().tolist() == [0, 3, 1, 4, 2, 5]
    assert ref.upsample(np.array([[[1.0, 2.0]]]), 2)[0].tolist() == [[1, 1, 2, 2], [1, 1, 2, 2]]


def test_fp16_sum_bound_holds_for_two_orders() -> None:
    rng = np.random.default_rng(7)
    terms = rng.uniform(-1, 1, size=(300, 64)).astype(np.float16)
    forward = ref.seq_sum(terms)
    backward = ref.seq_sum(terms[::-1])
    abs_sum = np.abs(terms.astype(np.float64)).sum(axis=0)
    diff = np.abs(forward.astype(np.float64) - backward)
    assert (diff > 0).any()  # the orders really round differently
    assert (diff <= fp16_bound(300, abs_sum)).all()
    assert fp16_bound(300, abs_sum)[0] == pytest.approx(
        2 * 300 * U16 * (1 + 300 * U16) * abs_sum[0] + 2.0**-24
    )


# ------------------------------------------------------------------------------------------
# exact match (fp32) over random small networks


@st.composite
def networks(draw) -> Network:
    """Small random networks: convs of every geometry, residual adds, pools, concat, upsample."""
    channels = draw(st.integers(1, 4))
    b = NetBuilder("random", channels)
    ch = channels
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["conv", "conv", "pool", "residual", "concat", "upsample"]))
        if op == "conv":
            k, stride, dil = (draw(st.sampled_from(v)) for v in ([1, 3, 5], [1, 2], [1, 2]))
            reach = dil * (k - 1) // 2
            pad = draw(st.one_of(st.none(), st.tuples(*[st.integers(0, reach)] * 4)))
            kind = draw(st.sampled_from(["dense", "depthwise", "grouped"]))
            if kind == "depthwise":
                groups, out = ch, ch * draw(st.integers(1, 2))
            elif kind == "grouped" and ch % 2 == 0:
                groups, out = 2, 2 * draw(st.integers(1, 3))
            else:
                groups, out = 1, draw(st.integers(1, 6))
            ch = out
            b.conv(out, k, stride, pad=pad, groups=groups, dilation=dil)
        elif op == "pool":
            k = draw(st.sampled_from([2, 3]))
            mode = draw(st.sampled_from(["max", "avg"]))
            b.pool(k, draw(st.sampled_from([1, 2])), pad=draw(st.integers(0, k // 2)), mode=mode)
        elif op == "residual":
            x = b.last
            b.conv(ch, 3, src=x)
            b.add(b.last, x)
        elif op == "concat":
            x = b.last
            extra = draw(st.integers(1, 3))
            b.concat(x, b.conv(extra, draw(st.sampled_from([1, 3])), src=x))
            ch += extra
        else:
            b.upsample(2)
    tail = draw(st.sampled_from(["none", "gpool_dense", "gmax", "dense"]))
    if tail == "gpool_dense":
        b.global_pool()
        b.dense(draw(st.integers(1, 5)))
    elif tail == "gmax":
        b.global_pool("max")
    elif tail == "dense":
        b.dense(draw(st.integers(1, 4)))
    return b.build()


def verified_exactly(net, height: int, width: int, **options):
    """``verify`` of a random case: the report, after checking it passed and that only
    reductions across chips differ (fp16, within the bound); cases the geometry rules out
    (a map below the kernel, a halo beyond the neighbours, a concat of dealt maps) are
    discarded."""
    try:
        net.at(height, width)
    except NetworkError:  # a map shrank below the kernel
        assume(False)
    try:
        report = verify(net, (width, height), **options)
    except VerifyGeometryError:
        assume(False)
    assert report.ok, report.table()
    assert all(c.max_abs_err == 0 for c in report.layers if c.bound_use is None)
    return report


def _check_random_case(net, height, width, rows, cols, routing, precision, seed) -> None:
    verified_exactly(
        net,
        height,
        width,
        mesh=f"{rows}x{cols}",
        corner_routing=routing,
        precision=precision,
        seed=seed,
    )


CASES = {
    "net": networks(),
    "height": st.integers(8, 24),
    "width": st.integers(8, 24),
    "rows": st.integers(1, 4),
    "cols": st.integers(1, 4),
    "routing": st.sampled_from(ROUTINGS),
    "precision": st.sampled_from(["fp32", "fp32", "fp16"]),
    "seed": st.integers(0, 2**16),
}
SLOW_OK = [HealthCheck.too_slow, HealthCheck.filter_too_much]


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW_OK)
@given(**CASES)
def test_mesh_matches_reference_exactly(**case) -> None:
    _check_random_case(**case)


@pytest.mark.slow
@settings(max_examples=500, deadline=None, suppress_health_check=SLOW_OK)
@given(**CASES)
def test_mesh_matches_reference_many_cases(**case) -> None:
    _check_random_case(**case)


def test_uneven_split_10x13_over_3x2() -> None:
    b = NetBuilder("uneven", 3)
    b.conv(4, 3, name="c1")
    x = b.conv(4, 3, dilation=2, name="c2")  # reaches 2 rows/cols into the neighbours
    b.pool(3, 1, pad=1, mode="avg", name="avg")
    b.add(b.last, x, name="add")
    b.pool(3, 2, pad=1, mode="max", name="max")
    net = b.build()
    mesh = Mesh.model_validate("3x2")
    t = Tiling.of(Shape(4, 10, 13), mesh)
    assert t.row_sizes.tolist() == [4, 3, 3] and t.col_sizes.tolist() == [7, 6]
    for routing in ROUTINGS:
        report = verify(net, "13x10", mesh=mesh, corner_routing=routing)  # WIDTHxHEIGHT
        assert report.ok, report.table()
        by_name = {c.name: c for c in report.layers}
        assert by_name["c1"].halo_pixels == 0  # the image layer's halo comes from off-chip
        assert by_name["c2"].halo_pixels > 0 and by_name["max"].halo_pixels > 0
        assert report.input_shape == Shape(3, 10, 13)


def test_map_smaller_than_the_mesh_runs_with_idle_chips() -> None:
    b = NetBuilder("shrink", 2)
    b.conv(4, 3, stride=2)
    b.conv(4, 3, stride=2)  # 3x3 output on a 4x4 mesh: one chip row and column idle
    b.conv(4, 3)
    b.global_pool()
    report = verify(b.build(), "12x12", mesh="4x4")
    assert report.ok, report.table()
    assert [c.planned for c in report.layers] == [True, False, False, True]
    assert any("does not fit" in note for note in report.notes)


def test_halo_beyond_the_neighbours_is_reported() -> None:
    b = NetBuilder("far", 1)
    b.conv(2, 3)
    b.conv(2, 5, dilation=2)  # needs 4 rows from neighbours that hold 2 or 3
    with pytest.raises(VerifyGeometryError, match="beyond its neighbours"):
        verify(b.build(), "10x10", mesh="4x4")


# ------------------------------------------------------------------------------------------
# fp16


def test_fp16_within_the_bound_and_the_bound_is_exercised() -> None:
    b = NetBuilder("fp16", 3)
    b.conv(8, 3)
    b.pool(3, 1, pad=1, mode="avg")
    x = b.conv(8, 3)
    b.global_pool(src=x)
    b.dense(6, name="fc_gpool")
    b.dense(5, src=x, name="fc_map")  # dense over the tiled map: a reduction too
    report = verify(b.build(), "20x18", mesh="2x3", precision="fp16", seed=3)
    assert report.ok, report.table()
    by_kind = {}
    for c in report.layers:
        by_kind.setdefault((c.placement, c.kind), []).append(c)
    # per-pixel layers keep each output's summation order: bit for bit even in FP16
    assert all(c.max_abs_err == 0 for c in report.layers if c.placement == "tiled")
    # cross-chip reductions sum in another order: non-zero error, inside the bound
    reductions = [c for c in report.layers if c.bound_use is not None]
    assert {c.name for c in reductions} == {"gpool1", "fc_map"}
    assert any(c.max_abs_err > 0 for c in reductions)
    assert all(0 <= c.bound_use <= 1 for c in reductions)


# ------------------------------------------------------------------------------------------
# deliberately broken exchange


@pytest.mark.parametrize("routing", ROUTINGS)
@pytest.mark.parametrize("broken", ["corners", "edges"])
def test_broken_halo_is_caught(routing: str, broken: str) -> None:
    report = verify(_two_convs(), "8x8", mesh="2x2", corner_routing=routing, break_halo=broken)
    assert not report.ok
    assert report.first_bad.name == "c2"
    assert report.layers[0].ok  # the image layer's halo comes from off-chip, not broken
    assert "first: layer 'c2'" in report.summary()


def test_broken_relay_only_matters_under_relay_routing() -> None:
    relay = verify(_two_convs(), "8x8", mesh="2x2", corner_routing="relay", break_halo="relay")
    assert not relay.ok and relay.first_bad.name == "c2"
    diagonal = verify(
        _two_convs(), "8x8", mesh="2x2", corner_routing="diagonal", break_halo="relay"
    )
    assert diagonal.ok, diagonal.table()


def test_relay_costs_two_hops_per_corner() -> None:
    relay = verify(_two_convs(), "8x8", mesh="2x2", corner_routing="relay")
    diagonal = verify(_two_convs(), "8x8", mesh="2x2", corner_routing="diagonal")
    c2_relay, c2_diag = relay.layers[1], diagonal.layers[1]
    assert c2_relay.halo_pixels == c2_diag.halo_pixels == 4 * (4 + 4 + 1)
    # 4 channels x 16 bit: each of the 4 corner pixels crosses one more link when relayed
    assert c2_relay.link_bits - c2_diag.link_bits == 4 * 4 * 16


def test_bad_arguments_are_input_errors() -> None:
    with pytest.raises(InputError, match="precision"):
        verify(_two_convs(), "8x8", mesh="2x2", precision="bf16")
    with pytest.raises(InputError, match="break_halo"):
        verify(_two_convs(), "8x8", mesh="2x2", break_halo="everything")
    with pytest.raises(InputError, match="corner routing"):
        verify(_two_convs(), "8x8", mesh="2x2", corner_routing="torus")


# ------------------------------------------------------------------------------------------
# weights


def test_npz_weights_by_sign_equal_the_same_arrays_given_directly(tmp_path) -> None:
    net = _two_convs()
    shapes = {name: w.shape for name, w in random_weights(net.at(9, 9), 0).items()}
    rng = np.random.default_rng(11)
    real = {name: rng.normal(size=shape) for name, shape in shapes.items()}
    signs = {name: np.where(a >= 0, 1.0, -1.0) for name, a in real.items()}
    path = tmp_path / "w.npz"
    np.savez(path, **real)
    from_file = verify(net, "9x9", mesh="2x2", weights=path)
    direct = verify(net, "9x9", mesh="2x2", weights=signs)
    seeded = verify(net, "9x9", mesh="2x2")
    assert from_file.ok and direct.ok
    np.testing.assert_array_equal(from_file.outputs["c2"], direct.outputs["c2"])
    assert not np.array_equal(from_file.outputs["c2"], seeded.outputs["c2"])


def test_npy_weights_for_a_single_layer_network_and_bad_files(tmp_path) -> None:
    b = NetBuilder("one", 2)
    b.conv(3, 3, name="only")
    net = b.build()
    w = np.random.default_rng(2).normal(size=(3, 2, 3, 3))
    np.save(tmp_path / "w.npy", w)
    assert verify(net, "8x8", mesh="2x2", weights=tmp_path / "w.npy").ok
    with pytest.raises(InputError, match="holds one array"):
        verify(_two_convs(), "8x8", mesh="2x2", weights=tmp_path / "w.npy")
    np.savez(tmp_path / "bad.npz", only=np.ones((3, 2, 5, 5)))
    with pytest.raises(InputError, match="expected \\(3, 2, 3, 3\\)"):
        verify(net, "8x8", mesh="2x2", weights=tmp_path / "bad.npz")
    np.savez(tmp_path / "typo.npz", onyl=w)
    with pytest.raises(InputError, match="no weights for layer"):
        verify(net, "8x8", mesh="2x2", weights=tmp_path / "typo.npz")


def test_seeded_weights_are_binary_and_reproducible() -> None:
    net = _two_convs().at(8, 8)
    a, b = random_weights(net, 5), random_weights(net, 5)
    assert all(np.array_equal(a[n], b[n]) for n in a)
    assert all(set(np.unique(w)) == {-1, 1} for w in a.values())
    assert not np.array_equal(a["c2"], random_weights(net, 6)["c2"])


# ------------------------------------------------------------------------------------------
# command line


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hyperdrive_sim", "verify", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_resnet18_on_3x3_matches_and_a_broken_halo_exits_3() -> None:
    base = ["--network", "resnet18", "--input", "64x64", "--mesh", "3x3"]
    ok = _cli(*base)
    assert ok.returncode == 0, ok.stderr
    assert "max|err|" in ok.stdout and "layer4.1.conv2" in ok.stdout
    assert "OK: all 31 layers" in ok.stdout
    bad = _cli(*base, "--break-halo", "corners")
    assert bad.returncode == 3, bad.stderr
    assert "MISMATCH" in bad.stdout and "first: layer 'maxpool'" in bad.stdout


def test_cli_bad_input_exits_2(capsys) -> None:
    from hyperdrive_sim.cli import main

    base = ["verify", "--network", "resnet18", "--input", "64x64"]
    assert main([*base, "--mesh", "3x3x"]) == 2
    assert "--mesh" in capsys.readouterr().err
    assert main([*base, "--mesh", "9x9"]) == 2
    assert "beyond its neighbours" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    assert "--break-halo" not in capsys.readouterr().out
