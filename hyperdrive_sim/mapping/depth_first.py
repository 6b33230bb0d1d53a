"""The depth-first planner: the network's first layers run band by band (``system.fusion:
depth_first``), the rest layer by layer.

Each fused layer becomes one phase group per band (a LayerPlan named ``"<layer> band
k/B"``) with the rows, halo, FMM need and weight blocks of that band (mapping/bands.py), so
both evaluators time and count depth-first execution with their ordinary machinery: a
band's layer waits for its own band of the producer on its neighbours, its halo crosses the
links as any halo does, and its weight blocks are streamed as any blocks are. When the
fused stack's weights fit the weight buffer (``weight_buffer_blocks`` blocks of the
network's largest block) the first band streams them and later bands reuse them;
otherwise every band streams them again.

With ``fused_layers`` or ``band_rows`` 0 the planner chooses: among the stacks that end
where one map alone is live and after which the rest fits the FMM layer by layer, and the
band heights that fit, the plan with the lowest ``score``: the energy per frame as the
caller prices it (the planner dispatcher evaluates and prices each candidate); with
``fused_layers`` 0 the layer-by-layer plan competes when it fits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from hyperdrive_sim.mapping.bands import Bands, band_geometry, stack_cuts, stack_problem
from hyperdrive_sim.mapping.costs import (
    NO_PRUNING,
    NO_TECHNIQUES,
    Precision,
    WeightTechniques,
    largest_block_bits,
    layer_work,
)
from hyperdrive_sim.mapping.plan import (
    Geometry,
    LayerPlan,
    Plan,
    _fused_pairs,
    _phase_channels,
    _with_weight_cache,
    capacity_problems,
    geometry,
    tiled_plan,
)
from hyperdrive_sim.mapping.tiling import split
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.workload.layers import INPUT
from hyperdrive_sim.workload.network import ShapedNetwork

#: fitting band heights the planner prices per stack (the tallest that fit: shorter bands
#: only add weight re-streaming, halo latency and idle Tile-PU rows)
BAND_CHOICES = 3
#: stacks the planner tries beyond the shortest after which the rest fits
STACK_CHOICES = 3


def band_name(name: str, band: int, bands: int) -> str:
    """The plan's name of fused layer ``name`` in band ``band`` (0-based) of ``bands``."""
    return f"{name} band {band + 1}/{bands}"


@dataclass(frozen=True)
class Choice:
    """A fused stack and band height, with why it does not fit (empty: it fits)."""

    fused: int
    band_rows: int
    fmm_peak_bits: int
    problems: tuple[str, ...]


def stack_weights_resident(net: ShapedNetwork, hw: Hardware, fused: int) -> bool:
    """True when the fused stack's weights fit the weight buffer together."""
    chip = hw.chip
    capacity = chip.weight_buffer_blocks * largest_block_bits(net.infos, chip)
    return sum(i.weights for i in net.infos[:fused]) * chip.weight_bits <= capacity


def stack_bands(
    net: ShapedNetwork, hw: Hardware, geo: Geometry, fused: int, rows: int, check: bool = False
) -> Bands:
    """The band geometry of a stack of ``fused`` layers in bands of ``rows`` rows on ``hw``
    (``check``: only as far as needed to tell whether it fits the FMM)."""
    return band_geometry(
        net, hw.mesh, fused, rows, hw.system.band_overlap == "recompute", geo.bits,
        geo.image_in_bits, hw.chip.border_buffer_bits == 0,
        hw.chip.fmm_bits if check else None,
    )  # fmt: skip


def _memory_problems(bands: Bands, geo: Geometry, hw: Hardware) -> list[str]:
    """Overflows of the bands and of the layers after the stack (layer by layer)."""
    chip = hw.chip
    out = []
    peak = int(bands.fmm_bits.max())
    if peak > chip.fmm_bits:
        b, c = np.unravel_index(int(np.argmax(bands.fmm_bits)), bands.fmm_bits.shape)
        excess = peak - chip.fmm_bits
        rows = f"{bands.band_rows} row{'s' * (bands.band_rows != 1)}"
        where = f"({c // hw.mesh.cols},{c % hw.mesh.cols})"
        out.append(
            f"needs {peak:,} bits of feature-map memory (FMM) in band {b + 1} of "
            f"{bands.count} of the fused stack ({bands.fused} layers, bands of {rows}) on chip "
            f"{where}, the chip has {chip.fmm_bits:,} (over by {excess:,} bits, "
            f"{100 * excess / chip.fmm_bits:.1f}%)"
        )
    if chip.border_buffer_bits and int(bands.halo_bits.max()) > chip.border_buffer_bits:
        out.append(
            f"needs {int(bands.halo_bits.max()):,} bits of border buffer in a band of the "
            f"fused stack, the chip has {chip.border_buffer_bits:,}"
        )
    rest = replace(geo, layers=geo.layers[bands.fused :])
    return out + capacity_problems(rest, hw)


def _first_fit(net, hw, geo, fused: int, wanted_rows: int, limit: int) -> list[Choice]:
    """Band heights for ``fused`` layers: ``wanted_rows`` alone, or the ``limit`` tallest
    that fit among the heights giving distinct band counts (the FMM need shrinks with the
    band height, so the tallest that fits is found by bisection after the shortest); a
    stack whose image tile and output alone overflow the FMM is rejected before any band
    is laid out. When none fits, the one choice that says why."""
    height = int(np.diff(split(net.infos[fused - 1].out_shape.height, hw.mesh.rows)).max())
    memo: dict[int, Choice] = {}

    def choice(rows: int) -> Choice:
        if rows not in memo:
            bands = stack_bands(net, hw, geo, fused, rows, check=True)
            problems = (*bands.problems, *_memory_problems(bands, geo, hw))
            peak = max(int(bands.fmm_bits.max()), rest_peak_bits(geo, fused))
            memo[rows] = Choice(fused, rows, peak, problems)
        return memo[rows]

    if wanted_rows:
        return [choice(min(wanted_rows, height))]
    floor = _held_whole(net, hw, geo, fused)
    if int(floor.max()) > hw.chip.fmm_bits:
        chip = int(np.argmax(floor))
        last = net.infos[fused - 1].layer.name
        return [Choice(fused, 1, int(floor.max()), (
            f"needs at least {int(floor.max()):,} bits of feature-map memory (FMM) on chip "
            f"({chip // hw.mesh.cols},{chip % hw.mesh.cols}) for the image tile and the output "
            f"of the fused stack ({fused} layers, up to {last!r}), both held whole, whatever "
            f"the band height; the chip has {hw.chip.fmm_bits:,}",
        ))]  # fmt: skip
    heights = sorted({math.ceil(height / b) for b in range(1, height + 1)}, reverse=True)
    if choice(heights[-1]).problems:
        return [choice(heights[-1])]
    lo, hi = 0, len(heights) - 1  # heights[hi] fits
    while lo < hi:
        mid = (lo + hi) // 2
        if choice(heights[mid]).problems:
            lo = mid + 1
        else:
            hi = mid
    picked = [choice(rows) for rows in heights[hi : hi + limit]]
    return [c for c in picked if not c.problems] or picked[:1]


def _held_whole(net: ShapedNetwork, hw: Hardware, geo: Geometry, fused: int) -> np.ndarray:
    """Per chip: bits every band plan holds at its last band, the image tile with its halo
    and the stack's whole output share."""
    out = net.infos[fused - 1]
    rows = np.diff(split(out.out_shape.height, hw.mesh.rows))
    cols = np.diff(split(out.out_shape.width, hw.mesh.cols))
    tile = np.outer(rows, cols).ravel() * out.out_shape.channels * geo.bits[out.layer.name]
    return geo.image_in_bits + tile


def choices(
    net: ShapedNetwork, hw: Hardware, geo: Geometry | None = None, limit: int = BAND_CHOICES
) -> list[Choice]:
    """The stacks and band heights the planner considers (memory side only), in order:
    per stack, band heights from the tallest down until ``limit`` fit."""
    system = hw.system
    geo = geometry(net, hw) if geo is None else geo
    if system.fused_layers:
        problem = stack_problem(net, system.fused_layers)
        if problem is not None:
            return [Choice(system.fused_layers, system.band_rows, 0, (f"fused_layers: {problem}",))]
        stacks = [system.fused_layers]
    else:
        pairs = _fused_pairs(net) if hw.chip.fuse_pooling else {}
        names = [i.layer.name for i in net.infos]
        cuts = [k for k in stack_cuts(net) if names[k - 1] not in pairs]
        fits_after = [k for k in cuts if not capacity_problems(
            replace(geo, layers=geo.layers[k:]), hw)]  # fmt: skip
        stacks = fits_after[:STACK_CHOICES] or cuts[-1:]
    if not stacks:
        return [Choice(0, 0, 0, (f"{net.name} has no layers that can run depth first",))]
    out = []
    for fused in stacks:
        out += _first_fit(net, hw, geo, fused, system.band_rows, limit)
        if limit == 1 and not out[-1].problems:
            break
    return out


def memory_choice(net: ShapedNetwork, hw: Hardware, geo: Geometry | None = None) -> Choice:
    """The first stack and band height that fit the memories (memory side only, as
    ``fit`` asks), or when none does, the one needing the least FMM (layer by layer, when
    no stack is asked for and every stack would need more). Its problems include
    the geometry's (a map smaller than the mesh, a halo from beyond a neighbour)."""
    geo = geometry(net, hw, switch=None) if geo is None else geo
    if not geo.layers:
        return Choice(0, 0, 0, geo.problems)
    found = choices(net, hw, geo, limit=1)
    fitting = [c for c in found if not c.problems]
    best = fitting[0] if fitting else min(found, key=_least_memory)
    if not fitting and not hw.system.fused_layers:
        # no stack fits; a deep one caches more rows of its early maps than they hold
        # whole, so layer by layer (which the planner lets compete) may need less
        flat = rest_peak_bits(geo, 0)
        need = best.fmm_peak_bits  # a lower bound of the stack's need
        if best.fused and flat > need:  # its bands, only as far as one needs more than flat
            roomy = replace(hw, chip=hw.chip.model_copy(update={"fmm_bits": flat}))
            bands = stack_bands(net, roomy, geo, best.fused, best.band_rows, check=True)
            need = max(int(bands.fmm_bits.max()), rest_peak_bits(geo, best.fused))
        if not best.fused or flat <= need:
            return Choice(0, 0, flat, (*capacity_problems(geo, hw), *geo.problems))
    return replace(best, problems=(*best.problems, *geo.problems))


def _least_memory(choice: Choice) -> tuple[bool, int]:
    """Sort key: a stack that could be built at all, then the smallest FMM peak."""
    return choice.fmm_peak_bits == 0, choice.fmm_peak_bits


def rest_peak_bits(geo: Geometry, fused: int) -> int:
    """The largest FMM need of the layers after a stack of ``fused`` layers."""
    return max((int(g.fmm_need_bits.max()) for g in geo.layers[fused:]), default=0)


#: the energy of a frame a plan would cost, as the caller prices it (lower is better)
Score = Callable[[Plan], float]


def depth_first_plan(
    net: ShapedNetwork,
    hw: Hardware,
    techniques: WeightTechniques = NO_TECHNIQUES,
    score: Score | None = None,
) -> Plan:
    """The depth-first plan of ``net`` on ``hw``: the stack and band height asked for, or
    where ``fused_layers`` or ``band_rows`` is 0, the candidate that fits with the lowest
    ``score`` (the caller's pricing; mapping/ only builds the candidates)."""
    geo = geometry(net, hw, switch=None)
    if not geo.layers and geo.problems:
        empty = np.zeros(hw.chips, dtype=np.int64)
        return Plan(net, hw, (), empty, empty, geo.problems)
    found = choices(net, hw, geo)
    fitting = [c for c in found if not c.problems]
    if not fitting:
        worst = min(found, key=_least_memory)
        if worst.fmm_peak_bits == 0:  # no stack at all: the problem says why
            empty = np.zeros(hw.chips, dtype=np.int64)
            return Plan(net, hw, (), empty, empty, worst.problems)
        return stack_plan(net, hw, worst.fused, worst.band_rows, geo, techniques=techniques)
    flat = tiled_plan(net, hw, techniques)
    plans = [stack_plan(net, hw, c.fused, c.band_rows, geo, flat, techniques) for c in fitting]
    if not hw.system.fused_layers and flat.fits:  # no stack asked for: layer by layer competes
        plans.append(flat)
    if len(plans) == 1 or score is None:
        return plans[0]
    return min(plans, key=score)


def stack_plan(
    net: ShapedNetwork,
    hw: Hardware,
    fused: int,
    band_rows: int,
    geo: Geometry | None = None,
    flat: Plan | None = None,
    techniques: WeightTechniques = NO_TECHNIQUES,
) -> Plan:
    """The plan with the first ``fused`` layers run in bands of ``band_rows`` rows (``geo``
    and ``flat``, the layer-by-layer geometry and plan, are computed when not given), with
    the weight ``techniques`` applied."""
    geo = geometry(net, hw, switch=None) if geo is None else geo
    problem = stack_problem(net, fused)
    flat = tiled_plan(net, hw, techniques) if flat is None else flat
    if problem is not None:
        return replace(flat, problems=(f"fused_layers: {problem}", *flat.problems))
    bands = stack_bands(net, hw, geo, fused, band_rows)
    count = bands.count
    resident = stack_weights_resident(net, hw, fused)
    savings = techniques.pruning
    inside = {i.layer.name for i in net.infos[:fused]}
    layers: list[LayerPlan] = []
    for band in bands.layers:
        for bl in band:
            layers.append(
                _band_plan(bl, hw, geo, inside, count, resident, savings, bands.fmm_bits[bl.band])
            )
    last = net.infos[fused - 1].layer.name
    renamed = band_name(last, count - 1, count)
    for lp in flat.layers[fused:]:
        layer = lp.info.layer
        if last in layer.inputs:
            inputs = tuple(renamed if ref == last else ref for ref in layer.inputs)
            lp = replace(lp, info=replace(lp.info, layer=replace(layer, inputs=inputs)))
        layers.append(lp)
    if techniques.cache_rule is not None:
        layers = _with_weight_cache(layers, techniques.cache_rule)
    problems = (*bands.problems, *_memory_problems(bands, geo, hw), *geo.problems)
    return Plan(net, hw, tuple(layers), geo.image_in_bits, geo.result_out_bits, problems)


def _band_plan(bl, hw: Hardware, geo: Geometry, inside, count, resident, savings, fmm) -> LayerPlan:
    """One fused layer in one band as a LayerPlan (its inputs renamed to the same band)."""
    chip, info, layer = hw.chip, bl.info, bl.info.layer
    src = layer.inputs[0]
    precision = Precision(geo.bits[src], geo.bits[layer.name])
    zeros = np.zeros(hw.chips, dtype=np.int64)
    work = layer_work(
        info, chip, bl.out_h, bl.out_w, zeros, False, precision,
        savings.get(layer.name, NO_PRUNING),
    )  # fmt: skip
    if resident and bl.band > 0:  # the stack's weights stay in the weight buffer
        work = replace(work, blocks=work.blocks[:0], wbuf_write_bits=zeros)
    per_pixel = info.macs // info.out_shape.pixels
    macs = int((bl.new_rows * bl.out_w).sum()) * per_pixel
    name = band_name(layer.name, bl.band, count)
    inputs = tuple(band_name(r, bl.band, count) if r in inside else r for r in layer.inputs)
    band_info = replace(info, layer=replace(layer, name=name, inputs=inputs), macs=macs)
    from_image = src == INPUT
    halo_bits = bl.halo_pixels * (info.in_shapes[0].channels * geo.bits[src])
    halo_bits = halo_bits if layer.arity == 1 else np.zeros_like(halo_bits)
    phases = max(1, len(work.blocks))
    phase_cycles = -(-work.cycles // phases)
    waits = halo_bits.any(axis=1) & (not from_image)
    held = bl.held_halo_pixels.sum(axis=1) * info.in_shapes[0].channels * geo.bits[src]
    return LayerPlan(
        band_info,
        "tiled",
        work,
        halo_bits,
        from_image,
        phases,
        phase_cycles,
        np.where(waits, phase_cycles, 0),  # a band's first phase waits for its whole halo
        fmm,
        held if layer.arity == 1 else zeros,
        np.zeros(len(work.blocks), dtype=bool),
        _phase_channels(info, chip) if phases > 1 else None,
    )
