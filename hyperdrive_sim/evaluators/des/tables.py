"""Everything the processes need, precomputed from the Plan into plain Python lists.

Numpy stays out of the event loop: per-layer arrays become lists of small tuples once,
before the simulation starts, so a process step is a tuple unpack and a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from hyperdrive_sim.errors import SimulationError
from hyperdrive_sim.evaluators.cycles import xfer
from hyperdrive_sim.evaluators.des.links import Channel
from hyperdrive_sim.mapping.plan import (
    Plan,
    next_image_layer,
    reduction_target,
    streamed_halo_bits,
)
from hyperdrive_sim.mapping.routes import halo_transfers, snake_order
from hyperdrive_sim.mapping.tiling import DIRECTIONS

#: message kinds; a chip waits for key ``layer * KINDS + kind``
HALO, FROM_EAST, FROM_SOUTH, GATHER, KINDS = 0, 1, 2, 3, 4


def chip_name(chip: int, cols: int) -> str:
    r, c = divmod(chip, cols)
    return f"chip ({r},{c})"


class Send(NamedTuple):
    """A message a chip sends after a layer: a halo part or a partial vector."""

    route: tuple[Channel, ...]
    bits: int
    cycles: int
    dst: int
    key: int  # what the receiver waits for: layer * KINDS + kind
    layer: int  # the layer whose c2c bits it counts towards
    label: str


class Hop(NamedTuple):
    """Where a halo message goes and how long it takes; shared by every layer whose halo
    has the same shape (the layer's key and label are in its ``Sends``)."""

    route: tuple[Channel, ...]
    bits: int
    cycles: int
    dst: int


class Sends(NamedTuple):
    """The halo messages one chip sends one layer, in order."""

    key: int  # what the receivers wait for: layer * KINDS + HALO
    layer: int  # the layer whose c2c bits they count towards
    label: str
    hops: tuple[Hop, ...]


class LegMsg(NamedTuple):
    """One leg of a move that changes partitioning (mapping/partition.py): store-and-forward
    over ``route``; hop k leaves a copy at ``deliver[k]`` and starts ``children[k]``."""

    route: tuple[Channel, ...]
    bits: int
    cycles: int
    key: int  # what the receivers wait for: layer * KINDS + GATHER
    layer: int
    label: str
    deliver: tuple[int | None, ...]
    children: tuple[tuple[LegMsg, ...], ...]


class Block(NamedTuple):
    """One weight block in streaming order."""

    layer: int
    bits: int
    port_cycles: int
    link_cycles: int
    needs: tuple[bool, ...]  # per chip
    needing: tuple[int, ...]
    reach: int  # chain: snake positions it travels past the root (0: root only)
    label: str
    cached: bool  # served by every chip's weight cache: no off-chip read, no forwarding


class Step(NamedTuple):
    """One layer on one chip."""

    layer: int
    works: bool
    phases: int
    phase: int
    interior: int  # cycles of the first phase that need no halo
    border: int
    needs: bool  # takes a weight block per phase
    halo: int  # halo transfers expected (0: none or from off-chip)
    east: bool  # reduction: waits for the partial vector of its east neighbour
    south: bool  # reduction: then for the one of its south neighbour
    adds: int  # cycles per received partial vector
    reduce: Send | None  # its own partial vector, after the reduction
    sends: tuple[Sends, ...]  # halos of its output that later layers need
    #: border_exchange streamed: the halo parts each phase sends when it ends (else empty)
    phase_sends: tuple[tuple[Sends, ...], ...] = ()
    gather: int = 0  # deliveries of a move it waits for before the layer (0: none)
    legs: tuple[LegMsg, ...] = ()  # moves of its output it starts after the layer


@dataclass(frozen=True, eq=False)
class Tables:
    names: tuple[str, ...]
    steps: tuple[tuple[Step, ...], ...]  # per chip
    blocks: tuple[Block, ...]
    snake: tuple[int, ...]
    position: tuple[int, ...]  # snake position of each chip
    forwards: tuple[int, ...]  # blocks each snake position forwards to the next
    image_bits: tuple[int, ...]
    image_cycles: tuple[int, ...]
    result_bits: tuple[int, ...]
    result_cycles: tuple[int, ...]
    expected: tuple[dict[int, int], ...]  # per chip: messages it will receive, by key
    producer: tuple[int | None, ...]  # layer whose output feeds each layer's halo
    #: per chip: the layer after which the next frame's image tile fits (-1: at the start)
    image_after: tuple[int, ...] = ()
    #: per chip: moves of the image it starts once its tile has arrived
    image_legs: tuple[tuple[LegMsg, ...], ...] = ()


def mesh_links(plan: Plan, record: bool) -> dict[tuple[int, int], Channel]:
    """One channel per direction between neighbours (and diagonals under ``diagonal``)."""
    hw = plan.hw
    rows, cols = hw.mesh.rows, hw.mesh.cols
    diagonal = hw.system.corner_routing == "diagonal"
    links = {}
    for src in range(hw.chips):
        r, c = divmod(src, cols)
        for dr, dc in DIRECTIONS:
            if dr and dc and not diagonal:
                continue
            rr, cc = r + dr, c + dc
            if 0 <= rr < rows and 0 <= cc < cols:
                dst = rr * cols + cc
                name = f"link ({r},{c})->({rr},{cc})"
                links[src, dst] = Channel(
                    name, hw.link_bits_per_cycle, hw.link_latency_cycles, record
                )
    return links


def _route(links, keys, layer: str, cols: int) -> tuple[Channel, ...]:
    if len(keys) == 1:  # most messages: one hop
        route = links.get(keys[0])
        if route is not None:
            return (route,)
    try:
        return tuple(links[k] for k in keys)
    except KeyError:
        bad = next(k for k in keys if k not in links)
        raise SimulationError(
            f"layer {layer!r}: a message from {chip_name(keys[0][0], cols)} is routed over "
            f"{chip_name(bad[0], cols)} -> {chip_name(bad[1], cols)}, which is not a link of "
            "the mesh"
        ) from None


def _leg_messages(gather, links, key: int, layer: int, label: str, cols: int, bpc: float):
    """(source chip, message) of every leg that starts at its source, children nested."""
    kids: dict[tuple[int, int], list[int]] = {}
    for n, leg in enumerate(gather.legs):
        if leg.after is not None:
            kids.setdefault(leg.after, []).append(n)
    msgs: dict[int, LegMsg] = {}
    for n in range(len(gather.legs) - 1, -1, -1):  # children come after their parents
        leg = gather.legs[n]
        children = tuple(
            tuple(msgs[m] for m in kids.get((n, k), ())) for k in range(len(leg.links))
        )
        route = _route(links, leg.links, label, cols)
        cycles = int(xfer(leg.bits, bpc))
        msgs[n] = LegMsg(route, leg.bits, cycles, key, layer, label, leg.deliver, children)
    return [(leg.src, msgs[n]) for n, leg in enumerate(gather.legs) if leg.after is None]


def _chip_sends(
    sends: dict[tuple[int, int], list[Sends]], i: int, phases: int, works: bool, streamed: bool
) -> tuple[tuple[Sends, ...], tuple[tuple[Sends, ...], ...]]:
    """A chip's messages of layer ``i``: after the layer, and after each phase (streamed).

    A chip that runs one phase, or none, sends its streamed parts after the layer.
    """
    if not streamed:  # bulk exchange: nothing is sent per phase
        return tuple(sends.get((i, -1), ())), ()
    after = list(sends.get((i, -1), ()))
    per_phase = [tuple(sends.get((i, p), ())) for p in range(phases)]
    if phases <= 1 or not works:
        after += [m for part in per_phase for m in part]
        per_phase = []
    return tuple(after), tuple(per_phase) if any(per_phase) else ()


def build_tables(plan: Plan, links: dict[tuple[int, int], Channel]) -> Tables:
    """Per-chip steps, the weight stream, messages and expected arrivals of ``plan``."""
    hw = plan.hw
    chips, cols = hw.chips, hw.mesh.cols
    act = hw.chip.activation_bits
    off, link_bpc = hw.offchip_bits_per_cycle, hw.link_bits_per_cycle
    names = tuple(lp.name for lp in plan.layers)
    index = {name: i for i, name in enumerate(names)}
    snake = snake_order(hw.mesh)
    position = [0] * chips
    for p, c in enumerate(snake):
        position[c] = p

    per_phase = hw.system.border_exchange == "streamed"
    # sends[chip][(producer layer, phase)]: phase -1 is after the layer (bulk exchange)
    sends: list[dict[tuple[int, int], list[Sends]]] = [{} for _ in range(chips)]
    expected: list[dict[int, int]] = [{} for _ in range(chips)]
    producer: list[int | None] = [None] * len(plan.layers)
    # layers of one stage exchange identical halos: their messages are built once, as the
    # hops each chip sends (in transfer order) and the receivers' counts
    halos: dict[tuple, tuple[dict[int, tuple[Hop, ...]], dict[int, int]]] = {}
    routes: dict[tuple, tuple[Channel, ...]] = {}
    for i, lp in enumerate(plan.layers):
        if lp.halo_offchip or not lp.halo_bits.any():
            continue
        src_name = lp.info.layer.inputs[0]
        if src_name not in index:
            raise SimulationError(f"layer {lp.name!r} reads {src_name!r}, which the plan lacks")
        producer[i] = j = index[src_name]
        if per_phase:
            parts = enumerate(streamed_halo_bits(lp, plan.layers[j]))
        else:
            parts = iter([(-1, lp.halo_bits)])
        label = f"halo {lp.name}"
        key = i * KINDS + HALO
        for phase, part in parts:
            memo = (part.shape, part.dtype.str, part.tobytes())
            found = halos.get(memo)
            if found is None:
                transfers = halo_transfers(part, hw.mesh, hw.system.corner_routing)
                cycles = xfer(np.array([t.bits for t in transfers]), link_bpc).tolist()
                by_src: dict[int, list[Hop]] = {}
                counts: dict[int, int] = {}
                for t, cyc in zip(transfers, cycles, strict=True):
                    counts[t.dst] = counts.get(t.dst, 0) + 1
                    if not 0 <= t.src < chips:
                        continue  # nobody will send it: a deadlock the engine reports
                    route = routes.get(t.links)
                    if route is None:  # one tuple per route, shared by every message
                        route = routes[t.links] = _route(links, t.links, lp.name, cols)
                    by_src.setdefault(t.src, []).append(Hop(route, t.bits, cyc, t.dst))
                found = halos[memo] = ({c: tuple(h) for c, h in by_src.items()}, counts)
            hops, counts = found
            for dst, n in counts.items():
                expected[dst][key] = expected[dst].get(key, 0) + n
            for src, chip_hops in hops.items():
                sends[src].setdefault((j, phase), []).append(Sends(key, i, label, chip_hops))

    # moves that change partitioning: legs leave when the input's producer is done
    legs: list[dict[int, list[LegMsg]]] = [{} for _ in range(chips)]  # chip -> layer -> legs
    for i, lp in enumerate(plan.layers):
        if lp.gather is None:
            continue
        src_name = lp.info.layer.inputs[0]
        j = index.get(src_name, -1)  # -1: the image
        key = i * KINDS + GATHER
        for root, msg in _leg_messages(lp.gather, links, key, i, f"move {lp.name}", cols, link_bpc):
            legs[root].setdefault(j, []).append(msg)
        for d, n in enumerate(lp.gather.received.tolist()):
            if n:
                expected[d][key] = expected[d].get(key, 0) + n

    blocks: list[Block] = []
    steps: list[list[Step]] = [[] for _ in range(chips)]
    for i, lp in enumerate(plan.layers):
        work = lp.work
        # a chip takes the layer's blocks when it writes weights and computes with them
        uses = (work.wbuf_write_bits > 0) & (work.cycles > 0)
        needs = tuple(bool(v) for v in uses.tolist())
        if len(work.blocks):
            needing = tuple(c for c in range(chips) if needs[c])
            reach = max((position[c] for c in needing), default=0)
            label = f"weights {lp.name}"
            streamed = np.where(lp.cached_blocks, 0, work.blocks)
            owners = [None] * len(streamed) if lp.block_owner is None else lp.block_owner.tolist()
            for bits, pc, lc, cached, owner in zip(
                streamed.tolist(),
                xfer(streamed, off).tolist(),
                xfer(streamed, link_bpc).tolist(),
                lp.cached_blocks.tolist(),
                owners,
                strict=True,
            ):
                b_needs, b_needing, b_reach = needs, needing, reach
                if owner is not None:  # channel partitioning: the block's own chip only
                    b_needs = tuple(c == owner for c in range(chips))
                    b_needing, b_reach = (owner,), position[owner]
                hops = 0 if cached else b_reach
                blocks.append(Block(i, bits, pc, lc, b_needs, b_needing, hops, label, cached))
        vec = work.reduce_len
        red_cycles = int(xfer(vec * act, link_bpc)) if vec else 0
        cyc = work.cycles.tolist()
        phase = lp.phase_cycles.tolist()
        border = lp.phase_border_cycles.tolist()
        has_blocks = bool(len(work.blocks))
        halo_key, gather_key = i * KINDS + HALO, i * KINDS + GATHER
        phases = lp.phases if lp.chip_phases is None else lp.chip_phases.tolist()
        sent_phases = lp.phases if lp.chip_phases is None else 1
        for c in range(chips):
            halo = expected[c].get(halo_key, 0)
            east = south = False
            reduce = None
            if vec:
                r, col = divmod(c, cols)
                east = col < cols - 1
                south = col == 0 and r < hw.mesh.rows - 1
                for flag, kind in ((east, FROM_EAST), (south, FROM_SOUTH)):
                    if flag:
                        expected[c][i * KINDS + kind] = 1
                target = reduction_target(c, cols)
                if target is not None:
                    kind = FROM_EAST if col > 0 else FROM_SOUTH
                    route = _route(links, ((c, target),), lp.name, cols)
                    key = i * KINDS + kind
                    label = f"reduce {lp.name}"
                    reduce = Send(route, vec * act, red_cycles, target, key, i, label)
            if per_phase:
                after, each_phase = _chip_sends(sends[c], i, sent_phases, cyc[c] > 0, True)
            else:  # bulk exchange (_chip_sends, inline)
                after, each_phase = tuple(sends[c].get((i, -1), ())), ()
            chip_legs = legs[c]
            steps[c].append(
                Step(
                    i,
                    cyc[c] > 0,
                    phases if lp.chip_phases is None else phases[c],
                    phase[c],
                    phase[c] - border[c],
                    border[c],
                    needs[c] and has_blocks,
                    halo,
                    east,
                    south,
                    vec,
                    reduce,
                    after,
                    each_phase,
                    expected[c].get(gather_key, 0),
                    tuple(chip_legs.get(i, ())) if chip_legs else (),
                )
            )
    # snake position p forwards every block whose reach is beyond it
    reach_count = [0] * (chips + 1)
    for b in blocks:
        reach_count[b.reach] += 1
    forwards = [0] * chips
    beyond = 0
    for p in range(chips - 1, -1, -1):
        beyond += reach_count[p + 1]
        forwards[p] = beyond
    return Tables(
        names=names,
        steps=tuple(tuple(s) for s in steps),
        blocks=tuple(blocks),
        snake=tuple(snake),
        position=tuple(position),
        forwards=tuple(forwards),
        image_bits=tuple(plan.image_in_bits.tolist()),
        image_cycles=tuple(xfer(plan.image_in_bits, off).tolist()),
        result_bits=tuple(plan.result_out_bits.tolist()),
        result_cycles=tuple(xfer(plan.result_out_bits, off).tolist()),
        expected=tuple(expected),
        producer=tuple(producer),
        image_after=tuple(next_image_layer(plan).tolist()),
        image_legs=tuple(tuple(legs[c].get(-1, ())) for c in range(chips)),
    )
