"""The chip process: layers in order, one weight block (phase) at a time.

Per layer and phase: take the phase's block from the weight buffer (waiting = weight
stall), compute; in the first phase compute the interior, wait for the halo (waiting =
border stall), then the border. After a reduced layer's partial: add the east neighbour's
vector, then (column 0) the south neighbour's, then send the sum towards the root. After
each layer: send the halos of its output that later layers need.
"""

from __future__ import annotations

from collections.abc import Generator
from functools import partial
from heapq import heappush

import simpy

from hyperdrive_sim.evaluators.des.events import NORMAL, Stamp
from hyperdrive_sim.evaluators.des.io import consume_image, result_ready
from hyperdrive_sim.evaluators.des.labels import (
    STALL_BORDER,
    STALL_WEIGHT,
    WAIT_IMAGE,
    WAIT_PARTIAL,
    mark,
)
from hyperdrive_sim.evaluators.des.links import send, send_stamped
from hyperdrive_sim.evaluators.des.phases import PhaseRun
from hyperdrive_sim.evaluators.des.state import (
    BLOCK,
    IMAGE,
    Arrival,
    ChipState,
    Sim,
)
from hyperdrive_sim.evaluators.des.tables import (
    FROM_EAST,
    FROM_SOUTH,
    GATHER,
    HALO,
    KINDS,
    Hop,
    LegMsg,
    Send,
    Sends,
)


def settled(sim: Sim, st: ChipState, key: int) -> None:
    """Every message of ``key`` has arrived or is on its way with a known stamp, and the
    chip waits for ``key``: wake it now, or schedule the latest arrival in its place."""
    last = st.last.get(key)
    if last is not None and last > sim.calendar.at:
        heappush(sim.env._queue, (*last, Arrival(st, key)))
    else:
        st.wake(key)


def receive(sim: Sim, st: ChipState, key: int) -> None:
    left = st.pending[key] - 1
    st.pending[key] = left
    if not left and st.key == key:
        settled(sim, st, key)


def stamped(sim: Sim, st: ChipState, key: int, stamp: Stamp) -> None:
    """A message of ``key`` will arrive at ``stamp`` (its place in simpy's order)."""
    last = st.last.get(key)
    if last is None or stamp > last:
        st.last[key] = stamp
    left = st.pending[key] - 1
    st.pending[key] = left
    if not left and st.key == key:
        settled(sim, st, key)


def await_key(sim: Sim, st: ChipState, key: int) -> simpy.Event:
    """The event that wakes the chip when the last message of ``key`` has arrived."""
    event = sim.event()
    st.key, st.event = key, event
    if not st.pending[key]:
        settled(sim, st, key)
    return event


def post(sim: Sim, msg: Send, counter: list[int], offset: int = 0) -> None:
    """Send ``msg`` (of the frame whose keys start at ``offset``); its link-hop bits count
    towards ``counter[msg.layer]``."""
    hop = Hop(msg.route, msg.bits, msg.cycles, msg.dst)
    post_all(sim, (Sends(msg.key, msg.layer, msg.label, (hop,)),), counter, offset)


def post_all(sim: Sim, groups: tuple[Sends, ...], counter: list[int], offset: int) -> None:
    """``post`` the messages of ``groups`` in order."""
    env, chips = sim.env, sim.chips
    for key, layer, label, hops in groups:
        key += offset
        if not sim.fast:
            for route, bits, cycles, dst in hops:
                counter[layer] += bits * len(route)
                on_arrival = partial(receive, sim, chips[dst], key)
                send(env, route, bits, cycles, label, on_arrival)
            continue
        cal = sim.calendar
        ids, open_, now = cal.ids, cal.open, env._now
        for route, bits, cycles, dst in hops:
            st = chips[dst]
            if len(route) > 2:
                counter[layer] += bits * len(route)
                on_stamp = partial(stamped, sim, st, key)
                send_stamped(cal, route, bits, cycles, label, on_stamp)
                continue
            link = route[0]
            free = link.free_at  # Channel.reserve, inline
            start = free if free > now else now
            end = link.free_at = start + cycles
            link.sent += bits
            if link.intervals is not None and end > start:
                link.intervals.append((start, end, label))
            end += link.latency
            if len(route) == 2:  # a relayed corner: the relay forwards it on arrival
                counter[layer] += bits + bits
                cal.later(end, _Relay(sim, route, bits, cycles, label, st, key).arrived)
                continue
            counter[layer] += bits
            link.received += bits
            eid = next(ids)  # Calendar.take, inline
            if eid != cal.expect:
                open_.clear()
            cal.expect = eid + 1
            if open_:
                open_.pop(end, None)
            stamped(sim, st, key, (end, NORMAL, eid))


class _Relay:
    """A message over two links (a halo corner relayed by a neighbour): the relay requests
    the second link when the message has arrived, and the last hop is stamped (fast path)."""

    __slots__ = ("bits", "cycles", "key", "label", "route", "sim", "st")

    def __init__(self, sim, route, bits, cycles, label, st, key) -> None:
        self.sim, self.route, self.bits, self.cycles = sim, route, bits, cycles
        self.label, self.st, self.key = label, st, key

    def arrived(self, _event: object) -> None:
        first, link = self.route
        first.received += self.bits
        cal = self.sim.calendar
        end = link.reserve(cal.env._now, self.cycles, self.bits, self.label) + link.latency
        link.received += self.bits
        stamped(self.sim, self.st, self.key, (end, NORMAL, cal.take(end)))


def post_leg(sim: Sim, leg: LegMsg, offset: int) -> None:
    """Send one leg of a move; each hop keeps a copy where ``deliver`` says and starts the
    legs that branch off there."""
    sim.c2c_gather_bits[leg.layer] += leg.bits * len(leg.route)
    key = leg.key + offset

    def hop(k: int) -> None:
        chip = leg.deliver[k]
        if chip is not None:
            st = sim.chips[chip]
            left = st.pending[key] - 1
            st.pending[key] = left
            if not left and st.key == key:
                settled(sim, st, key)
        for child in leg.children[k]:
            post_leg(sim, child, offset)

    send(sim.env, leg.route, leg.bits, leg.cycles, leg.label, _nothing, hop, sim.call_in)


def _nothing() -> None:
    return None


def chip_process(sim: Sim, c: int) -> Generator[simpy.Event, None, None]:
    """Every frame: wait for the image tile, run the layers, report the frame done (one
    generator for all frames: a chip resumes it tens of thousands of times)."""
    run = PhaseRun(sim, c) if sim.fast else None
    for f in range(sim.frames):
        env, st, buf, cal = sim.env, sim.chips[c], sim.buffers[c], sim.calendar
        sleep, names, rec = sim.sleep, sim.tables.names, st.intervals
        offset = f * sim.stride
        room_after = sim.tables.image_after[c]
        first = f == 0  # per-layer and per-chip statistics describe the first frame
        st.frame, st.layer = f, -1
        t0 = env.now
        # streamed image (des/io.py): the first layer's first phase reads the tile as it comes
        streamed = sim.image_rows[c] is not None
        if not streamed and st.images <= f:
            st.key, st.event = IMAGE, sim.event()
            yield st.event
        if first:
            sim.stall_io[c] = sim.frame_start[c] = env.now
        if rec is not None:
            mark(rec, t0, env.now, WAIT_IMAGE)
        res = sim.results
        res_layer = -1 if res is None else res.layer
        if room_after < 0:
            st.grant_room()
        for leg in sim.tables.image_legs[c]:  # the image's move, at a switch before layer 0
            post_leg(sim, leg, offset)
        for step in sim.tables.steps[c]:
            (i, works, phases, phase, interior, border, needs, halo, east, south, adds, reduce,
             sends, phase_sends, gather, legs) = step  # fmt: skip
            st.layer = i
            gather_wait = 0
            if gather:
                key = offset + i * KINDS + GATHER
                if st.missing(key, cal.at):
                    t0 = env.now
                    yield await_key(sim, st, key)
                    gather_wait = env.now - t0
                    if rec is not None:
                        mark(rec, t0, env.now, STALL_BORDER)
            if works:
                name = names[i]
                key = offset + i * KINDS + HALO
                wait_halo = halo > 0
                stalled = border_stall = 0
                # the phases that only compute, handed to the fast path's PhaseRun from ``plain``
                if run is None or phase_sends or (i == res_layer and res.per_phase):  # type: ignore[union-attr]
                    plain = phases
                else:
                    plain = 1 if wait_halo or (streamed and i == 0) else 0
                for k in range(phases):
                    if k == plain:
                        yield run.setup(phases - k, phase, needs, name)  # type: ignore[union-attr]
                        stalled += run.stalled  # type: ignore[union-attr]
                        break
                    if needs:
                        if buf.arrived + buf.common[0] == buf.consumed:
                            t0 = env._now
                            st.key, st.event = BLOCK, sim.event()
                            sim.block_waiting.add(c)
                            yield st.event
                            stalled += env._now - t0
                            if rec is not None:
                                mark(rec, t0, env.now, STALL_WEIGHT)
                        buf.consumed += 1
                        uses = buf.queue.popleft() if buf.queue else None
                    t0 = env._now
                    if wait_halo and st.missing(key, cal.at):
                        if interior:
                            yield sleep(interior)
                        t1 = env._now
                        if st.missing(key, cal.at):
                            yield await_key(sim, st, key)
                            border_stall = env._now - t1
                        if border:
                            yield sleep(border)
                        if rec is not None:
                            mark(rec, t0, t1, name)
                            mark(rec, t1, t1 + border_stall, STALL_BORDER)
                            mark(rec, env.now - border, env.now, name)
                    elif streamed and k == 0 and i == 0:
                        yield from consume_image(sim, c, f, name)
                    elif plain < phases:  # the halo is here: the rest only computes
                        run.uses = uses if needs else None  # type: ignore[union-attr]
                        yield run.setup(phases - k, phase, needs, name, taken=True)  # type: ignore[union-attr]
                        stalled += run.stalled  # type: ignore[union-attr]
                        break
                    else:
                        yield sleep(phase)
                        if rec is not None:
                            mark(rec, t0, env.now, name)
                    wait_halo = False
                    if needs:
                        buf.release(uses)
                    if i == res_layer and res.per_phase:  # type: ignore[union-attr]
                        result_ready(sim, c, f, res.bits[c][k])  # type: ignore[union-attr]
                    if phase_sends:
                        post_all(sim, phase_sends[k], sim.c2c_border_bits, offset)
                if first:
                    sim.stall_weight[i][c] = stalled
                    sim.stall_border[i][c] = border_stall + gather_wait
            if adds:
                for flag, kind in ((east, FROM_EAST), (south, FROM_SOUTH)):
                    if not flag:
                        continue
                    key = offset + i * KINDS + kind
                    if st.missing(key, cal.at):
                        t0 = env.now
                        yield await_key(sim, st, key)
                        if rec is not None:
                            mark(rec, t0, env.now, WAIT_PARTIAL)
                    yield sleep(adds)
                    sim.busy[i][c] += adds if first else 0
                    if rec is not None:
                        mark(rec, env.now - adds, env.now, f"{names[i]} (reduce)")
                if reduce is not None:
                    post(sim, reduce, sim.c2c_reduce_bits, offset)
            if first:
                sim.finish[i][c] = env.now
            if i == res_layer and not res.per_phase:  # type: ignore[union-attr]
                result_ready(sim, c, f, res.bits[c][0])  # type: ignore[union-attr]
            if sends:
                post_all(sim, sends, sim.c2c_border_bits, offset)
            for leg in legs:
                post_leg(sim, leg, offset)
            if i == room_after:
                st.grant_room()
        if first:
            sim.finish_cycles[c] = env.now
        sim.running[f] -= 1
        if not sim.running[f]:
            sim.frame_done[f].succeed()
    sim.chips[c].layer = len(sim.tables.names)
