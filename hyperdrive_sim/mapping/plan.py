"""The Plan: the single description of what work exists, consumed by every evaluator.

``build_plan`` places each layer (tiled over the mesh, or on the root chip after a
cross-chip reduction), derives each chip's share, halo, weight blocks and FMM need, and
collects every reason the network does not fit instead of simulating it silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Literal

import numpy as np

from hyperdrive_sim.errors import MappingError
from hyperdrive_sim.mapping.costs import (
    COUNT_FIELDS,
    LAYOUT_KINDS,
    NO_PRUNING,
    ChipWork,
    Precision,
    Pruning,
    conv_blocks,
    layer_work,
)
from hyperdrive_sim.mapping.partition import (
    Gather,
    arrival_times,
    block_owners,
    channel_owners,
    link_loads,
    multicast,
    owned,
    scaled,
    unicast,
)
from hyperdrive_sim.mapping.tiling import DIRECTIONS, Halo, Tiling, halo, lockstep_interior_steps
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.techniques.effects import weight_technique_effects
from hyperdrive_sim.techniques.weight_cache import steady_state_hits
from hyperdrive_sim.workload.layers import INPUT, Layer, Shape
from hyperdrive_sim.workload.network import LayerInfo, ShapedNetwork

Placement = Literal["tiled", "root", "channel"]  # the pipeline labels stages instead
ROOT = 0


@dataclass(frozen=True, eq=False)
class LayerPlan:
    """One layer on the mesh. Arrays are indexed by chip (row-major)."""

    info: LayerInfo
    placement: Placement
    work: ChipWork
    #: halo bits chip c receives from its neighbour in DIRECTIONS[d]: ``halo_bits[c, d]``
    halo_bits: np.ndarray
    #: True when the halo comes with the image from off-chip rather than from neighbours
    halo_offchip: bool
    #: phases per chip: one per weight block, or 1 for a weightless layer
    phases: int
    #: cycles of one phase on each chip, and the part of it that needs the halo
    phase_cycles: np.ndarray
    phase_border_cycles: np.ndarray
    fmm_need_bits: np.ndarray
    halo_need_bits: np.ndarray
    #: per weight block: served from the cross-frame weight cache instead of off-chip
    cached_blocks: np.ndarray
    #: output channels each phase computes (None: one phase computing every channel)
    phase_channels: np.ndarray | None = None
    #: channel partitioning: the chip computing each weight block (None: every chip)
    block_owner: np.ndarray | None = None
    #: channel partitioning: phases of each chip (None: ``phases`` on every chip)
    chip_phases: np.ndarray | None = None
    #: feature-map moves before the layer to change partitioning (None: none)
    gather: Gather | None = None

    @property
    def name(self) -> str:
        return self.info.layer.name

    @property
    def index(self) -> int:
        return self.info.index

    @property
    def weight_bits(self) -> int:
        return int(self.work.blocks.sum())


@dataclass(frozen=True, eq=False)
class Plan:
    network: ShapedNetwork
    hw: Hardware
    layers: tuple[LayerPlan, ...]
    image_in_bits: np.ndarray
    result_out_bits: np.ndarray
    problems: tuple[str, ...]
    #: organisation "pipeline": the chip groups and their layers (mapping/pipeline.py);
    #: None for the tiled organisation, where every layer uses the whole mesh
    stages: tuple | None = None

    @property
    def fits(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        """The first problem, and how many more there are."""
        if not self.problems:
            return ""
        more = len(self.problems) - 1
        return self.problems[0] + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")

    @cached_property
    def macs(self) -> int:
        return int(sum(lp.work.macs.sum() for lp in self.layers))


def _chip_name(chip: int, cols: int) -> str:
    return f"chip ({chip // cols},{chip % cols})"


def _placement(info: LayerInfo, placements: dict[str, Placement], mesh) -> Placement:
    sources = {placements[ref] for ref in info.layer.inputs}
    if info.layer.spatial and sources == {"tiled"}:
        return "tiled"
    if broadcasts(info, placements, mesh):
        return "tiled"
    if sources == {"root"} or (not info.layer.spatial and sources == {"tiled"}):
        return "root"
    raise MappingError(
        "mixes a tensor reduced onto one chip with tiled maps; only an upsample of the "
        "reduced tensor (which broadcasts it onto the mesh) can join them",
        key=f"layer {info.layer.name!r}",
    )


def broadcasts(info: LayerInfo, placements: dict[str, Placement], mesh) -> bool:
    """True for a layer that brings a tensor on the root chip back onto a tiled map: an
    upsample to the size of a tiled map (a global-context branch: pooled to 1x1, convolved,
    stretched back) whose output covers the mesh, or the gate of a scale. The root
    multicasts the tensor to every chip, and each chip computes its own tile. (An upsample
    by a factor after a reduction stays on the root.)"""
    layer = info.layer
    if placements[layer.inputs[0]] != "root":  # (one chip: a broadcast of no messages)
        return False
    if layer.kind == "scale":  # a squeeze-and-excitation gate on a tiled map
        return placements[layer.inputs[1]] == "tiled"
    return (
        layer.kind == "upsample"
        and placements.get(getattr(layer, "size_of", None)) == "tiled"
        and _tiling(info.out_shape, mesh).covers_mesh
    )


def _local_bits(shape: Shape, placement: Placement, hw: Hardware, bits: int) -> np.ndarray:
    """Bits of a tensor held by each chip, at ``bits`` per value."""
    held = np.zeros(hw.chips, dtype=np.int64)
    if placement == "tiled":
        held[:] = _tiling(shape, hw.mesh).chip_pixels() * shape.channels
    else:
        held[ROOT] = shape.elements
    return held * bits


@lru_cache(maxsize=4096)
def _tiling(shape: Shape, mesh) -> Tiling:
    return Tiling.of(shape, mesh)


@dataclass(frozen=True, eq=False)
class LayerGeometry:
    """Where one layer's maps live: placement, output share, halo and memory need per chip."""

    info: LayerInfo
    placement: Placement
    out_h: np.ndarray
    out_w: np.ndarray
    in_elements: np.ndarray
    reduce: bool
    halo: Halo | None
    halo_bits: np.ndarray
    from_image: bool
    fmm_need_bits: np.ndarray
    halo_need_bits: np.ndarray
    #: fused pooling: output pixels a conv stores in the FMM (None: all of them)
    stored_pixels: np.ndarray | None = None
    #: fused pooling: output pixels whose windows a pool reads from the FMM (None: all)
    read_pixels: np.ndarray | None = None
    #: channel partitioning: output channels each chip computes (None: spatial)
    owned: np.ndarray | None = None
    #: channel partitioning: the chip computing each weight block (None: every chip)
    block_owner: np.ndarray | None = None
    #: feature-map bits moved before the layer to change partitioning (None: none)
    gather: Gather | None = None


@dataclass(frozen=True, eq=False)
class Geometry:
    """The memory side of a plan, without any timing: what ``fmm_peak`` needs."""

    layers: tuple[LayerGeometry, ...]
    image_in_bits: np.ndarray
    result_out_bits: np.ndarray
    #: problems other than memory capacity (tiling, halos from beyond a neighbour)
    problems: tuple[str, ...]
    bits: dict[str, int]


def geometry(net: ShapedNetwork, hw: Hardware, switch: int | None = -1) -> Geometry:
    """Place and tile every layer of ``net`` on ``hw`` and track the live maps' bits per chip.

    Layers from index ``switch`` on are channel partitioned (mapping/partition.py); None
    keeps every layer spatial, and the default -1 follows ``system.partitioning``.

    A layer's FMM need on a chip is every tensor still live while it runs (its inputs, its
    output, maps kept for later readers) plus its halo unless a border buffer holds it.
    With ``chip.fuse_pooling``, a conv fused with its pool holds only the conv outputs
    ``_kept_pixels`` names, and the pooled output already while the conv runs.
    """
    mesh, chip, chips = hw.mesh, hw.chip, hw.chips
    if switch == -1:
        switch = partition_switch(net, hw)
    bits = _precisions(net, chip)
    early: list[str] = []
    if switch is not None and (chip.pruning != "none" or chip.kernel_dictionary_bits):
        early.append(
            "kernel reuse and the kernel dictionary are modelled for spatial partitioning "
            "only; set system.partitioning: spatial"
        )
    placements: dict[str, Placement] = {INPUT: "tiled"}
    owners: dict[str, np.ndarray] = {}  # channel-partitioned tensors: the chip of each channel
    problems: list[str] = early
    image = _tiling(net.input_shape, mesh)
    if not image.covers_mesh:
        problems.append(
            f"the input of {net.input_shape.height} rows x {net.input_shape.width} columns "
            f"cannot be tiled over a {mesh} mesh (rows x cols): some chips would get no pixels"
        )
        return Geometry((), _zeros(chips), _zeros(chips), tuple(problems), bits)
    image_in = image.chip_pixels() * net.input_shape.channels * bits[INPUT]
    result_out = _zeros(chips)
    local: dict[str, np.ndarray] = {INPUT: _local_bits(net.input_shape, "tiled", hw, bits[INPUT])}
    layers: list[LayerGeometry] = []
    views, expires = _lifetimes(net)
    live = local[INPUT].copy()
    fused = _fused_pairs(net) if chip.fuse_pooling else {}
    fused_pools: set[str] = set()

    for info in net.infos:
        layer, out = info.layer, info.out_shape
        if switch is not None and info.index >= switch:
            lg = _channel_layer(info, hw, placements, owners, local, bits, problems)
            if lg is not None:
                if layer.name not in views:
                    live = live + local[layer.name]
                received = lg.gather.bits.sum(axis=0) if lg.gather is not None else 0
                lg = replace(lg, fmm_need_bits=live + received)
                for name in expires.get(info.index, ()):
                    live = live - local[name]
                layers.append(lg)
                continue
        broadcast = broadcasts(info, placements, mesh)
        place = _placement(info, placements, mesh)
        placements[layer.name] = place
        halo_bits = np.zeros((chips, len(DIRECTIONS)), dtype=np.int64)
        from_image = layer.inputs == (INPUT,)
        reduce = False
        h: Halo | None = None
        gather = None
        received = 0
        if broadcast:  # the root's tensor reaches every chip; no halo after that
            tiling = _tiling(out, mesh)
            out_h = np.repeat(tiling.row_sizes, mesh.cols)
            out_w = np.tile(tiling.col_sizes, mesh.rows)
            in_elements = _zeros(chips)
            gather = multicast(local[layer.inputs[0]], mesh)
            received = gather.bits.sum(axis=0)
        elif place == "tiled":
            tiling = _tiling(out, mesh)
            if not tiling.covers_mesh:
                problems.append(
                    f"layer {layer.name!r}: its output map of {out.height} rows x {out.width} "
                    f"columns has fewer rows or columns than the {mesh} mesh (rows x cols)"
                )
                local[layer.name] = _zeros(chips)
                continue
            out_h = np.repeat(tiling.row_sizes, mesh.cols)
            out_w = np.tile(tiling.col_sizes, mesh.rows)
            in_elements = _zeros(chips)
            if layer.arity == 1:
                in_tiling = _tiling(info.in_shapes[0], mesh)
                h = halo(layer, tiling, in_tiling)
                if h.too_far.any() and not from_image:  # image halos come from off-chip
                    bad = int(np.flatnonzero(h.too_far)[0])
                    problems.append(
                        f"layer {layer.name!r}: {_chip_name(bad, mesh.cols)} needs halo pixels "
                        f"from beyond its neighbours (the {mesh} mesh is too fine for this map)"
                    )
                halo_bits = h.pixels * info.in_shapes[0].channels * bits[layer.inputs[0]]
        else:
            src = layer.inputs[0]
            reduce = placements[src] == "tiled"
            out_h, out_w = _zeros(chips), _zeros(chips)
            out_h[ROOT], out_w[ROOT] = out.height, out.width  # 1x1 for dense / global_pool
            in_elements = local[src] // bits[src]
        local[layer.name] = _local_bits(out, place, hw, bits[layer.name])
        stored = read = None
        pooled = _zeros(chips)  # the fused pool's output, written while the conv runs
        pool = fused.get(layer.name)
        if pool is not None and place == "tiled":
            pool_tiling = _tiling(pool.out_shape, mesh)
            if pool_tiling.covers_mesh:  # else the pool is reported and nothing is fused
                stored = _kept_pixels(pool.layer, pool_tiling, tiling)
                local[layer.name] = stored * out.channels * bits[layer.name]
                pooled = _local_bits(pool.out_shape, "tiled", hw, bits[pool.layer.name])
                fused_pools.add(pool.layer.name)
        if layer.name in fused_pools and h is not None:
            read = out_h * out_w - h.interior_pixels  # border outputs, pooled after the halo
        if layer.name not in views:
            live = live + local[layer.name]
        halo_need = halo_bits.sum(axis=1)
        fmm_need = live + pooled + received + (halo_need if chip.border_buffer_bits == 0 else 0)
        for name in expires.get(info.index, ()):
            live = live - local[name]
        if from_image:
            image_in = image_in + halo_need
        layers.append(
            LayerGeometry(
                info, place, out_h, out_w, in_elements, reduce, h, halo_bits, from_image,
                fmm_need, halo_need, stored, read, gather=gather,
            )
        )  # fmt: skip
    for name in net.outputs:
        result_out = result_out + local[name]
    batch = hw.system.batch
    if batch > 1:  # every frame of a batch holds and moves its own maps
        layers = [
            replace(
                lg,
                halo_bits=lg.halo_bits * batch,
                fmm_need_bits=lg.fmm_need_bits * batch,
                halo_need_bits=lg.halo_need_bits * batch,
                gather=None if lg.gather is None else scaled(lg.gather, batch),
            )
            for lg in layers
        ]
        image_in, result_out = image_in * batch, result_out * batch
    return Geometry(tuple(layers), image_in, result_out, tuple(problems), bits)


def _channel_layer(
    info: LayerInfo,
    hw: Hardware,
    placements: dict[str, Placement],
    owners: dict[str, np.ndarray],
    local: dict[str, np.ndarray],
    bits: dict[str, int],
    problems: list[str],
) -> LayerGeometry | None:
    """One layer of the channel-partitioned part (see mapping/partition.py), or None when
    the spatial rules apply (a reduction of a tiled map, layers on the root chip).

    Sets the layer's placement, owners and local bits; the caller adds the FMM need.
    """
    layer, out, chips = info.layer, info.out_shape, hw.chips
    name, kind, mesh = layer.name, layer.kind, hw.mesh
    srcs = [placements[ref] for ref in layer.inputs]
    zeros_h = np.zeros((chips, len(DIRECTIONS)), dtype=np.int64)
    full = np.full(chips, 1, dtype=np.int64)

    def done(place, owner, gather, out_h, out_w, in_elements, block_owner=None):
        placements[name] = place
        if owner is not None:
            owners[name] = owner
            local[name] = owned(owner, chips) * out.height * out.width * bits[name]
        else:
            local[name] = _local_bits(out, place, hw, bits[name])
        return LayerGeometry(
            info, place, out_h, out_w, in_elements, False, None, zeros_h, False,
            _zeros(chips), _zeros(chips), owned=None if owner is None else owned(owner, chips),
            block_owner=block_owner, gather=gather,
        )  # fmt: skip

    if kind == "scale" and srcs[1] == "channel":  # each chip scales its own channels
        gate, x = layer.inputs
        h, w = np.full(chips, out.height), np.full(chips, out.width)
        if srcs[0] == "channel" and np.array_equal(owners[gate], owners[x]):
            return done("channel", owners[x], None, h, w, _zeros(chips))  # already together
        # the gate (on the root, or dealt otherwise than the map) goes to every chip
        return done("channel", owners[x], multicast(local[gate], mesh), h, w, _zeros(chips))
    if "root" in srcs:
        return None
    src = layer.inputs[0]
    if not layer.spatial:  # dense, global pool: a tiled map is reduced as usual
        if srcs[0] != "channel":
            return None
        if kind == "global_pool":  # every chip sums its own channels over the whole map
            return done("channel", owners[src], None, full, full, local[src] // bits[src])
        # dense: the slices go to the root chip, which computes the layer
        received = np.zeros((chips, chips), dtype=np.int64)
        received[:, ROOT] = local[src]
        gather = unicast(received, mesh)
        h, w = _zeros(chips), _zeros(chips)
        h[ROOT] = w[ROOT] = 1
        elements = _zeros(chips)
        elements[ROOT] = info.in_shapes[0].elements
        return done("root", None, gather, h, w, elements)
    h, w = np.full(chips, out.height), np.full(chips, out.width)
    if kind in LAYOUT_KINDS or (
        kind == "add" and not _same_owners([owners.get(r) for r in layer.inputs])
    ):
        problems.append(
            f"layer {name!r}: a {kind} of channel-partitioned maps is not supported by "
            "channel partitioning (use partitioning: spatial, or hybrid)"
        )
        return done("channel", np.zeros(out.channels, dtype=np.int64), None, h, w, _zeros(chips))
    if kind == "add":
        return done("channel", owners[layer.inputs[0]], None, h, w, _zeros(chips))
    depthwise = kind == "conv" and layer.groups == info.in_shapes[0].channels == out.channels
    blocks = _phase_channels(info, hw.chip) if kind == "conv" else None
    if kind == "conv" and not depthwise:  # every chip reads every input channel
        block_owner = block_owners(len(blocks), chips)
        gather = multicast(local[src], mesh, receivers=owned(block_owner, chips) > 0)
        return done("channel", channel_owners(blocks, block_owner), gather, h, w, _zeros(chips),
                    block_owner)  # fmt: skip
    # depthwise conv, pool, upsample: each chip needs only its own channels
    if srcs[0] == "channel":
        owner = owners[src]
        gather = None
    else:  # at the switch: deal blocks of C channels in turn, sent from every tile
        group = conv_blocks(out.channels, 1, hw.chip.fmpus_per_tile)
        owner = channel_owners(group, block_owners(len(group), chips))
        pixels = _tiling(info.in_shapes[0], mesh).chip_pixels()
        payload = np.outer(pixels, owned(owner, chips)) * bits[src]
        gather = unicast(payload, mesh)
    block_owner = owner if kind == "conv" else None  # depthwise: one channel per block
    return done("channel", owner, gather, h, w, _zeros(chips), block_owner)


def partition_switch(net: ShapedNetwork, hw: Hardware) -> int | None:
    """Index of the first channel-partitioned layer under ``system.partitioning``.

    spatial: None; channel: 0 (from the image on); hybrid: among the cuts with one live map
    after which the first layer's share per chip no longer fills the Tile-PU array (where
    spatial tiling starts to leave Tile-PUs idle), and no switch at all, the one whose plan
    fits and has the smallest estimated frame time (``estimate_cycles``).
    """
    mode = hw.system.partitioning
    if mode == "spatial":
        return None
    if mode == "channel":
        return 0
    small = []
    for k, _ in single_map_cuts(net):
        out = net.infos[k].out_shape
        if _tiling(out, hw.mesh).chip_pixels().max() < hw.chip.tiles:
            small.append(k)
    if not small:
        return None
    # the layers before a switch are the spatial plan's: price them once
    spatial = geometry(net, hw, switch=None)
    before = np.zeros(len(net.infos) + 1, dtype=np.int64)
    for g in spatial.layers:
        before[g.info.index + 1] = estimate_cycles(spatial, hw, [g])
    before = np.cumsum(before)
    best: tuple[bool, int, int | None] | None = None
    for k in (None, *small):
        geo = spatial if k is None else geometry(net, hw, switch=k)
        if geo.problems or not geo.layers:
            continue
        start = len(net.infos) if k is None else k
        tail = [g for g in geo.layers if g.info.index >= start]
        cycles = int(before[start]) + estimate_cycles(geo, hw, tail)
        key = (bool(capacity_problems(geo, hw)), cycles, k)
        if best is None or key[:2] < best[:2]:
            best = key
    return None if best is None else best[2]


def single_map_cuts(net: ShapedNetwork) -> list[tuple[int, str]]:
    """(k, tensor) for every layer index k where exactly one tensor, a spatial map, is
    live between layer k-1 and k (the input counts as produced before layer 0)."""
    last = dict(net.last_use)
    spatial = {INPUT: True, **{i.layer.name: i.layer.spatial for i in net.infos}}
    produced = {INPUT: -1, **{i.layer.name: i.index for i in net.infos}}
    cuts = []
    for k in range(len(net.infos)):
        live = [t for t, at in produced.items() if at < k and last.get(t, -1) >= k]
        if len(live) == 1 and spatial[live[0]]:
            cuts.append((k, live[0]))
    return cuts


def estimate_cycles(geo: Geometry, hw: Hardware, layers: list[LayerGeometry] | None = None) -> int:
    """A quick time of ``layers`` (default: all of ``geo``) for choosing a partitioning:
    every layer's slowest chip, plus each move's busiest link (or its longest leg alone,
    when that is longer)."""
    total = 0
    for g in geo.layers if layers is None else layers:
        precision = Precision(geo.bits[g.info.layer.inputs[0]], geo.bits[g.info.layer.name])
        work = layer_work(
            g.info, hw.chip, g.out_h, g.out_w, g.in_elements, g.reduce, precision,
            owned=g.owned, block_owner=g.block_owner,
        )  # fmt: skip
        total += int(work.cycles.max())
        if g.gather is not None:
            total += gather_cycles(g.gather, hw)
    return total


def gather_cycles(gather: Gather, hw: Hardware) -> int:
    """Cycles of a move with every share ready at once: the busiest link's load plus one
    latency, or the longest leg chain alone, whichever is longer."""
    bpc, lat = hw.link_bits_per_cycle, hw.link_latency_cycles
    cycles = lambda b: math.ceil(b / bpc)  # noqa: E731
    loads = link_loads(gather, cycles)
    busiest = max(loads.values(), default=0) + lat
    alone = arrival_times(gather, np.zeros(hw.chips, dtype=np.int64), cycles, lat)
    return max(busiest, int(alone.max(initial=0)))


def _same_owners(arrays: list[np.ndarray | None]) -> bool:
    first = arrays[0]
    return first is not None and all(a is not None and np.array_equal(a, first) for a in arrays)


def capacity_problems(geo: Geometry, hw: Hardware) -> list[str]:
    """One problem per overflowing memory (FMM, border buffer), leading with the peak need.

    The peak is the largest need over all layers and chips: the smallest capacity that fits.
    """
    chip, cols = hw.chip, hw.mesh.cols
    out = []
    memories = [("feature-map memory (FMM)", "fmm_need_bits", chip.fmm_bits)]
    if chip.border_buffer_bits:
        memories.append(("border buffer", "halo_need_bits", chip.border_buffer_bits))
    for memory, field, capacity in memories:
        needs = [getattr(lg, field) for lg in geo.layers]
        over = [
            lg.info.layer.name
            for lg, n in zip(geo.layers, needs, strict=True)
            if n.max() > capacity
        ]
        if not over:
            continue
        k = int(np.argmax([int(n.max()) for n in needs]))
        worst = int(np.argmax(needs[k]))
        peak = int(needs[k][worst])
        excess = peak - capacity
        count = f"{len(over)} layer{'s' * (len(over) > 1)} overflow{'s' * (len(over) == 1)}"
        out.append(
            f"needs {peak:,} bits of {memory} at layer {geo.layers[k].info.layer.name!r} on "
            f"{_chip_name(worst, cols)}, the chip has {capacity:,} (over by {excess:,} bits, "
            f"{100 * excess / capacity:.1f}%); {count}, first {over[0]!r}"
        )
    return out


def build_plan(net: ShapedNetwork, hw: Hardware) -> Plan:
    """Map every layer of ``net`` onto ``hw``; problems make ``fits`` false, not exceptions."""
    if hw.system.organisation == "pipeline":
        from hyperdrive_sim.mapping.pipeline import pipeline_plan

        return pipeline_plan(net, hw)
    if hw.system.fusion == "depth_first":
        from hyperdrive_sim.mapping.depth_first import depth_first_plan

        return depth_first_plan(net, hw)
    return tiled_plan(net, hw)


def tiled_plan(net: ShapedNetwork, hw: Hardware) -> Plan:
    """Every layer over the whole mesh, one layer at a time (``build_plan``'s tiled case)."""
    mesh, chip, chips = hw.mesh, hw.chip, hw.chips
    geo = geometry(net, hw)
    if not geo.layers and geo.problems:
        return Plan(net, hw, (), _zeros(chips), _zeros(chips), geo.problems)
    bits = geo.bits
    savings = _pruning(net, chip)
    layers: list[LayerPlan] = []
    for g in geo.layers:
        info, layer = g.info, g.info.layer
        precision = Precision(bits[layer.inputs[0]], bits[layer.name])
        work = layer_work(
            info, chip, g.out_h, g.out_w, g.in_elements, g.reduce, precision,
            savings.get(layer.name, NO_PRUNING), stored_pixels=g.stored_pixels,
            read_pixels=g.read_pixels, owned=g.owned, block_owner=g.block_owner,
        )  # fmt: skip
        if hw.system.batch > 1:
            work = batched(work, hw.system.batch)
        if work.reduce_len:
            work = _with_reduction_adds(work, mesh)
        phases = max(1, len(work.blocks))
        chip_phases = None
        if g.block_owner is not None:  # each chip computes its own blocks only
            chip_phases = np.bincount(g.block_owner, minlength=chips).astype(np.int64)
            phases = max(1, int(chip_phases.max()))
        per_chip = phases if chip_phases is None else np.maximum(chip_phases, 1)
        # whole phases: cycles that do not divide into them (kernel reuse's extra pixel
        # steps) round the phase up rather than drop the remainder from the schedule
        phase_cycles = -(-work.cycles // per_chip)
        phase_border = _zeros(chips)
        if g.halo is not None and g.halo_bits.any():
            units = (chip.tile_rows, chip.tile_cols)
            steps = np.maximum(-(-g.out_h // units[0]) * -(-g.out_w // units[1]), 1)
            free = lockstep_interior_steps(
                layer, _tiling(info.out_shape, mesh), _tiling(info.in_shapes[0], mesh), units
            )
            phase_border = -(-phase_cycles * (steps - free) // steps)
        layers.append(
            LayerPlan(
                info,
                g.placement,
                work,
                g.halo_bits,
                g.from_image,
                phases,
                phase_cycles,
                phase_border,
                g.fmm_need_bits,
                g.halo_need_bits,
                np.zeros(len(work.blocks), dtype=bool),
                _phase_channels(info, chip) if phases > 1 and chip_phases is None else None,
                g.block_owner,
                chip_phases,
                g.gather,
            )
        )
    if chip.weight_cache_bits:
        layers = _with_weight_cache(layers, chip)
    problems = (*capacity_problems(geo, hw), *geo.problems)
    return Plan(net, hw, tuple(layers), geo.image_in_bits, geo.result_out_bits, problems)


def next_image_layer(plan: Plan) -> np.ndarray:
    """Per chip: the layer after which the next frame's image tile may be loaded.

    With ``frames`` back to back, the next tile waits until it fits in the FMM beside what
    the running frame still holds: after the last layer whose need plus the tile exceeds the
    FMM (-1: it fits from the running frame's first layer on, so at most one image waits).
    """
    if not plan.layers:
        return np.full(plan.hw.chips, -1, dtype=np.int64)
    need = np.stack([lp.fmm_need_bits for lp in plan.layers])
    over = need + plan.image_in_bits[None, :] > plan.hw.chip.fmm_bits
    last = len(plan.layers) - 1 - np.argmax(over[::-1], axis=0)
    return np.where(over.any(axis=0), last, -1).astype(np.int64)


def batched(work: ChipWork, batch: int) -> ChipWork:
    """``work`` for ``batch`` frames per weight block: every per-pixel count and cycle is
    repeated per frame; each block is still written to the weight buffer once."""
    scaled = {name: getattr(work, name) * batch for name in COUNT_FIELDS}
    scaled["wbuf_write_bits"] = work.wbuf_write_bits
    return replace(work, cycles=work.cycles * batch, reduce_len=work.reduce_len * batch, **scaled)


def _phase_channels(info: LayerInfo, chip) -> np.ndarray:
    """Output channels of each weight block of a conv or dense layer, in phase order."""
    groups = info.layer.groups if info.layer.kind == "conv" else 1
    return conv_blocks(info.out_shape.channels, groups, chip.fmpus_per_tile)


def streamed_halo_bits(consumer: LayerPlan, producer: LayerPlan) -> np.ndarray:
    """``bits[p, c, d]``: the part of ``consumer``'s halo computed in ``producer``'s phase p.

    With ``border_exchange: streamed`` a phase's border outputs leave when the phase ends;
    phase p computes ``phase_channels[p]`` of the producer's channels at every pixel, so it
    carries that share of every halo pixel. The parts sum to ``consumer.halo_bits``.
    """
    channels = consumer.info.in_shapes[0].channels
    per_channel, rest = np.divmod(consumer.halo_bits, channels)
    if rest.any():
        raise ValueError(f"halo of {consumer.name!r} is not a whole number of channels")
    split = producer.phase_channels
    if split is None or split.sum() != channels:
        return consumer.halo_bits[None].copy()
    return per_channel[None] * split[:, None, None]


def _with_weight_cache(layers: list[LayerPlan], chip) -> list[LayerPlan]:
    """Mark the blocks every chip's weight cache serves in a steady-state frame."""
    blocks = [(lp.name, k, int(b)) for lp in layers for k, b in enumerate(lp.work.blocks)]
    hits = steady_state_hits(blocks, chip.weight_cache_bits, chip.weight_cache_policy)
    out, start = [], 0
    for lp in layers:
        n = len(lp.work.blocks)
        out.append(replace(lp, cached_blocks=hits[start : start + n]))
        start += n
    return out


def reduction_receives(mesh) -> np.ndarray:
    """Partial vectors each chip receives in a reduction towards chip (0, 0).

    Rows reduce westwards into column 0, then column 0 reduces northwards into the root.
    """
    rows, cols = mesh.rows, mesh.cols
    got = np.zeros((rows, cols), dtype=np.int64)
    got[:, : cols - 1] += 1
    got[: rows - 1, 0] += 1
    return got.ravel()


def reduction_target(chip: int, cols: int) -> int | None:
    """The neighbour a chip sends its partial vector to, or None for the root."""
    r, c = divmod(chip, cols)
    if c > 0:
        return chip - 1
    return chip - cols if r > 0 else None


def _with_reduction_adds(work: ChipWork, mesh) -> ChipWork:
    extra = reduction_receives(mesh) * work.reduce_len
    return replace(work, fp16_adds=work.fp16_adds + extra)


def _precisions(net: ShapedNetwork, chip) -> dict[str, int]:
    """Bits per value of every tensor: activation_bits, or 1 in binary mode (where the
    image and the network outputs keep activation_bits if ``binary_keep_first_last``)."""
    full = chip.activation_bits
    bits = {INPUT: full, **{i.layer.name: full for i in net.infos}}
    if chip.activation_mode == "binary":
        keep = chip.binary_keep_first_last
        bits = {name: 1 for name in bits}
        if keep:
            bits[INPUT] = full
            bits.update(dict.fromkeys(net.outputs, full))
    return bits


def _pruning(net: ShapedNetwork, chip) -> dict[str, Pruning]:
    """Kernel-reuse and kernel-dictionary effects per layer (empty when both are off)."""
    return weight_technique_effects(net, chip)


def _lifetimes(net: ShapedNetwork) -> tuple[set[str], dict[int, list[str]]]:
    """Layout-only layers (views) and, per layer index, the tensors freed after it.

    A view (concat, slice, shuffle) holds no bits of its own; it keeps its inputs alive
    until its own last reader.
    """
    views = {i.layer.name for i in net.infos if i.layer.kind in LAYOUT_KINDS}
    last = dict(net.last_use)
    for info in reversed(net.infos):
        if info.layer.name in views:
            for ref in info.layer.inputs:
                last[ref] = max(last[ref], last[info.layer.name])
    expires: dict[int, list[str]] = {}
    for name, index in last.items():
        if name not in views:
            expires.setdefault(index, []).append(name)
    return views, expires


def _zeros(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.int64)


def _fused_pairs(net: ShapedNetwork) -> dict[str, LayerInfo]:
    """Convs that fused pooling applies to, each with its pool.

    A conv fuses when its only reader is the very next layer, a max or avg ``pool`` reading
    nothing else, and the conv is not a network output (nobody else needs its full map).
    """
    readers: dict[str, list[LayerInfo]] = {}
    for info in net.infos:
        for ref in info.layer.inputs:
            readers.setdefault(ref, []).append(info)
    pairs = {}
    for info in net.infos:
        name = info.layer.name
        users = readers.get(name, [])
        if info.layer.kind != "conv" or len(users) != 1 or name in net.outputs:
            continue
        (pool,) = users
        if pool.layer.kind == "pool" and pool.index == info.index + 1:
            pairs[name] = pool
    return pairs


def _windows_cover(lo: np.ndarray, hi: np.ndarray, size: int) -> np.ndarray:
    """Which of ``size`` input positions lie in at least one window [lo, hi)."""
    edges = np.zeros(size + 1, dtype=np.int64)
    np.add.at(edges, lo, 1)
    np.add.at(edges, hi, -1)
    return np.cumsum(edges[:-1]) > 0


def _axis_cover(
    out_bounds: np.ndarray, in_bounds: np.ndarray, in_size: int, window
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per chip position along one axis: input positions read by its output rows, and by
    its border output rows (those whose window leaves the chip's own input rows)."""
    cover, border = [], []
    for i in range(len(out_bounds) - 1):
        rows = np.arange(out_bounds[i], out_bounds[i + 1])
        lo, hi = window(rows, rows + 1, in_size)
        edge = (lo < in_bounds[i]) | (hi > in_bounds[i + 1])
        cover.append(_windows_cover(lo, hi, in_size))
        border.append(_windows_cover(lo[edge], hi[edge], in_size))
    return cover, border


def _kept_pixels(pool: Layer, out: Tiling, conv: Tiling) -> np.ndarray:
    """Conv output pixels each chip must store when its pool is fused (docs/model.md).

    A chip keeps an output of its own share when a neighbour's pool window reads it (it is
    sent as that neighbour's halo) or when one of its own border pool windows reads it (that
    window is completed only once the halo has arrived); every other output is pooled as
    its weight block is computed and never stored. Windows are products of a row and a
    column range, so both sets are unions of row-set x column-set products.
    """
    shape = conv.shape
    rows, rows_b = _axis_cover(out.row_bounds, conv.row_bounds, shape.height, pool.input_rows)
    cols, cols_b = _axis_cover(out.col_bounds, conv.col_bounds, shape.width, pool.input_cols)
    n_r, n_c = len(rows), len(cols)
    kept = np.zeros(n_r * n_c, dtype=np.int64)
    for r in range(n_r):
        ys = slice(conv.row_bounds[r], conv.row_bounds[r + 1])
        for c in range(n_c):
            xs = slice(conv.col_bounds[c], conv.col_bounds[c + 1])
            mask = np.outer(rows_b[r][ys], cols[c][xs]) | np.outer(rows[r][ys], cols_b[c][xs])
            for dr, dc in DIRECTIONS:
                if 0 <= r + dr < n_r and 0 <= c + dc < n_c:
                    mask |= np.outer(rows[r + dr][ys], cols[c + dc][xs])
            kept[r * n_c + c] = np.count_nonzero(mask)
    return kept
