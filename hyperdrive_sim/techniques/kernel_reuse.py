"""Operation pruning by kernel reuse (Gao, Liu, Lai): compute a ±1 kernel from a similar one.

For two ±1 kernels A and B over the same inputs (same layer, same group),
conv(x, B) = conv(x, A) + conv(x, B - A), and B - A is non-zero (±2, a shift) only where A
and B differ. So once conv(x, A) is known, B costs its Hamming distance d(A, B) in adds per
output pixel plus one add to fold in conv(x, A), instead of its full size n.

:func:`reuse_plan` picks, for one group of kernels, which kernel each one reuses: a minimum
spanning tree over the Hamming distances, where every kernel whose tree edge costs at least
n is computed from scratch instead. That plan is optimal among all plans in which each
kernel is computed either from scratch or from one other kernel (see :func:`reuse_plan`).

Energy and cycles are not saved alike on Hyperdrive. Energy follows the adds saved
(``LayerSaving.macs_pruned``). Cycles do not: the C FMPUs of a Tile-PU run in lock-step on
one broadcast input word per cycle, one (input channel, tap) position per cycle, and the
kernels of one weight block differ from their parents at different positions. The array can
only skip a position when *every* kernel of the block has a zero difference there
(:func:`skippable_cycles`, ``LayerSaving.cycles_fraction_skippable``).

Counts only; the simulator prices them. Weights come from trained models
(:func:`load_weights`, :func:`weights_from_onnx`) or are drawn ±1 at random. Even random
kernels save about half the adds: two random kernels differ in about n/2 positions, so a
reuse costs about n/2 (the same effect as w.x = 2 * sum(x where w = +1) - sum(x)); trained
kernels save more only insofar as they are more alike than random ones. Random kernels
let the lock-step array skip almost no cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from hyperdrive_sim import limits
from hyperdrive_sim.errors import InputError
from hyperdrive_sim.mapping.costs import Pruning
from hyperdrive_sim.readfile import load_arrays, open_input, read_external_data
from hyperdrive_sim.workload.network import LayerInfo, ShapedNetwork

Method = Literal["mst", "sequential"]

#: largest n for which float32 matrix products of ±1 vectors are exact integers
_F32_EXACT = 1 << 24


def _as_pm1(kernels: np.ndarray) -> np.ndarray:
    """Sign of ``kernels`` as int8 ±1 (zeros count as +1)."""
    return np.where(np.asarray(kernels) < 0, -1, 1).astype(np.int8)


def hamming_matrix(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Pairwise Hamming distances between the rows of ±1 matrices ``a`` (Ka, n) and ``b``.

    For ±1 vectors the dot product is (n - d) - d, so d = (n - a @ b.T) / 2: one BLAS matrix
    product instead of Ka * Kb * n comparisons. ``b`` defaults to ``a``. Returns int64.
    """
    a = np.asarray(a)
    b = a if b is None else np.asarray(b)
    n = a.shape[1]
    if b.shape[1] != n:
        raise ValueError(f"kernels have different lengths: {n} and {b.shape[1]}")
    dtype = np.float32 if n < _F32_EXACT else np.float64
    fa = a.astype(dtype)
    fb = fa if b is a else b.astype(dtype)
    dots = fa @ fb.T
    return np.rint((n - dots) / 2).astype(np.int64)


@dataclass(frozen=True, eq=False)
class ReusePlan:
    """How each kernel of one group is computed; costs are adds per output pixel.

    ``order`` lists the kernels so that every kernel's parent comes earlier: computing the
    kernels (or weight blocks of consecutive kernels) in that order respects all reuses.
    """

    #: kernel each kernel reuses, -1 = computed from scratch
    parent: np.ndarray
    #: adds per output pixel per kernel: n from scratch, Hamming distance + 1 when reusing
    cost: np.ndarray
    #: computation order (a permutation of the kernels; parents come first)
    order: np.ndarray
    #: parent in the spanning tree before the from-scratch choice (-1 for the root)
    tree_parent: np.ndarray
    #: Hamming distance to ``tree_parent`` (to its negation if closer and negate=True; root 0)
    tree_distance: np.ndarray
    #: kernel length: C_in/groups * kh * kw
    n: int
    #: True where a kernel reuses its parent's negated output (only with ``negate=True``)
    negated: np.ndarray

    @property
    def kernels(self) -> int:
        return len(self.parent)

    @property
    def total_full(self) -> int:
        """Adds per output pixel without reuse: K * n."""
        return self.kernels * self.n

    @property
    def total_pruned(self) -> int:
        """Adds per output pixel with reuse, including the one extra add per reusing kernel."""
        return int(self.cost.sum())

    @property
    def saved(self) -> float:
        """Fraction of adds saved: 1 - total_pruned / total_full."""
        return 1.0 - self.total_pruned / self.total_full if self.total_full else 0.0


def _prim(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prim's MST from kernel 0 on a dense distance matrix: (parent, distance, order)."""
    k = len(dist)
    parent = np.zeros(k, dtype=np.int64)
    best = dist[0].astype(np.float64)  # distance of each kernel to the tree so far
    done = np.zeros(k, dtype=bool)
    done[0] = True
    best[0] = np.inf
    order = np.empty(k, dtype=np.int64)
    order[0] = 0
    for step in range(1, k):
        j = int(np.argmin(best))
        order[step] = j
        done[j] = True
        closer = dist[j] < best
        closer &= ~done
        best[closer] = dist[j][closer]
        parent[closer] = j
        best[j] = np.inf
    parent[0] = -1
    distance = np.where(parent >= 0, dist[np.arange(k), np.maximum(parent, 0)], 0)
    return parent, distance.astype(np.int64), order


def _sequential(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each kernel reuses its nearest earlier kernel (ties: lowest index), channel order."""
    k = len(dist)
    masked = np.where(np.tri(k, k, -1, dtype=bool), dist, np.iinfo(np.int64).max)
    parent = np.argmin(masked, axis=1).astype(np.int64)
    parent[0] = -1
    distance = np.where(parent >= 0, dist[np.arange(k), np.maximum(parent, 0)], 0)
    return parent, distance.astype(np.int64), np.arange(k, dtype=np.int64)


def reuse_plan(kernels: np.ndarray, method: Method = "mst", negate: bool = False) -> ReusePlan:
    """Reuse plan for the K kernels of one layer group, ``kernels`` of shape (K, n), ±1.

    ``method="mst"`` (default): Prim's minimum spanning tree over the pairwise Hamming
    distances, rooted at kernel 0 (every root gives the same tree weight; the root costs
    n). Each other kernel then reuses its tree parent (cost d + 1) or is computed from
    scratch (cost n), whichever is cheaper; ties go to from scratch. This is optimal over
    all plans where each kernel is computed from scratch or from one other kernel: such a
    plan is a spanning tree of the kernels plus a virtual "from scratch" node joined to all
    of them at weight n, and cutting the MST's edges heavier than n gives that graph's MST.

    ``method="sequential"``: each kernel reuses the nearest kernel of lower index. Never
    better than the MST, but needs no channel reordering (parents always come first).

    ``negate=True`` also lets B reuse -conv(x, A) at cost n - d + 1 (B + A is non-zero
    where A and B agree), so the edge weight becomes min(d, n - d). Off by default.

    O(K^2 n) for the distances (one matrix product), O(K^2) for the tree.
    """
    pm = _as_pm1(kernels)
    if pm.ndim != 2:
        raise ValueError(f"kernels must have shape (K, n), got {pm.shape}")
    k, n = pm.shape
    if k == 0:
        raise ValueError("no kernels")
    if k == 1:
        zero = np.zeros(1, dtype=np.int64)
        minus = np.full(1, -1, dtype=np.int64)
        cost = np.full(1, n, dtype=np.int64)
        return ReusePlan(minus, cost, zero, minus.copy(), zero, n, np.zeros(1, dtype=bool))
    dist = hamming_matrix(pm)
    flip = dist > n - dist if negate else np.zeros_like(dist, dtype=bool)
    dist = np.where(flip, n - dist, dist)
    if method == "mst":
        tree_parent, tree_distance, order = _prim(dist)
    elif method == "sequential":
        tree_parent, tree_distance, order = _sequential(dist)
    else:
        raise ValueError(f"method must be 'mst' or 'sequential', got {method!r}")
    reuse = (tree_parent >= 0) & (tree_distance + 1 < n)
    parent = np.where(reuse, tree_parent, -1)
    cost = np.where(reuse, tree_distance + 1, n).astype(np.int64)
    negated = reuse & flip[np.arange(k), np.maximum(tree_parent, 0)]
    return ReusePlan(parent, cost, order, tree_parent, tree_distance, n, negated)


def skippable_cycles(kernels_block: np.ndarray, references: np.ndarray) -> int:
    """(input channel, tap) positions the lock-step FMPUs of one weight block can skip.

    ``kernels_block`` (b, n) holds the block's ±1 kernels and ``references`` (b, n) the
    kernel each one reuses (its parent, negated if the plan says so), or an all-zero row
    for a kernel computed from scratch, so such a kernel (and every tree root) never skips.
    A position is skippable only when every kernel of the block equals its reference there:
    all C FMPUs consume the same broadcast input word each cycle, so one kernel needing the
    word costs the cycle.

    Energy follows the adds saved (Hamming distances); cycles follow only these positions.
    """
    kb = np.asarray(kernels_block)
    ref = np.asarray(references)
    if kb.shape != ref.shape or kb.ndim != 2:
        raise ValueError(f"kernels {kb.shape} and references {ref.shape} must both be (b, n)")
    return int(np.all(kb == ref, axis=0).sum())


def _group_skippable(pm: np.ndarray, plan: ReusePlan, fmpus: int) -> tuple[int, int]:
    """(skippable positions, all positions) summed over the blocks of one group.

    Blocks are ``fmpus`` consecutive kernels in ``plan.order`` (so parents never sit in a
    later block); positions count once per block, as the block's cycles per pixel step.
    """
    k, n = pm.shape
    same = np.zeros((k, n), dtype=bool)
    reusing = plan.parent >= 0
    sign = np.where(plan.negated[reusing], -1, 1).astype(np.int8)[:, None]
    same[reusing] = pm[reusing] == sign * pm[plan.parent[reusing]]
    same = same[plan.order]
    blocks = -(-k // fmpus)
    pad = blocks * fmpus - k
    if pad:
        same = np.concatenate([same, np.ones((pad, n), dtype=bool)])
    skip = int(same.reshape(blocks, fmpus, n).all(axis=1).sum())
    return skip, blocks * n


def trivial_cost(kernels: np.ndarray) -> int:
    """Adds per output pixel of one group with the trivial ±1 rewrite, no kernel reuse.

    With S = sum(x) computed once (n adds), w.x = 2 * sum(x where w = +1) - S, or
    S - 2 * sum(x where w = -1): a kernel with p plus-ones costs min(p, n - p) + 1 adds.
    Equivalently every kernel reuses a virtual all-ones kernel (or its negation). Never more
    than computing every kernel in full: min(K * n, n + sum(min(p, n - p) + 1)).
    """
    pm = _as_pm1(kernels)
    k, n = pm.shape
    plus = (pm > 0).sum(axis=1)
    return int(min(k * n, n + int((np.minimum(plus, n - plus) + 1).sum())))


def parent_field_bits(kernels_per_group: int) -> int:
    """Bits of the parent field every kernel carries: a kernel of the group, or none.

    ceil(log2(K + 1)) for K kernels per group; 0 when K = 1 (nothing to reuse, known from
    the layer shape).
    """
    return 0 if kernels_per_group <= 1 else int(kernels_per_group).bit_length()


def block_extra_bits(plan: ReusePlan, fmpus: int) -> np.ndarray:
    """Extra weight-stream bits of each weight block of one group, in streaming order.

    Blocks are ``fmpus`` consecutive kernels in ``plan.order``, as the cycle estimate uses.
    Every kernel carries a parent field (:func:`parent_field_bits`); a reusing kernel also
    carries a difference mask of n bits, 1 where it differs from its parent, so the FMPU
    knows which positions to add (its own weight bit gives the sign of the ±2 difference).
    So a reusing kernel streams 2n bits plus the field instead of n: kernel reuse trades
    adds for weight-stream bits.
    """
    k = plan.kernels
    per_kernel = np.where(plan.parent >= 0, plan.n, 0) + parent_field_bits(k)
    per_kernel = per_kernel[plan.order]
    blocks = -(-k // fmpus)
    pad = blocks * fmpus - k
    return (
        np.concatenate([per_kernel, np.zeros(pad, dtype=np.int64)])
        .reshape(blocks, fmpus)
        .sum(axis=1)
        .astype(np.int64)
    )


@dataclass(frozen=True)
class LayerSaving:
    """Kernel-reuse savings of one conv or dense layer."""

    name: str
    kind: str
    #: MACs without reuse (one add each on Hyperdrive)
    macs: int
    #: adds with reuse: sum over kernels of plan cost * output pixels
    macs_pruned: int
    #: weight-block positions (cycles per pixel step) the lock-step array can skip
    skippable_positions: int
    #: all weight-block positions: blocks * C_in/groups * kh * kw (dense: blocks * in)
    block_positions: int
    #: FMPUs per Tile-PU, i.e. kernels per weight block
    fmpus: int
    #: adds with the trivial ±1 rewrite and no reuse (:func:`trivial_cost` * output pixels)
    macs_trivial: int = 0
    #: kernels that reuse another kernel's output, and kernels whose output is reused
    reusing: int = 0
    parents: int = 0
    #: extra weight-stream bits per weight block (masks and parent fields), streaming order
    block_extra_bits: tuple[int, ...] = ()

    @property
    def saved(self) -> float:
        """Fraction of the layer's adds (energy) saved."""
        return 1.0 - self.macs_pruned / self.macs if self.macs else 0.0

    @property
    def cycles_fraction_skippable(self) -> float:
        """Fraction of the layer's cycles a lock-step array of ``fmpus`` FMPUs can skip.

        Excludes the one extra add per output pixel of each reusing kernel (at most one
        cycle per block and pixel step, against C_in/groups * kh * kw).
        """
        return self.skippable_positions / self.block_positions if self.block_positions else 0.0

    @property
    def saved_trivial(self) -> float:
        """Fraction of the adds the trivial ±1 rewrite alone saves (about half)."""
        return 1.0 - self.macs_trivial / self.macs if self.macs else 0.0

    @property
    def saved_vs_trivial(self) -> float:
        """Fraction of the trivial rewrite's adds that kernel reuse saves on top of it."""
        return 1.0 - self.macs_pruned / self.macs_trivial if self.macs_trivial else 0.0

    @property
    def extra_weight_bits(self) -> int:
        """Weight-stream bits kernel reuse adds to the layer (masks and parent fields)."""
        return int(sum(self.block_extra_bits))


def _kernel_geometry(info: LayerInfo) -> tuple[int, int, int, tuple[int, ...]]:
    """(groups, kernels per group, kernel length, expected weight shape) of a conv/dense."""
    layer = info.layer
    if layer.kind == "conv":
        kh, kw = layer.kernel
        cin_g = info.in_shapes[0].channels // layer.groups
        kg = info.out_shape.channels // layer.groups
        return layer.groups, kg, cin_g * kh * kw, (info.out_shape.channels, cin_g, kh, kw)
    n = info.in_shapes[0].elements
    return 1, info.out_shape.channels, n, (info.out_shape.channels, n)


def layer_savings(
    net: ShapedNetwork,
    weights: dict[str, np.ndarray] | None = None,
    seed: int = 0,
    fmpus: int = 16,
    method: Method = "mst",
    negate: bool = False,
) -> list[LayerSaving]:
    """Kernel-reuse savings of every conv and dense layer of ``net``, in layer order.

    Kernels come from ``weights[layer_name]`` (shape (C_out, C_in/groups, kh, kw), dense
    (out, in); signs taken, zeros count as +1) or, for layers not in ``weights``, are drawn
    ±1 from ``numpy.random.default_rng((seed, layer_index))``, so each layer's draw does not
    depend on which other layers were given. Each group gets its own :func:`reuse_plan`.
    ``fmpus`` is the number of kernels per weight block for the cycle estimate; ``method``
    and ``negate`` are passed to :func:`reuse_plan`.
    """
    weights = weights or {}
    out: list[LayerSaving] = []
    for info in net.infos:
        if info.layer.kind not in ("conv", "dense"):
            continue
        pm = layer_kernels(info, weights, seed)
        pixels = info.out_shape.pixels
        pruned = skip = positions = trivial = reusing = parents = 0
        extra: list[np.ndarray] = []
        for g in range(len(pm)):
            plan = reuse_plan(pm[g], method, negate)
            pruned += plan.total_pruned * pixels
            trivial += trivial_cost(pm[g]) * pixels
            s, p = _group_skippable(pm[g], plan, fmpus)
            skip += s
            positions += p
            reusing += int((plan.parent >= 0).sum())
            parents += len(np.unique(plan.parent[plan.parent >= 0]))
            extra.append(block_extra_bits(plan, fmpus))
        out.append(
            LayerSaving(
                info.layer.name, info.layer.kind, info.macs, pruned, skip, positions, fmpus,
                trivial, reusing, parents, tuple(int(b) for b in np.concatenate(extra)),
            )
        )  # fmt: skip
    return out


def layer_kernels(
    info: LayerInfo, weights: dict[str, np.ndarray] | None = None, seed: int = 0
) -> np.ndarray:
    """±1 kernels of a conv/dense layer as int8 (groups, kernels per group, n).

    From ``weights[layer_name]`` (shape (C_out, C_in/groups, kh, kw), dense (out, in); signs
    taken, zeros count as +1) or drawn from ``numpy.random.default_rng((seed, layer
    index))``, so each layer's draw does not depend on which other layers were given and
    every technique sees the same kernels. n runs over (input channel, tap), taps fastest.
    """
    groups, kg, n, shape = _kernel_geometry(info)
    name = info.layer.name
    if weights and name in weights:
        w = np.asarray(weights[name])
        if w.size != int(np.prod(shape)):
            raise ValueError(f"weights for {name!r} have shape {w.shape}, expected {shape}")
        return _as_pm1(w).reshape(groups, kg, n)
    rng = np.random.default_rng((seed, info.index))
    return rng.integers(0, 2, size=(groups, kg, n), dtype=np.int8) * 2 - 1


def network_saved(savings: list[LayerSaving]) -> float:
    """Fraction of all conv/dense adds saved over a network: 1 - sum pruned / sum MACs."""
    macs = sum(s.macs for s in savings)
    return 1.0 - sum(s.macs_pruned for s in savings) / macs if macs else 0.0


def load_weights(path: str | Path, name: str | None = None) -> dict[str, np.ndarray]:
    """Layer weights from a file, keyed by layer name, for :func:`layer_savings`.

    ``.npz``: one array per layer name. ``.npy``: a single layer, keyed ``name`` (default:
    the file stem). ``.onnx``: see :func:`weights_from_onnx`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".npy", ".onnx"):
        raise InputError(
            f"unsupported weight file {path.name!r}: expected .npz, .npy or .onnx",
            file=str(path),
            key="pruning_weights",
        )
    if suffix != ".onnx":
        arrays = load_arrays(path, key="pruning_weights")
        return {name or path.stem: arrays[""]} if "" in arrays else arrays
    try:
        return weights_from_onnx(path)
    except InputError:
        raise
    except Exception as exc:  # not a readable model: protobuf errors...
        raise InputError(
            f"cannot read the weights ({exc.__class__.__name__}: {' '.join(str(exc).split())}); "
            f"expected a {suffix} file of numeric arrays",
            file=str(path),
            key="pruning_weights",
        ) from None


def weights_from_onnx(path: str | Path) -> dict[str, np.ndarray]:
    """Weights of the Conv, Gemm and MatMul nodes of an ONNX model, keyed by node name.

    Each node maps to its weight initializer (input 1), as (out, ...) : Gemm weights are
    transposed when ``transB`` is 0 and MatMul weights always (ONNX stores them (in, out)).
    A node without a name is keyed by its first output. For convenience a weight whose
    initializer is called ``<layer>.weight`` (a PyTorch export without BN folding) is also
    keyed ``<layer>``, which matches the zoo's torchvision layer names. Needs ``onnx``.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("reading ONNX weights needs the 'onnx' package") from exc
    with open_input(
        path, limit=limits.MAX_WEIGHT_BYTES, what="weight file", key="pruning_weights"
    ) as (handle, _):
        graph = onnx.load_model_from_string(handle.read()).graph
    inits = {init.name: init for init in graph.initializer}
    budget = [limits.MAX_WEIGHT_BYTES]
    out: dict[str, np.ndarray] = {}
    aliases: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.input) < 2:
            continue
        init = inits.get(node.input[1])
        if init is None:
            continue
        if init.data_location == onnx.TensorProto.EXTERNAL:
            init.raw_data = read_external_data(init, Path(path), budget)
            init.data_location = onnx.TensorProto.DEFAULT
            del init.external_data[:]
        w = numpy_helper.to_array(init)
        if node.op_type == "MatMul" or (
            node.op_type == "Gemm" and not any(a.name == "transB" and a.i for a in node.attribute)
        ):
            w = w.T
        out[node.name or node.output[0]] = w
        if init.name.endswith(".weight"):
            aliases[init.name.removesuffix(".weight")] = w
    for key, w in aliases.items():
        out.setdefault(key, w)
    return out


@lru_cache(maxsize=32)
def kernel_reuse_savings(
    net: ShapedNetwork, weights_path: str | None, seed: int, fmpus: int
) -> tuple[tuple[str, Pruning], ...]:
    """Per conv/dense layer, the Pruning the plan applies: MACs saved, cycles skippable, and
    the costs (parent reads, masks and parent fields in the weight stream).

    Cached per process because the MST search is the expensive part of a sweep point.
    """
    weights = load_weights(weights_path) if weights_path else None
    try:
        savings = layer_savings(net, weights, seed, fmpus)
    except ValueError as exc:  # weights that do not match the network's layers
        if weights_path is None:
            raise
        raise InputError(str(exc), file=weights_path, key="pruning_weights") from None
    return tuple(
        (
            s.name,
            Pruning(
                saved=s.saved,
                skippable=s.cycles_fraction_skippable,
                reusing=s.reusing,
                parents=s.parents,
                block_bits=s.block_extra_bits,  # extras only: the plan adds the kernels
            ),
        )
        for s in savings
    )
