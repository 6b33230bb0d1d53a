"""Kernel-reuse pruning: hand cases, brute-force cross-checks and a binomial expectation."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from hyperdrive_sim.techniques.kernel_reuse import (
    hamming_matrix,
    layer_savings,
    load_weights,
    network_saved,
    reuse_plan,
    skippable_cycles,
    weights_from_onnx,
)
from hyperdrive_sim.workload.builder import NetBuilder


def _random_pm1(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 2, size=shape, dtype=np.int8) * 2 - 1


def _kruskal_total(dist: np.ndarray) -> int:
    """MST weight by Kruskal with union-find: independent of the Prim implementation."""
    k = len(dist)
    root = list(range(k))

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    edges = sorted((int(dist[a, b]), a, b) for a in range(k) for b in range(a + 1, k))
    total = 0
    for d, i, j in edges:
        ri, rj = find(i), find(j)
        if ri != rj:
            root[ri] = rj
            total += d
    return total


def test_hamming_matrix_equals_brute_force_count() -> None:
    rng = np.random.default_rng(1)
    a, b = _random_pm1(rng, (7, 45)), _random_pm1(rng, (5, 45))
    brute = np.array([[int(np.sum(x != y)) for y in b] for x in a])
    assert np.array_equal(hamming_matrix(a, b), brute)
    assert np.array_equal(hamming_matrix(a), [[int(np.sum(x != y)) for y in a] for x in a])


def test_duplicated_kernels_cost_one_add_each() -> None:
    k, n = 12, 36
    one = _random_pm1(np.random.default_rng(2), (1, n))
    plan = reuse_plan(np.repeat(one, k, axis=0))
    assert plan.total_full == k * n
    assert plan.total_pruned == n + (k - 1) * 1
    assert list(plan.cost) == [n] + [1] * (k - 1)
    # In lock-step blocks of 4, only the block holding the root (kernel 0) cannot skip.
    kernels = np.repeat(one, k, axis=0)
    refs = np.where((plan.parent >= 0)[:, None], kernels[np.maximum(plan.parent, 0)], 0)
    blocks = [plan.order[i : i + 4] for i in range(0, k, 4)]
    assert [skippable_cycles(kernels[b], refs[b]) for b in blocks] == [0, n, n]


def test_hand_case_three_kernels() -> None:
    # n = 4. k0 = ++++, k1 = +++-, k2 = --+-.
    # Distances: d01 = 1, d02 = 3, d12 = 2. Prim from k0: the nearest kernel to {k0} is k1
    # (1); then k2 is at min(d02, d12) = 2 from {k0, k1}, via k1. MST = 0-1-2, weight 3.
    # Costs: k0 from scratch 4; k1 = 1 + 1 = 2; k2 = 2 + 1 = 3. Total 9 of 12 adds.
    kernels = np.array([[1, 1, 1, 1], [1, 1, 1, -1], [-1, -1, 1, -1]])
    plan = reuse_plan(kernels)
    assert list(plan.parent) == [-1, 0, 1]
    assert list(plan.order) == [0, 1, 2]
    assert list(plan.tree_distance) == [0, 1, 2]
    assert list(plan.cost) == [4, 2, 3]
    assert (plan.total_full, plan.total_pruned) == (12, 9)
    assert plan.saved == pytest.approx(0.25)
    # Lock-step: k1 equals k0 at positions 0, 1, 2; k2 equals k1 at positions 2, 3.
    # Only position 2 is free for both; with the root in the block nothing is.
    assert skippable_cycles(kernels[1:], kernels[:2]) == 1
    assert skippable_cycles(kernels, np.vstack([np.zeros(4), kernels[:2]])) == 0


def test_far_kernel_is_computed_from_scratch_or_from_a_negation() -> None:
    # k0 = ++++, k1 = +++-, k2 = ---+: d01 = 1, d02 = 3, d12 = 4. MST 0-1 (1), 0-2 (3).
    # k2 via k0 would cost 3 + 1 = 4 = n: no gain, so from scratch. Total 4 + 2 + 4 = 10.
    # With negation the distance is min(d, n - d): k2 = -k1 exactly, cost 0 + 1, total 7.
    kernels = np.array([[1, 1, 1, 1], [1, 1, 1, -1], [-1, -1, -1, 1]])
    plan = reuse_plan(kernels)
    assert list(plan.parent) == [-1, 0, -1]
    assert list(plan.tree_parent) == [-1, 0, 0]
    assert plan.total_pruned == 10
    neg = reuse_plan(kernels, negate=True)
    assert list(neg.parent) == [-1, 0, 1]
    assert list(neg.negated) == [False, False, True]
    assert neg.total_pruned == 7


def test_mst_matches_kruskal_and_beats_sequential() -> None:
    rng = np.random.default_rng(3)
    for _ in range(10):
        kernels = _random_pm1(rng, (20, 27))
        mst, seq = reuse_plan(kernels), reuse_plan(kernels, method="sequential")
        assert int(mst.tree_distance.sum()) == _kruskal_total(hamming_matrix(kernels))
        assert mst.total_pruned <= seq.total_pruned
        for plan in (mst, seq):  # every parent is computed before its child
            position = np.argsort(plan.order)
            has = plan.parent >= 0
            assert np.all(position[plan.parent[has]] < position[has])


def _expected_min_binomial(j: int, n: int) -> float:
    """E[min of j i.i.d. Binomial(n, 1/2)] = sum_d P(min > d) = sum_d (1 - F(d))^j."""
    cdf = np.cumsum([comb(n, d) / 2**n for d in range(n + 1)])
    return float(np.sum((1.0 - cdf[:n]) ** j))


def test_random_savings_match_binomial_expectation() -> None:
    # A kernel that reuses the nearest of j earlier random kernels pays the minimum of j
    # Hamming distances, each Binomial(n, 1/2). That is the "sequential" plan exactly; the
    # expectation below is exact only if those j distances were independent, which they
    # are not quite (they share the new kernel and the earlier ones). With K = 16, n = 64
    # the earlier kernels are nearly orthogonal and the formula is within 0.3 % of a 300-
    # seed mean, so 40 seeds and a 2 % tolerance (several standard errors) are safe.
    # Prim's MST is NOT this process: each step takes the smallest distance over all
    # j * (K - j) tree / non-tree pairs, so its total is lower (about 4 % here); the
    # formula is only an upper bound for it (checked per seed via the sequential plan).
    k, n, seeds = 16, 64, 40
    expected_attach = sum(_expected_min_binomial(j, n) for j in range(1, k))
    expected = n + expected_attach + (k - 1)  # root + distances + one add per reuse
    seq, mst = [], []
    for seed in range(seeds):
        kernels = _random_pm1(np.random.default_rng(seed), (k, n))
        seq.append(reuse_plan(kernels, method="sequential").total_pruned)
        mst.append(reuse_plan(kernels).total_pruned)
    assert np.mean(seq) == pytest.approx(expected, rel=0.02)
    assert np.mean(mst) < expected
    assert 1 - np.mean(seq) / (k * n) == pytest.approx(1 - expected / (k * n), abs=0.01)


def _small_net():
    b = NetBuilder("tiny", input_channels=4)
    b.conv(8, 3, name="c1")
    b.conv(8, 3, groups=2, name="c2")
    b.conv(8, 3, groups=8, name="dw")
    b.global_pool(name="gp")
    b.dense(5, name="fc")
    return b.build().at(6, 5)


def test_layer_savings_counts_and_seeding() -> None:
    net = _small_net()
    infos = {i.layer.name: i for i in net.infos}
    dup = np.ones((8, 4, 3, 3))
    savings = layer_savings(net, {"c1": dup}, seed=5, fmpus=4)
    by_name = {s.name: s for s in savings}
    assert list(by_name) == ["c1", "c2", "dw", "fc"]
    for s in savings:
        assert s.macs == infos[s.name].macs
    # Copies: n + (K - 1) adds per pixel; the second block of 4 skips all 36 positions.
    pixels = 6 * 5
    assert by_name["c1"].macs_pruned == (36 + 7) * pixels
    assert by_name["c1"].cycles_fraction_skippable == pytest.approx(0.5)
    assert by_name["dw"].saved == 0.0  # one kernel per group: nothing to reuse
    # Random draws are seeded per layer: giving c1 does not change the others.
    again = layer_savings(net, None, seed=5, fmpus=4)
    assert [s.macs_pruned for s in again[1:]] == [s.macs_pruned for s in savings[1:]]
    assert again != layer_savings(net, None, seed=6, fmpus=4)
    total = network_saved(savings)
    assert total == pytest.approx(
        1 - sum(s.macs_pruned for s in savings) / sum(s.macs for s in savings)
    )
    with pytest.raises(ValueError, match="expected"):
        layer_savings(net, {"c2": np.ones((8, 2, 3, 3))})


def test_load_weights_npz_npy_and_onnx(tmp_path) -> None:
    w = np.arange(-8, 8, dtype=np.float32).reshape(2, 2, 2, 2)
    np.savez(tmp_path / "w.npz", c1=w, fc=w.reshape(2, 8))
    np.save(tmp_path / "c1.npy", w)
    loaded = load_weights(tmp_path / "w.npz")
    assert set(loaded) == {"c1", "fc"} and np.array_equal(loaded["c1"], w)
    assert np.array_equal(load_weights(tmp_path / "c1.npy")["c1"], w)

    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    fc_w = np.arange(6, dtype=np.float32).reshape(3, 2) - 2  # (out, in), transB = 1
    mm_w = np.arange(6, dtype=np.float32).reshape(2, 3) - 2  # (in, out)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "conv.weight"], ["y"], name="conv"),
            helper.make_node("Flatten", ["y"], ["f"], name="flat"),
            helper.make_node("Gemm", ["f", "fc_w"], ["g"], name="fc", transB=1),
            helper.make_node("MatMul", ["g", "mm_w"], ["out"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 2, 2])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3])],
        [
            numpy_helper.from_array(w, "conv.weight"),
            numpy_helper.from_array(fc_w, "fc_w"),
            numpy_helper.from_array(mm_w, "mm_w"),
        ],
    )
    onnx.save(helper.make_model(graph), tmp_path / "m.onnx")
    got = weights_from_onnx(tmp_path / "m.onnx")
    assert np.array_equal(got["conv"], w)
    assert np.array_equal(got["fc"], fc_w)
    assert np.array_equal(got["out"], mm_w.T)  # unnamed node: keyed by its output
    assert set(load_weights(tmp_path / "m.onnx")) == {"conv", "fc", "out"}
