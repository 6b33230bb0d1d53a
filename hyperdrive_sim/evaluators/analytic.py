"""Analytic evaluator: the frame's schedule as a max-plus recurrence over (layer, chip).

The off-chip interface is one channel shared by the image bursts, the weight reads and the
result bursts, as in the simpy evaluator: they take turns (each requester asks again when
its previous transfer has left the interface), the image one burst per chip in turn, the
results as the output layer makes them. So no two transfers ever overlap on it, and its
utilisation cannot exceed 1. Weight blocks reach the chips over the bus, or along the chain
(store-and-forward, one block at a time per link).

Per layer, each chip starts when it finished its previous layer and block 0 has arrived
(the first layer's first phase keeps pace with the image bursts, mapping/streaming.py),
computes the interior of its first phase, waits for the halo (neighbour's producing layer
done + link transfer, or with ``border_exchange: streamed`` the last of the parts its
phases send, each link serving them in order), computes the rest, and cannot finish phase p
before weight block p has arrived. What is left out (the simpy evaluator models it):
back-pressure of the weight buffers on the stream beyond the bus rules of ``_press`` and
``Gated``, and halos, reductions and forwarded weights queueing behind each other on a link
(streamed parts of one halo do queue). On a contention-free system both evaluators agree.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass

import numpy as np

from hyperdrive_sim.evaluators.counts import PER_LAYER, Counts, plan_counts
from hyperdrive_sim.evaluators.cycles import (
    block_reach,
    bursts,
    check_cycles,
    link_floor_cycles,
    steady_interval,
    xfer,
)
from hyperdrive_sim.evaluators.des.labels import (
    STALL_BORDER,
    STALL_WEIGHT,
    WAIT_IMAGE,
    WAIT_PARTIAL,
    mark,
)
from hyperdrive_sim.evaluators.des.links import Interval
from hyperdrive_sim.evaluators.des.tables import chip_name
from hyperdrive_sim.evaluators.des.timeline import Timeline
from hyperdrive_sim.mapping.partition import gather_ready
from hyperdrive_sim.mapping.plan import (
    LayerPlan,
    Plan,
    next_image_layer,
    reduction_target,
    streamed_halo_bits,
)
from hyperdrive_sim.mapping.routes import chain_hops, halo_hops, halo_sources, snake_order
from hyperdrive_sim.mapping.streaming import ImageRows, ResultParts, image_rows, result_parts
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.workload.layers import INPUT

#: name of the off-chip interface track, as in the simpy timeline
PORT = "off-chip"


def transfer_cycles(bits: int, hops: int, hw: Hardware) -> int:
    """Store-and-forward time of one message over ``hops`` links."""
    return hops * (int(xfer(bits, hw.link_bits_per_cycle)) + hw.link_latency_cycles)


class InOrder:
    """A requester's transfers ``(earliest, cycles)``, asked for in order, each no earlier
    than its ``earliest``."""

    def __init__(self, items: list[tuple[int, int]]) -> None:
        self.items, self.next = items, 0

    def ask(self, ready: int) -> int | None:
        """When the next transfer is asked for, the requester being free at ``ready``."""
        if self.next == len(self.items):
            return None
        return max(ready, self.items[self.next][0])

    def take(self, at: int) -> int:
        """Serve the next transfer (asked for at ``at``); its cycles."""
        self.next += 1
        return self.items[self.next - 1][1]


class Gated(InOrder):
    """The weight reads of a frame whose first layer streams the image on every chip:
    the reads from ``gate_from`` on need a buffer slot freed by a block of the first
    layer's first phase, which no chip frees before its whole tile has arrived, so they
    are asked for no earlier than ``latency`` after the ``loader``'s last burst left."""

    def __init__(self, items, gate_from: int, loader: RoundRobin, latency: int) -> None:
        super().__init__(items)
        self.gate_from, self.loader, self.latency = gate_from, loader, latency

    def ask(self, ready: int) -> int | None:
        t = super().ask(ready)
        if t is None or self.next < self.gate_from:
            return t
        if self.loader.last_end is None:
            return None if self.loader.active else t  # asked again once the image has left
        return max(t, self.loader.last_end + self.latency)


class RoundRobin:
    """The image loader: one burst of each chip's tile in turn, chip c's only once its
    FMM has room (``release[c]``); a chip without room goes to the back of the turn, as in
    the event model's loader. ``order`` lists the chip of every burst served."""

    def __init__(self, parts: list[list[int]], release: list[int]) -> None:
        self.parts, self.release = parts, release
        self.active = deque(c for c, p in enumerate(parts) if p)
        self.sent = [0] * len(parts)
        self.order: list[int] = []
        self.all_free = max(release, default=0)  # from then on every chip has room
        self.last_end: int | None = None  # when its last burst left (set by port_queue)

    def ask(self, ready: int) -> int | None:
        if not self.active:
            return None
        if ready >= self.all_free or any(self.release[c] <= ready for c in self.active):
            return ready
        return min(self.release[c] for c in self.active)

    def take(self, at: int) -> int:
        active = self.active
        while self.release[active[0]] > at:
            active.rotate(-1)
        c = active.popleft()
        k = self.sent[c]
        self.sent[c] += 1
        if self.sent[c] < len(self.parts[c]):
            active.append(c)
        self.order.append(c)
        return self.parts[c][k]


def port_queue(requesters: list, asks: list[int], free: int) -> tuple[list[list[int]], int]:
    """When each transfer of several requesters leaves the shared off-chip interface.

    A requester is a list of transfers ``(earliest, cycles)`` (``InOrder``) or an object
    with the same ``ask``/``take`` methods (``RoundRobin``). Each asks for its next
    transfer when its previous one has left (the first after ``asks[r]``); the interface
    serves the asks first come, first served, lower ``r`` first at equal times, from
    ``free`` on. Returns each requester's transfer ends, in the order served, and when the
    interface is free again.
    """
    queues = [q if hasattr(q, "take") else InOrder(q) for q in requesters]
    ends: list[list[int]] = [[] for _ in queues]
    ask = list(asks)
    while True:
        best = None
        for r, q in enumerate(queues):
            t = q.ask(ask[r])
            if t is not None and (best is None or t < best[0]):
                best = (t, r)
        if best is None:
            return ends, free
        t, r = best
        free = ask[r] = max(free, t) + queues[r].take(t)
        ends[r].append(free)
        if hasattr(queues[r], "last_end") and queues[r].ask(free) is None:
            queues[r].last_end = free  # the image loader has sent its last burst


def port_schedule(image: list[int], weights: list[int]) -> tuple[list[int], list[int], int]:
    """One frame's image tiles and weight reads on the interface, both asking from 0
    (``port_queue`` with the image loader first). Returns (tile ends, read ends, free)."""
    (img_end, w_end), free = port_queue(
        [[(0, c) for c in image], [(0, c) for c in weights]], [0, 0], 0
    )
    return img_end, w_end, free


def evaluate(plan: Plan) -> Counts:
    """Counts of one frame from the closed-form schedule."""
    return _schedule(plan, None)


def evaluate_timeline(plan: Plan) -> tuple[Counts, Timeline]:
    """Counts plus the analytic schedule as a timeline (chips and the off-chip interface).

    Each chip track shows what the closed form assumes: the first phase's interior, the wait
    for halos, the rest of the layer, then any wait for the layer's last weight block, and
    partial-sum reductions as waits; links are not scheduled by this evaluator, so the trace
    has no link tracks.
    """
    record: dict[str, list[Interval]] = {}
    counts = _schedule(plan, record)
    hw = plan.hw
    chips = tuple(chip_name(c, hw.mesh.cols) for c in range(hw.chips))
    groups = {"chips": chips, "links": (), "off-chip": (PORT,)}
    return counts, Timeline(record, groups, counts.total_cycles, 0)


@dataclass
class _Carry:
    """What one frame leaves to the next when frames run back to back."""

    ready: np.ndarray  # when each chip has finished the frame
    room: np.ndarray  # when each chip's FMM has room for the next frame's image tile
    used: list[int]  # when each of the last weight-buffer-size blocks was done with
    results_at: int  # when the frame's last layer has ended (the end, if it has no results)
    results: list[tuple[int, int, int]]  # result bursts (ready, cycles, frame) left to read
    asks: list[int]  # end of each interface requester's last transfer
    free: int  # when the interface is free
    link_free: np.ndarray  # chain: when each forwarding link is free

    @classmethod
    def start(cls, chips: int) -> _Carry:
        """Before the first frame: everything free at cycle 0, no results to read."""
        zeros = np.zeros(chips, dtype=np.int64)
        links = np.zeros(max(chips - 1, 0), dtype=np.int64)
        return cls(zeros, zeros, [], 0, [], [0, 0, 0], 0, links)


@dataclass
class _Frame:
    counts: dict  # the Counts fields of this frame's schedule
    carry: _Carry
    port_results: int = 0  # interface cycles of the frame's results


def _schedule(plan: Plan, record: dict[str, list[Interval]] | None) -> Counts:
    """Schedule ``system.frames`` frames back to back; Counts of the first, and the
    steady-state interval between the frames' results."""
    hw = plan.hw
    check_cycles([hw.offchip_latency_cycles, hw.link_latency_cycles])
    frames = hw.system.frames
    carry = _Carry.start(hw.chips)
    io = _IO(image_rows(plan), result_parts(plan))
    ends: dict[int, int] = {}  # frame -> when its last result burst left the interface
    done_at = []  # when each frame's last layer ended
    first = None
    for f in range(frames):
        frame = _frame(plan, carry, record if f == 0 else None, f, io, ends)
        first = first or frame
        done_at.append(frame.carry.results_at)
        carry = frame.carry
    last = InOrder([]), InOrder([]), InOrder(carry.results)  # results after the last frame
    (_, _, tail), _ = port_queue(list(last), carry.asks, carry.free)
    _result_ends(carry.results, tail, ends)
    lat = hw.offchip_latency_cycles
    result_ends = [ends.get(f, done_at[f]) + lat for f in range(frames)]
    total = result_ends[0]
    check_cycles(total)
    assert first is not None
    image = int(xfer(plan.image_in_bits, hw.offchip_bits_per_cycle).sum())
    port = image + sum(_read_cycles(plan)) + first.port_results
    interval = steady_interval(result_ends, max(port, link_floor_cycles(plan)))
    return Counts(
        evaluator="analytic",
        layer_names=tuple(lp.name for lp in plan.layers),
        total_cycles=total,
        **plan_counts(plan),
        **first.counts,
        image_in_bits=plan.image_in_bits.copy(),
        result_out_bits=plan.result_out_bits.copy(),
        frame_interval_cycles=interval,
        frames_per_pass=hw.system.batch,
    )


def _interface(
    plan: Plan, carry: _Carry, loader: RoundRobin, weights: list | InOrder, results: list
) -> tuple[list[list[int]], int]:
    """``port_queue`` of one frame's image bursts, weight reads and result bursts (each
    once its part is ready): every transfer's end and when the interface is free."""
    return port_queue([loader, weights, results], carry.asks, carry.free)


#: at most this many passes of a frame's schedule to settle its results' turns on the
#: interface (each pass moves weight reads only later; the bound is never reached on the
#: bundled networks, whose results come after the last weight read or settle in three)
PASSES = 6


@dataclass(frozen=True)
class _IO:
    """How the first layer reads the image tiles, and when the results are ready
    (mapping/streaming.py)."""

    rows: tuple[ImageRows | None, ...]
    results: ResultParts | None


def _frame(plan: Plan, carry: _Carry, record, index: int, io: _IO, ends: dict) -> _Frame:
    """Frame ``index``'s schedule after ``carry`` (frame 0's statistics are reported).

    Result bursts ready before the frame's last weight read take turns with its weight
    reads and image bursts; the later ones with the next frame's (``carry.results``). They
    become ready as the output layer computes, which depends on when the weights arrived,
    so the schedule is repeated with the last pass's result times until the interface
    schedule no longer changes. ``ends`` collects when each frame's last result left.
    """
    hw = plan.hw
    reads = _read_cycles(plan)
    image_cycles = xfer(plan.image_in_bits, hw.offchip_bits_per_cycle).tolist()
    tiles = [
        bursts(bits, cyc, hw.offchip_burst_cycles)
        for bits, cyc in zip(plan.image_in_bits.tolist(), image_cycles, strict=True)
    ]
    # the stream restarts: block q waits for the slot of the block `slots` before it
    slots = hw.chip.weight_buffer_blocks
    deficit = slots - len(carry.used)
    weight_items = [
        (carry.used[q - deficit] if deficit <= q < slots else 0, cyc) for q, cyc in enumerate(reads)
    ]
    # bus back-pressure during the load: see Gated
    gated = hw.system.weight_distribution == "bus" and all(r is not None for r in io.rows)
    lat = hw.offchip_latency_cycles
    early: list[tuple[int, int, int]] = []  # this frame's result bursts read with it
    seen = None
    for _ in range(PASSES):
        queue = sorted(carry.results + early, key=lambda item: item[0])  # stable
        loader = RoundRobin([[cyc for _, cyc in t] for t in tiles], carry.room.tolist())
        weights = Gated(weight_items, slots, loader, lat) if gated else weight_items
        (burst_end, w_end, res_end), free = _interface(plan, carry, loader, weights, queue)
        key = (burst_end, w_end)
        if key != seen:  # the image and weights moved: compute again
            seen = key
            frame, items = _compute(
                plan, carry, record, index == 0, io, tiles, loader.order, burst_end, w_end, free
            )
        last_read = w_end[-1] if w_end else -1
        mine = [(at, cyc, index) for at, cyc in items if at < last_read]
        if mine == early:
            break
        early = mine
    _result_ends(queue, res_end, ends)
    frame.carry.results = [(at, cyc, index) for at, cyc in items if at >= last_read]
    frame.carry.asks[2] = max(res_end, default=carry.asks[2])
    frame.carry.free = free
    frame.port_results = sum(cyc for _, cyc in items)
    return frame


def _result_ends(items: list[tuple[int, int, int]], ends: list[int], out: dict) -> None:
    """Record in ``out`` when each frame's last result burst (``items``: (ready, cycles,
    frame), served at ``ends``) left the interface."""
    for (_, _, f), end in zip(items, ends, strict=True):
        out[f] = max(out.get(f, 0), end)


def _compute(
    plan: Plan,
    carry: _Carry,
    record: dict[str, list[Interval]] | None,
    first: bool,
    io: _IO,
    tiles,
    order: list[int],
    burst_end: list[int],
    w_end: list[int],
    free: int,
) -> tuple[_Frame, list[tuple[int, int]]]:
    """One frame's compute given the interface schedule of its image bursts (``order``:
    the chip of each, ``burst_end``) and weight reads (``w_end``); its result bursts."""
    hw = plan.hw
    chips, n_layers = hw.chips, len(plan.layers)
    act = hw.chip.activation_bits
    reads = _read_cycles(plan)
    slots = hw.chip.weight_buffer_blocks
    lat = hw.offchip_latency_cycles
    got = _tile_arrivals(tiles, order, burst_end, lat)  # per chip: (bits, when)
    img_end = [when[-1] - lat for _, when in got]
    image_arrival = np.array(img_end, dtype=np.int64) + hw.offchip_latency_cycles
    link_free = carry.link_free.copy()
    arrivals = _weight_arrivals(plan, w_end, link_free)
    if record is not None:
        _record_port(record, plan, tiles, order, burst_end, w_end)
        for c in range(chips):
            record[chip_name(c, hw.mesh.cols)] = []
            if io.rows[c] is None:
                mark(record[chip_name(c, hw.mesh.cols)], 0, int(image_arrival[c]), WAIT_IMAGE)
    # a chip whose first layer streams its tile starts without it (mapping/streaming.py)
    streamed = np.array([r is not None for r in io.rows], dtype=bool)
    ready = np.where(streamed, carry.ready, np.maximum(carry.ready, image_arrival))
    stall_io = np.where(streamed, 0, image_arrival)
    frame_start = ready.copy()
    done: dict[str, np.ndarray] = {INPUT: image_arrival}
    hops = chain_hops(hw.mesh)
    sources = halo_sources(hw.mesh)
    hops_per_dir = halo_hops(hw.system.corner_routing)
    busy, s_weight, s_border = (np.zeros((n_layers, chips), dtype=np.int64) for _ in range(3))
    per_layer = {k: np.zeros(n_layers, dtype=np.int64) for k in PER_LAYER}
    frontier = int(ready.max())
    stream_borders = hw.system.border_exchange == "streamed"
    lat = hw.link_latency_cycles
    link_cycles = lambda bits: int(xfer(bits, hw.link_bits_per_cycle))  # noqa: E731
    index = {lp.name: i for i, lp in enumerate(plan.layers)}
    phase_ends: dict[str, np.ndarray] = {}  # streamed: when each phase of a layer ends
    layer_done: list[np.ndarray] = []
    block_used: list[int] = []  # when every chip is done with each block, in stream order
    bus = hw.system.weight_distribution == "bus"
    stream = 0  # when the weight stream's latest read left the interface

    phase_ends_of_results = None  # the output layer's phase ends, when results stream per phase
    for i, lp in enumerate(plan.layers):
        works = lp.work.cycles > 0
        start = ready.copy()
        halo_ready = np.zeros(chips, dtype=np.int64)
        if not lp.halo_offchip and lp.halo_bits.any():
            src = lp.info.layer.inputs[0]
            if src in phase_ends:
                parts = streamed_halo_bits(lp, plan.layers[index[src]])
                halo_ready = _streamed_arrival(parts, phase_ends[src], sources, hops_per_dir, hw)
            else:
                sent = lp.halo_bits > 0
                per_hop = xfer(lp.halo_bits, hw.link_bits_per_cycle) + hw.link_latency_cycles
                produced = done[src][np.maximum(sources, 0)]
                halo_ready = np.where(sent, produced + hops_per_dir * per_hop, 0).max(axis=1)
            per_layer["c2c_border_bits"][i] = int((lp.halo_bits * hops_per_dir).sum())
        gather_wait = np.zeros(chips, dtype=np.int64)
        if lp.gather is not None:  # the layer's input moves first (channel partitioning)
            got = gather_ready(lp.gather, done[lp.info.layer.inputs[0]], link_cycles, lat)
            gather_wait = np.where(works, np.maximum(got - start, 0), 0)
            start = start + gather_wait
            per_layer["c2c_gather_bits"][i] = lp.gather.link_bits
        # phase 0 starts once block 0 has arrived; its interior needs no halo
        arrival = arrivals.get(i)
        phases = lp.phases if lp.chip_phases is None else np.maximum(lp.chip_phases, 1)
        pressed = (
            bus
            and arrival is not None
            and lp.block_owner is None
            and lp.chip_phases is None
            and lp.phases == len(arrival)
        )
        g0 = len(block_used)
        if pressed:  # the first blocks wait for slots freed by earlier layers
            arrival = arrival.copy()
            wants = lp.work.wbuf_write_bits > 0  # the chips a block is delivered to

            def press(p: int, slot_free: int, lp=lp, g0=g0, arrival=arrival, wants=wants) -> None:
                nonlocal stream
                stream = _press(arrival, p, slot_free, stream, w_end[g0 + p], reads[g0 + p],
                                bool(lp.cached_blocks[p]), wants, hw)  # fmt: skip

            for p in range(min(slots, lp.phases)):
                dep = g0 + p - slots
                press(p, block_used[dep] if dep >= 0 else 0)
        elif arrival is not None:
            stream = max(stream, *w_end[g0 : g0 + len(lp.work.blocks)])
        if arrival is not None and lp.block_owner is not None:
            arrival = _own_blocks(arrival, lp)
        begin = start if arrival is None else np.where(works, np.maximum(start, arrival[0]), start)
        first_interior = begin + lp.phase_cycles - lp.phase_border_cycles
        waited = np.maximum(first_interior, halo_ready)
        io_wait = None
        if i == 0 and streamed.any():  # phase 0 keeps pace with the image data
            io_wait = _image_wait(io.rows, got, begin, lp.phase_cycles)
            waited = waited + io_wait
            if first:
                stall_io = stall_io + io_wait
        compute_end = waited + lp.phase_border_cycles + (phases - 1) * lp.phase_cycles
        s_border[i] = np.where(works, waited - first_interior, 0) + gather_wait
        if io_wait is not None:
            s_border[i] -= io_wait
        start = start - gather_wait  # stalls are counted from the layer's start
        # phase p ends when it has computed after phase p-1 and after block p arrived
        ends = waited + lp.phase_border_cycles + np.arange(lp.phases)[:, None] * lp.phase_cycles
        if pressed:
            needs = (lp.work.wbuf_write_bits > 0) & works
            pc = lp.phase_cycles
            ends[0] = np.maximum(ends[0], arrival[0] + pc)
            for p in range(1, lp.phases):
                if p >= slots:  # block p takes the slot of block p - slots of this layer
                    done_with = ends[p - slots, needs] if needs.any() else ends[p - slots]
                    press(p, int(done_with.max()))
                ends[p] = np.maximum(ends[p - 1] + pc, arrival[p] + pc)
        elif arrival is not None:
            ends = np.maximum(ends, _weight_ends(arrival, lp))
        if lp.chip_phases is not None:  # a chip with fewer blocks ends with its last one
            last = ends[phases - 1, np.arange(chips)]
            ends = np.where(np.arange(lp.phases)[:, None] < phases, ends, last)
        if stream_borders and lp.phase_channels is not None:
            phase_ends[lp.name] = np.where(works, ends, start)
        if io.results is not None and io.results.layer == i:
            phase_ends_of_results = ends
        if len(lp.work.blocks):
            per_layer["offchip_weight_bits"][i] = int(lp.work.blocks[~lp.cached_blocks].sum())
            needs = (lp.work.wbuf_write_bits > 0) & works
            if lp.block_owner is not None:  # each block is used by its owner alone
                rank = _ranks(lp.block_owner)
                block_used.extend(ends[rank, lp.block_owner].tolist())
            else:
                block_used.extend(
                    (ends[:, needs].max(axis=1) if needs.any() else ends.max(axis=1)).tolist()
                )
            if hw.system.weight_distribution == "chain":
                streamed = np.where(lp.cached_blocks, 0, lp.work.blocks)
                per_layer["c2c_weight_bits"][i] = int((streamed * block_reach(lp, hops)).sum())
        finish = np.where(works, ends[-1], start)
        s_weight[i] = finish - np.where(works, compute_end, start) + (begin - start - gather_wait)
        busy[i] = lp.work.cycles
        pre_reduce = finish
        if lp.work.reduce_len:
            finish, red_bits, red_busy = _reduce(lp, hw, finish, act)
            per_layer["c2c_reduce_bits"][i] = red_bits
            busy[i] += red_busy
        if record is not None:
            _record_layer(record, lp.name, hw.mesh.cols, works, start, begin, first_interior,
                          waited, compute_end, pre_reduce, finish, io_wait)  # fmt: skip
        ready = np.where(works | (busy[i] > 0), finish, start)
        check_cycles(ready)
        done[lp.name] = ready.copy()
        layer_done.append(done[lp.name])
        per_layer["layer_end"][i] = int(ready.max())
        per_layer["layer_cycles"][i] = per_layer["layer_end"][i] - frontier
        frontier = per_layer["layer_end"][i]

    # the next frame: its tile once the FMM has room, its first blocks once slots are free
    after = next_image_layer(plan)
    done_at = np.stack(layer_done) if layer_done else frame_start[None, :]
    room = np.where(after < 0, frame_start, done_at[np.maximum(after, 0), np.arange(chips)])
    used = (carry.used + block_used)[-slots:]
    counts = {
        "busy_cycles": busy,
        "stall_weight_cycles": s_weight,
        "stall_border_cycles": s_border,
        **per_layer,
        "stall_io_cycles": stall_io,
        "finish_cycles": ready,
    }
    asks = [burst_end[-1] if burst_end else carry.asks[0], w_end[-1] if w_end else carry.asks[1]]
    results = _result_items(plan, io.results, phase_ends_of_results, done)
    nxt = _Carry(ready, room, used, int(ready.max()), results, [*asks, 0], free, link_free)
    return _Frame(counts, nxt, 0), results


def _press(
    arrival: np.ndarray,
    p: int,
    slot_free: int,
    stream: int,
    port_end: int,
    read: int,
    cached: bool,
    wants: np.ndarray,
    hw: Hardware,
) -> int:
    """Back-pressure on the bus: block ``p``'s read starts only when every chip that needs
    it (``wants``) has a free buffer slot (``slot_free``: all of them are done with the
    block ``slots`` before it) and the previous read has left the interface (``stream``);
    it ends no earlier than the interface schedule allowed (``port_end``). Updates
    ``arrival[p]`` for those chips; returns when the read left the interface."""
    end = max(int(port_end), slot_free + read, stream + read)
    latency = 0 if cached else hw.offchip_latency_cycles
    arrival[p] = np.where(wants, np.maximum(arrival[p], end + latency), arrival[p])
    return end


def _record_port(record, plan: Plan, tiles, order: list[int], img_end, w_end) -> None:
    """Off-chip interface track: image bursts (``tiles[c]``: (bits, cycles) of chip c's
    bursts, ``order``: the chip of each burst served), then weight reads, as the schedule
    placed them."""
    track: list[Interval] = []
    sent = [0] * len(tiles)
    for c, end in zip(order, img_end, strict=True):
        cycles = tiles[c][sent[c]][1]
        sent[c] += 1
        mark(track, end - cycles, end, f"image {chip_name(c, plan.hw.mesh.cols)}")
    reads = iter(zip(_read_cycles(plan), w_end, strict=True))
    for lp in plan.layers:
        for _ in range(len(lp.work.blocks)):
            cycles, end = next(reads)
            mark(track, end - cycles, end, f"weights {lp.name}")
    record[PORT] = sorted(track)


def _tile_arrivals(tiles, order: list[int], ends: list[int], latency: int):
    """Per chip: the tile's bits arrived after each of its bursts, and when (``order``:
    the chip of each burst served, ``ends``: when it left the interface)."""
    got: list[tuple[list[int], list[int]]] = [([], []) for _ in tiles]
    for c, end in zip(order, ends, strict=True):
        bits, when = got[c]
        bits.append((bits[-1] if bits else 0) + tiles[c][len(bits)][0])
        when.append(end + latency)
    return got


def _image_wait(rows, got, begin: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Per chip: how long the first layer's first phase waits for image data in all.

    Local row k starts when row k - 1 has ended and ``rows[c].need[k]`` bits have arrived
    (the burst that completes them, ``got``); the rows then run back to back."""
    wait = np.zeros(len(rows), dtype=np.int64)
    for c, r in enumerate(rows):
        if r is None:
            continue
        bits, when = got[c]
        t, done = int(begin[c]), 0
        for need, end in zip(r.need, r.ends, strict=True):
            if need:
                t = max(t, when[bisect_left(bits, need)])
            t += end - done
            done = end
        wait[c] = t - int(begin[c]) - int(phase[c])
    return wait


def _result_items(plan: Plan, parts: ResultParts | None, phase_ends, done) -> list:
    """The frame's result bursts ``(ready, cycles)`` in the order they are read: each part
    once the output layer's phase (or the layer) that makes it has ended, in the order the
    parts became ready (chips in order at equal times)."""
    if parts is None:
        return []
    hw = plan.hw
    name = plan.layers[parts.layer].name
    ready = []
    for c, chip_parts in enumerate(parts.bits):
        for p, bits in enumerate(chip_parts):
            if bits:
                at = phase_ends[p, c] if parts.per_phase else done[name][c]
                ready.append((int(at), c, p, bits))
    ready.sort()
    items = []
    for at, _, _, bits in ready:
        cycles = int(xfer(bits, hw.offchip_bits_per_cycle))
        items += [(at, part) for _, part in bursts(bits, cycles, hw.offchip_burst_cycles)]
    return items


def _record_layer(
    record, name, cols, works, start, begin, interior, waited, compute_end, pre, finish, io
):
    """One layer on every chip: block 0 wait, image wait (``io``: the first layer's, drawn
    in one piece), interior, halo wait, the rest, weight wait, reduction."""
    for c in np.flatnonzero(works | (finish > start)):
        track = record[chip_name(int(c), cols)]
        wait = int(io[c]) if io is not None else 0  # before the interior, in one piece
        mark(track, int(start[c]), int(begin[c]), STALL_WEIGHT)
        mark(track, int(begin[c]), int(begin[c]) + wait, WAIT_IMAGE)
        mark(track, int(begin[c]) + wait, int(interior[c]) + wait, name)
        mark(track, int(interior[c]) + wait, int(waited[c]), STALL_BORDER)
        mark(track, int(waited[c]), int(compute_end[c]), name)
        mark(track, int(compute_end[c]), int(pre[c]), STALL_WEIGHT)
        mark(track, int(pre[c]), int(finish[c]), WAIT_PARTIAL)


def _read_cycles(plan: Plan) -> list[int]:
    """Interface cycles of every weight read in streaming order (0 for a cached block)."""
    off = plan.hw.offchip_bits_per_cycle
    out: list[int] = []
    for lp in plan.layers:
        if len(lp.work.blocks):
            out.extend(xfer(np.where(lp.cached_blocks, 0, lp.work.blocks), off).tolist())
    return out


def _ranks(owner: np.ndarray) -> np.ndarray:
    """For each block, how many blocks of the same owner come before it."""
    rank = np.zeros(len(owner), dtype=np.int64)
    seen: dict[int, int] = {}
    for g, o in enumerate(owner.tolist()):
        rank[g] = seen.get(o, 0)
        seen[o] = rank[g] + 1
    return rank


def _own_blocks(arrival: np.ndarray, lp: LayerPlan) -> np.ndarray:
    """``arrival[k, c]``: when chip c's k-th own block arrives (channel partitioning)."""
    out = np.zeros((lp.phases, arrival.shape[1]), dtype=np.int64)
    out[_ranks(lp.block_owner), lp.block_owner] = arrival[np.arange(len(arrival)), lp.block_owner]
    return out


def _weight_ends(arrival: np.ndarray, lp: LayerPlan) -> np.ndarray:
    """``ends[p, c]``: the earliest phase p can end on chip c given the block arrivals.

    Phase p uses block p, so it cannot end before ``max_{q <= p}(arrival_q + (p - q + 1) *
    phase)``: the phases after the latest-binding block run back to back. The last row is
    the layer's weight bound.
    """
    k = np.arange(len(arrival))[:, None]
    ends = np.maximum.accumulate(arrival - k * lp.phase_cycles[None, :], axis=0)
    ends = ends + (k + 1) * lp.phase_cycles[None, :]
    check_cycles(ends)
    return ends


def _streamed_arrival(parts, ends, sources, hops_per_dir, hw: Hardware) -> np.ndarray:
    """When each chip has its whole halo, its parts sent as the producer's phases end.

    ``parts[p, c, d]`` bits leave chip ``sources[c, d]`` at ``ends[p, source]``; each link of
    the route serves them in order, one at a time (store-and-forward per hop).
    """
    t = ends[:, np.maximum(sources, 0)]  # [phase, chip, direction]
    x = xfer(parts, hw.link_bits_per_cycle)
    lat = hw.link_latency_cycles
    for hop in range(int(hops_per_dir.max())):
        on = hops_per_dir > hop
        free = np.zeros(t.shape[1:], dtype=np.int64)
        for p in range(len(t)):
            free = np.maximum(free, t[p]) + x[p]
            t[p] = np.where(on[None, :], free + lat, t[p])
    sent = parts.sum(axis=0) > 0
    return np.where(sent, t[-1], 0).max(axis=1)


def _weight_arrivals(
    plan: Plan, read_end: list[int], link_free: np.ndarray
) -> dict[int, np.ndarray]:
    """Per layer with weights: ``arrival[p, c]``, when block p reaches chip c (0 if unused).

    A block arrives ``latency`` after its read left the interface (a cached block when the
    stream reaches it, without latency); over the bus at every chip at once, along the
    chain hop by hop (``_chain_arrivals``).
    """
    hw = plan.hw
    chain = hw.system.weight_distribution == "chain"
    snake = np.array(snake_order(hw.mesh), dtype=np.int64)
    position = np.empty(hw.chips, dtype=np.int64)
    position[snake] = np.arange(hw.chips)
    hops = chain_hops(hw.mesh)
    bounds: dict[int, np.ndarray] = {}
    k = 0
    for i, lp in enumerate(plan.layers):
        n = len(lp.work.blocks)
        if not n:
            continue
        ends = np.array(read_end[k : k + n], dtype=np.int64)
        k += n
        cached = lp.cached_blocks
        needs = lp.work.wbuf_write_bits > 0
        arrival = np.where(cached, ends, ends + hw.offchip_latency_cycles)[:, None] + np.zeros(
            hw.chips, dtype=np.int64
        )
        if chain and not cached.all() and needs.any():
            reach_of = block_reach(lp, hops)
            bits = np.where(cached, 0, lp.work.blocks)
            link_cycles = xfer(bits, hw.link_bits_per_cycle)
            for p in np.flatnonzero(~cached):
                reach = int(reach_of[p])
                along = _chain_arrivals(
                    int(arrival[p, 0]), int(link_cycles[p]), reach, link_free, hw
                )
                at = np.full(hw.chips, along[-1], dtype=np.int64)  # unused beyond the reach
                at[snake[: reach + 1]] = along
                arrival[p] = at
        bounds[i] = np.where(needs[None, :], arrival, 0)
    return bounds


def _chain_arrivals(root: int, cycles: int, reach: int, link_free: np.ndarray, hw: Hardware):
    """Arrival of one block at snake positions 0..reach; updates ``link_free`` in place.

    Position h forwards the block when it has arrived and the link to h + 1 has sent the
    previous block: leave_h = max(arrive_h, free_h) + cycles, arrive_{h+1} = leave_h +
    latency. With D = cycles + latency this max-plus recurrence unrolls to
    leave_h = h * D + max_{j <= h}(B_j), B_0 = max(root, free_0) + cycles,
    B_j = free_j + cycles - j * D, a running maximum over the hops.
    """
    lat = hw.link_latency_cycles
    if reach == 0:
        return np.array([root], dtype=np.int64)
    step = cycles + lat
    check_cycles(float(root) + float(reach) * step + float(link_free[:reach].max(initial=0)))
    h = np.arange(reach, dtype=np.int64)
    b = link_free[:reach] + cycles - h * step
    b[0] = max(root, int(link_free[0])) + cycles
    leave = np.maximum.accumulate(b) + h * step
    link_free[:reach] = leave
    return np.concatenate(([root], leave + lat))


def _reduce(lp: LayerPlan, hw: Hardware, partial: np.ndarray, act: int):
    """Sum partial vectors towards the root: rows westwards, then column 0 northwards."""
    rows, cols = hw.mesh.rows, hw.mesh.cols
    vec = lp.work.reduce_len
    hop = transfer_cycles(vec * act, 1, hw)
    done = partial.reshape(rows, cols).copy()
    busy = np.zeros((rows, cols), dtype=np.int64)
    for c in range(cols - 2, -1, -1):
        done[:, c] = np.maximum(done[:, c], done[:, c + 1] + hop) + vec
        busy[:, c] += vec
    for r in range(rows - 2, -1, -1):
        done[r, 0] = max(done[r, 0], done[r + 1, 0] + hop) + vec
        busy[r, 0] += vec
    senders = sum(reduction_target(c, cols) is not None for c in range(hw.chips))
    return done.ravel(), senders * vec * act, busy.ravel()
