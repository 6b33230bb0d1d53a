"""The weight stream: off-chip memory to the chips' weight buffers, in execution order.

- ``bus``: one off-chip read per block, delivered to every chip that needs it. The read
  starts only when every such chip has a free buffer slot, so the slowest chip holds the
  stream back (back-pressure).
- ``chain``: the read goes to the root chip (0, 0); each chip forwards the block to the next
  chip along the snake path (store-and-forward, one block at a time per chip) as far as the
  farthest chip that needs it, over the same links as the halos.
"""

from __future__ import annotations

from collections.abc import Generator

import simpy

from hyperdrive_sim.evaluators.des.phases import PhaseRun, wake_runs
from hyperdrive_sim.evaluators.des.state import BLOCK, Sim
from hyperdrive_sim.evaluators.des.tables import Block


def deliver(sim: Sim, chip: int, block: Block, forward: bool) -> None:
    """``block`` has fully arrived in ``chip``'s buffer (in the slot taken for it)."""
    buf = sim.buffers[chip]
    uses = [0]
    if block.needs[chip]:
        uses[0] = 1
        buf.queue.append(uses)
        buf.arrived += 1
        buf.bits += block.bits
        sim.block_waiting.discard(chip)
        sim.chips[chip].wake(BLOCK)
    if forward:
        uses[0] += 1
        buf.forward.append((block, uses))
        if buf.forward_waiter is not None:
            event, buf.forward_waiter = buf.forward_waiter, None
            event.succeed()
    if not uses[0]:  # passes through nowhere: free the slot at once
        uses[0] = 1
        buf.release(uses)


def deliver_all(sim: Sim, block: Block) -> None:
    """``deliver`` ``block`` to every chip that needs it, none forwarding it (``bus``), and
    wake the chips waiting for it in chip order."""
    buffers, chips, bits = sim.buffers, sim.chips, block.bits
    chain = sim.chain  # a cached block under chain: its uses go in the queue like the rest
    waiting = sim.block_waiting
    if not chain and len(block.needing) == len(chips):  # counted once (WeightBuffer)
        sim.common[0] += 1
        sim.common[1] += bits
        woken = sorted(waiting)
    else:
        for chip in block.needing:
            buf = buffers[chip]
            if chain:
                buf.queue.append([1])
            buf.arrived += 1
            buf.bits += bits
        woken = sorted(c for c in waiting if block.needs[c])
    waiting.difference_update(woken)
    runs: list[PhaseRun] = []  # fast path: runs to wake together, in order
    for chip in woken:
        st = chips[chip]
        if st.event.__class__ is PhaseRun:
            runs.append(st.event)  # type: ignore[arg-type]
            st.key = st.event = None
            continue
        if runs:
            wake_runs(sim.calendar, runs)
            runs = []
        st.wake(BLOCK)
    if runs:
        wake_runs(sim.calendar, runs)


def _take_slot(sim: Sim, chip: int) -> Generator[simpy.Event, None, None]:
    buf = sim.buffers[chip]
    if not buf.free:
        sim.stream_wait = chip
        buf.slot_waiter = event = sim.event()
        yield event
    buf.free -= 1


def weight_source(sim: Sim) -> Generator[simpy.Event, None, None]:
    """Read every block over the off-chip interface, one read at a time, in order."""
    env, port, buffers = sim.env, sim.port, sim.buffers
    chain = sim.chain
    root = sim.tables.snake[0]
    blocks = sim.tables.blocks
    for n, block in enumerate(blocks * sim.frames):  # the stream restarts every frame
        sim.stream_block = n % len(blocks)
        from_root = chain and not block.cached
        for chip in (root,) if from_root else block.needing:
            buf = buffers[chip]  # a free slot on every chip it goes to (_take_slot, inline)
            if not buf.free:
                sim.stream_wait = chip
                buf.slot_waiter = event = sim.event()
                yield event
            buf.free -= 1
        sim.stream_wait = None
        now = env.now
        end = port.reserve(now, block.port_cycles, block.bits, block.label)
        sim.offchip_weight_bits[block.layer] += block.bits

        def arrived(_ev: simpy.Event, block: Block = block, from_root: bool = from_root) -> None:
            port.received += block.bits
            if from_root:
                deliver(sim, root, block, block.reach > 0)
            else:
                deliver_all(sim, block)

        latency = 0 if block.cached else port.latency
        sim.call_in(end + latency - now, arrived)
        yield sim.sleep(end - now)  # the next read is requested when this one has left
    sim.stream_block = len(sim.tables.blocks)


def forwarder(sim: Sim, position: int) -> Generator[simpy.Event, None, None]:
    """``chain``: the chip at ``position`` on the snake forwards blocks to the next one."""
    env, tables = sim.env, sim.tables
    src, dst = tables.snake[position], tables.snake[position + 1]
    buf = sim.buffers[src]
    link = sim.links[src, dst]
    for _ in range(tables.forwards[position] * sim.frames):
        if not buf.forward:
            buf.forward_waiter = event = sim.event()
            yield event
        block, uses = buf.forward.popleft()
        yield from _take_slot(sim, dst)
        now = env.now
        end = link.reserve(now, block.link_cycles, block.bits, block.label)
        sim.c2c_weight_bits[block.layer] += block.bits
        onward = position + 1 < block.reach

        def arrived(_ev: simpy.Event, block: Block = block, onward: bool = onward) -> None:
            link.received += block.bits
            deliver(sim, dst, block, onward)

        sim.call_in(end + link.latency - now, arrived)
        yield sim.sleep(end - now)
        buf.release(uses)
