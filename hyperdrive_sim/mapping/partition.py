"""Channel partitioning: a layer's output channels split over the chips, each chip holding
its channels of the whole map, and the feature-map moves that change partitioning.

With ``system.partitioning: channel`` every layer from the network input on is channel
partitioned; with ``hybrid`` the planner switches from spatial tiling to channel
partitioning at one point of the network where a single map is live (docs/model.md,
"Channel and hybrid partitioning"). Weight blocks of a channel-partitioned conv are dealt to
the chips in turn (block p to chip p mod chips), so the weight stream keeps its order and
every chip computes whole blocks; a depthwise conv keeps the channels where its input is.

Moves (``Gather``) are lists of legs over the mesh links, store-and-forward per hop:

- a *multicast* sends one chip's share to every chip that reads it (the chips that own a
  weight block of the next layer) along a tree: along its row in both directions, and from
  every chip of that row along its column in both directions, each branch only as far as
  its furthest receiver; each link of the tree carries the share once and every receiver
  on the way keeps a copy;
- a *unicast* carries a distinct payload from one chip to another, first along the row,
  then along the column.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from hyperdrive_sim.mapping.routes import Link
from hyperdrive_sim.spec.models import Mesh


def block_owners(blocks: int, chips: int) -> np.ndarray:
    """The chip computing each weight block of a channel-partitioned conv: in turn."""
    return np.arange(blocks, dtype=np.int64) % chips


def channel_owners(block_channels: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """The chip holding each output channel, from the blocks' channels and owners."""
    return np.repeat(owners, block_channels)


def owned(owner: np.ndarray, chips: int) -> np.ndarray:
    """Channels each chip holds."""
    return np.bincount(owner, minlength=chips).astype(np.int64)


@dataclass(frozen=True)
class Leg:
    """One store-and-forward message over ``links`` carrying ``bits``.

    ``deliver[k]`` is the chip that keeps a copy when hop k arrives (None: it only passes
    through). ``after`` is the (leg, hop) whose arrival starts this leg; None: the leg
    leaves when its source chip has produced the data.
    """

    src: int
    links: tuple[Link, ...]
    bits: int
    deliver: tuple[int | None, ...]
    after: tuple[int, int] | None = None


@dataclass(frozen=True, eq=False)
class Gather:
    """Feature-map bits moved before a layer so that each chip holds what it reads."""

    legs: tuple[Leg, ...]
    #: ``bits[s, d]``: payload bits chip d receives from chip s
    bits: np.ndarray
    kind: str  # "multicast" (every chip gets every share) or "unicast"

    @property
    def received(self) -> np.ndarray:
        """Messages (deliveries) each chip expects."""
        return (self.bits > 0).sum(axis=0).astype(np.int64)

    @property
    def link_bits(self) -> int:
        """Link-hop bits: each leg's bits times its links."""
        return sum(leg.bits * len(leg.links) for leg in self.legs)


def scaled(gather: Gather, factor: int) -> Gather:
    """The same move carrying ``factor`` times the bits (the frames of a batch)."""
    legs = tuple(
        Leg(leg.src, leg.links, leg.bits * factor, leg.deliver, leg.after) for leg in gather.legs
    )
    return Gather(legs, gather.bits * factor, gather.kind)


def _line(start: int, stop: int, fixed: int, mesh: Mesh, along_row: bool) -> list[int]:
    """Chips from ``start`` to ``stop`` (inclusive) along a row or column."""
    step = 1 if stop >= start else -1
    pos = range(start, stop + step, step)
    return [fixed * mesh.cols + p if along_row else p * mesh.cols + fixed for p in pos]


def _path_leg(
    chips: list[int], bits: int, src: int, after=None, keep: set[int] | None = None
) -> Leg:
    """A leg along ``chips``; every chip on the way keeps a copy, or those in ``keep``
    (None: every chip), the others only pass it on."""
    links = tuple(itertools.pairwise(chips))
    deliver = tuple(c if keep is None or c in keep else None for c in chips[1:])
    return Leg(src, links, bits, deliver, after)


def multicast(shares: np.ndarray, mesh: Mesh, receivers: np.ndarray | None = None) -> Gather:
    """Every chip's ``shares[s]`` bits to every other receiving chip, along row-then-column
    trees.

    ``receivers`` (a boolean per chip; None: every chip) names the chips that read the
    shares, e.g. those that own a weight block of the next layer. A tree reaches only as
    far as its furthest receiver along each row and column; chips on the way that are not
    receivers pass the share on without keeping it.
    """
    cols, chips = mesh.cols, mesh.chips
    wants = np.ones(chips, dtype=bool) if receivers is None else np.asarray(receivers, bool)
    legs: list[Leg] = []
    for s in range(chips):
        b = int(shares[s])
        targets = {int(d) for d in np.flatnonzero(wants) if d != s}
        if not b or not targets:
            continue
        r0, c0 = divmod(s, cols)
        need_cols = {d % cols for d in targets}
        reach: dict[int, tuple[int, int] | None] = {c0: None}  # column -> (leg, hop) there
        for stop in (max(need_cols | {c0}), min(need_cols | {c0})):
            line = _line(c0, stop, r0, mesh, along_row=True)
            if len(line) > 1:
                legs.append(_path_leg(line, b, s, keep=targets))
                for hop, chip in enumerate(line[1:]):
                    reach[chip % cols] = (len(legs) - 1, hop)
        for col in sorted(need_cols):
            need_rows = {d // cols for d in targets if d % cols == col} | {r0}
            for stop in (max(need_rows), min(need_rows)):
                line = _line(r0, stop, col, mesh, along_row=False)
                if len(line) > 1:
                    legs.append(_path_leg(line, b, s, reach[col], keep=targets))
    bits = np.outer(shares, wants).astype(np.int64)
    np.fill_diagonal(bits, 0)
    return Gather(tuple(legs), bits, "multicast")


def unicast(bits: np.ndarray, mesh: Mesh) -> Gather:
    """``bits[s, d]`` from every chip s to every other chip d: row first, then column."""
    cols = mesh.cols
    legs: list[Leg] = []
    bits = bits.astype(np.int64).copy()
    np.fill_diagonal(bits, 0)
    for s, d in zip(*np.nonzero(bits), strict=True):
        (rs, cs), (rd, cd) = divmod(int(s), cols), divmod(int(d), cols)
        path = _line(cs, cd, rs, mesh, along_row=True)
        path += _line(rs, rd, cd, mesh, along_row=False)[1:]
        legs.append(_path_leg(path, int(bits[s, d]), int(s), keep={int(d)}))
    return Gather(tuple(legs), bits, "unicast")


def arrival_times(gather: Gather, sent: np.ndarray, cycles_of, latency: int) -> np.ndarray:
    """When each chip has all its deliveries, each leg alone on its links.

    ``sent[s]``: when chip s's data is ready; ``cycles_of(bits)``: link cycles of a leg.
    Store-and-forward: each hop takes the leg's cycles plus the latency. Contention between
    legs is left to the caller (and to the event model).
    """
    chips = len(sent)
    done = np.zeros(chips, dtype=np.int64)
    hop_at: list[list[int]] = []
    for leg in gather.legs:
        start = int(sent[leg.src]) if leg.after is None else hop_at[leg.after[0]][leg.after[1]]
        step = int(cycles_of(leg.bits)) + latency
        times = [start + step * (k + 1) for k in range(len(leg.links))]
        hop_at.append(times)
        for t, chip in zip(times, leg.deliver, strict=True):
            if chip is not None:
                done[chip] = max(done[chip], t)
    return done


def link_loads(gather: Gather, cycles_of) -> dict[Link, int]:
    """Cycles every link is busy with the gather's legs."""
    load: dict[Link, int] = {}
    for leg in gather.legs:
        c = int(cycles_of(leg.bits))
        for link in leg.links:
            load[link] = load.get(link, 0) + c
    return load


def gather_ready(gather: Gather, sent: np.ndarray, cycles_of, latency: int) -> np.ndarray:
    """When each chip has received its part of the move (0 for a chip receiving nothing).

    The later of the legs alone (``arrival_times``) and, per receiving chip, the busiest of
    its incoming links serving all the legs that cross it from the first share's ready
    time: a closed form that neither evaluator's contention can beat.
    """
    alone = arrival_times(gather, sent, cycles_of, latency)
    into: dict[int, int] = {}
    for (_, b), load in link_loads(gather, cycles_of).items():
        into[b] = max(into.get(b, 0), load)
    first = min((int(sent[leg.src]) for leg in gather.legs if leg.after is None), default=0)
    bound = np.zeros_like(alone)
    for chip, load in into.items():
        bound[chip] = first + load + latency
    return np.where(gather.received > 0, np.maximum(alone, bound), 0)
