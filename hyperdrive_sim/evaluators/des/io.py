"""The frame's I/O over the shared off-chip interface: the image loader, the first layer
reading its tile as it arrives, and the result reader.

Image: the loader sends the chips' tiles in bursts, one burst per chip in turn (round
robin), each tile in the order its first layer's lock-step Tile-PU array reads it
(mapping/streaming.py); the first phase of that layer computes each local row of its steps
once the row's input has arrived. Results: each part is read as soon as the output layer's
phase (or the layer) that makes it has ended, in the order they became ready.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator

import simpy

from hyperdrive_sim.evaluators.cycles import bursts, xfer
from hyperdrive_sim.evaluators.des.labels import WAIT_IMAGE, mark
from hyperdrive_sim.evaluators.des.state import IMAGE, NO_NEED, Sim
from hyperdrive_sim.evaluators.des.tables import chip_name


def image_loader(sim: Sim) -> Generator[simpy.Event, None, None]:
    """Load every chip's input tile (with its halo), one burst per chip in turn.

    Each burst is requested when the previous one has left, so weight reads take turns
    with them on the interface. With ``frames`` back to back, a chip's next tile waits
    until its FMM has room for it (``next_image_layer``); meanwhile the loader serves the
    other chips, and it starts a frame's tiles once the previous frame's have all left.
    """
    env, port, tables = sim.env, sim.port, sim.tables
    cols = sim.plan.hw.mesh.cols
    burst = sim.plan.hw.offchip_burst_cycles
    parts = [
        bursts(bits, cycles, burst)
        for bits, cycles in zip(tables.image_bits, tables.image_cycles, strict=True)
    ]
    chips = sim.chips
    for f in range(sim.frames):
        active = deque(range(len(parts)))  # chips with bursts left, in turn
        sent = [0] * len(parts)
        first = True
        while active:
            for _ in range(len(active)):
                if chips[active[0]].room > f:
                    break
                active.rotate(-1)
            else:  # no chip with bursts left has room: wait for the first that does
                event = sim.event()
                for c in active:
                    chips[c].room_event = event
                yield event
                continue
            c = active.popleft()
            part_bits, part_cycles = parts[c][sent[c]]
            sent[c] += 1
            last = sent[c] == len(parts[c])
            if not last:
                active.append(c)
            now = env.now
            end = port.reserve(now, part_cycles, part_bits, f"image {chip_name(c, cols)}")
            if first:
                sim.image_start[f] = end - part_cycles
                first = False

            def arrived(_ev: simpy.Event, c: int = c, bits: int = part_bits, last=last) -> None:
                port.received += bits
                sim.image_loaded[c] += bits
                st = chips[c]
                if last:
                    st.images += 1
                    st.wake(IMAGE)
                elif sim.image_loaded[c] >= st.image_need:
                    st.wake(IMAGE)

            sim.call_in(end + port.latency - now, arrived)
            if end > now:
                yield sim.sleep(end - now)


def consume_image(sim: Sim, c: int, f: int, name: str) -> Generator[simpy.Event, None, None]:
    """The first phase of chip ``c``'s first layer in frame ``f``: each local row of its
    lock-step steps once the row's input has arrived (``sim.image_rows[c]``). The waits
    count as the chip's io stall in the first frame."""
    env, st, rows = sim.env, sim.chips[c], sim.image_rows[c]
    assert rows is not None
    rec = st.intervals
    base = f * sim.tables.image_bits[c]
    need, ends = rows.need, rows.ends
    k, done, waited = 0, 0, 0
    while k < len(need):
        if sim.image_loaded[c] < base + need[k]:
            t0 = env.now
            st.image_need = base + need[k]
            st.key, st.event = IMAGE, sim.event()
            yield st.event
            st.image_need = NO_NEED
            waited += env.now - t0
            if rec is not None:
                mark(rec, t0, env.now, WAIT_IMAGE)
        # every row whose input is here runs back to back; then look again
        upto = k
        while upto + 1 < len(need) and sim.image_loaded[c] >= base + need[upto + 1]:
            upto += 1
        t0 = env.now
        if ends[upto] > done:
            yield sim.sleep(ends[upto] - done)
        if rec is not None:
            mark(rec, t0, env.now, name)
        done, k = ends[upto], upto + 1
    if f == 0:
        sim.stall_io[c] += waited


def result_ready(sim: Sim, c: int, f: int, bits: int) -> None:
    """Chip ``c`` has produced ``bits`` of frame ``f``'s results: queue them for reading."""
    if not bits:
        return
    sim.result_queue.append((f, c, bits))
    waiter, sim.result_waiter = sim.result_waiter, None
    if waiter is not None:
        waiter.succeed()


def result_reader(sim: Sim) -> Generator[simpy.Event, None, None]:
    """Read the results out as they become ready, one burst at a time (weight reads and
    image bursts take turns with them); a frame ends when its last result has arrived."""
    env, port = sim.env, sim.port
    cols = sim.plan.hw.mesh.cols
    hw = sim.plan.hw
    res = sim.results
    per_frame = 0 if res is None else sum(1 for chip in res.bits for b in chip if b)
    if not per_frame:  # nothing to read: the frame ends with its last layer
        for f in range(sim.frames):
            yield sim.frame_done[f]

            def ended(_ev: simpy.Event, f: int = f) -> None:
                sim.result_end[f] = env.now

            sim.call_in(port.latency, ended)
        return
    left = [per_frame] * sim.frames
    for _ in range(per_frame * sim.frames):
        if not sim.result_queue:
            sim.result_waiter = event = sim.event()
            yield event
        f, c, bits = sim.result_queue.popleft()
        cycles = int(xfer(bits, hw.offchip_bits_per_cycle))
        end = env.now
        for part_bits, part_cycles in bursts(bits, cycles, hw.offchip_burst_cycles):
            now = env.now
            end = port.reserve(now, part_cycles, part_bits, f"results {chip_name(c, cols)}")
            if end > now:
                yield sim.sleep(end - now)
        sim.result_read[c] += bits

        def arrived(_ev: simpy.Event, f: int = f, bits: int = bits) -> None:
            port.received += bits
            left[f] -= 1
            if not left[f]:
                sim.result_end[f] = env.now

        sim.call_in(end + port.latency - env.now, arrived)


def port_cycles_per_frame(sim: Sim) -> int:
    """The off-chip interface's busy cycles per frame: image bursts, weight reads, results."""
    off = sim.plan.hw.offchip_bits_per_cycle
    res = sim.results
    parts = () if res is None else (b for chip in res.bits for b in chip if b)
    results = sum(int(xfer(b, off)) for b in parts)
    return sum(sim.tables.image_cycles) + sum(b.port_cycles for b in sim.tables.blocks) + results
