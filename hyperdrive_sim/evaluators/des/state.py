"""Mutable state of one simulation run, shared by the processes (never module-level)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator

import simpy

from hyperdrive_sim.evaluators.des.events import Calendar, Proc, Signal, Stamp
from hyperdrive_sim.evaluators.des.links import Channel, Interval
from hyperdrive_sim.evaluators.des.tables import KINDS, Block, Tables
from hyperdrive_sim.mapping.plan import Plan
from hyperdrive_sim.mapping.streaming import image_rows, result_parts

#: keys a chip waits on besides messages (which use layer * KINDS + kind >= 0)
BLOCK, IMAGE = -1, -2
#: ``ChipState.image_need`` while a chip waits for no part of a tile
NO_NEED = 1 << 62


class Arrival:
    """The last message of a key, scheduled with the id it took when it was sent: it
    wakes the chip that waits for the key, in the same order as a delivery event would."""

    __slots__ = ("callbacks", "key", "st")
    _ok = True
    _value = None

    def __init__(self, st: ChipState, key: int) -> None:
        self.callbacks: list[Callable] | None = [self.arrived]
        self.st, self.key = st, key

    def arrived(self, _event: object) -> None:
        self.st.wake(self.key)


class ChipState:
    """What a chip waits for (``key``, ``event``) and the messages still to come.

    Frame f's messages use keys offset by ``f * stride``, so a neighbour running ahead into
    the next frame never counts towards this frame's halo.
    """

    __slots__ = (
        "event",
        "frame",
        "image_need",
        "images",
        "intervals",
        "key",
        "last",
        "layer",
        "pending",
        "room",
        "room_event",
    )

    def __init__(self, expected: dict[int, int], record: bool, frames: int, stride: int) -> None:
        self.key: int | None = None
        self.event: simpy.Event | None = None
        self.pending = {
            key + f * stride: count for f in range(frames) for key, count in expected.items()
        }
        #: key -> latest stamp of its messages delivered without an event (see Sim.fast)
        self.last: dict[int, Stamp] = {}
        self.images = 0  # image tiles arrived (one per frame)
        self.image_need = NO_NEED  # image bits (all frames) a streamed first layer waits for
        self.room = 1  # image tiles the FMM has room for so far
        self.room_event: simpy.Event | None = None
        self.frame = 0
        self.layer = -1  # index of the step being executed, for error messages
        self.intervals: list[Interval] | None = [] if record else None

    def grant_room(self) -> None:
        """The FMM can now take the next frame's image tile."""
        self.room += 1
        if self.room_event is not None:
            event, self.room_event = self.room_event, None
            if not event.triggered:  # the loader may wait on several chips' room at once
                event.succeed()

    def wake(self, key: int) -> None:
        if self.key == key:
            event, self.key, self.event = self.event, None, None
            event.succeed()  # type: ignore[union-attr]

    def missing(self, key: int, at: tuple) -> bool:
        """Whether a message of ``key`` is still to arrive when the event at ``at`` is
        processed (a message with a stamp is there once its stamp is earlier)."""
        if self.pending[key]:
            return True
        last = self.last.get(key)
        return last is not None and last > at


class WeightBuffer:
    """A chip's weight buffer: ``capacity`` block slots.

    A slot is taken when a block starts to arrive and freed when every use of the block is
    over: the phase that computes with it, and (``chain``) its forwarding to the next chip.
    Under ``chain`` each held block is a one-element list counting its remaining uses, in
    ``queue``; under ``bus`` a block's only use is its phase, so ``queue`` stays empty.

    Blocks that every chip needs arrive at every chip at once under ``bus``: they are
    counted once, in ``common`` (shared by every buffer: blocks, bits), not per chip; a
    chip has a block to compute with when ``arrived + common[0] > consumed``.
    """

    __slots__ = (
        "arrived",
        "bits",
        "common",
        "consumed",
        "forward",
        "forward_waiter",
        "free",
        "queue",
        "slot_waiter",
    )

    def __init__(self, capacity: int, common: list[int]) -> None:
        self.free = capacity
        self.slot_waiter: simpy.Event | None = None
        self.common = common
        self.arrived = 0  # other blocks delivered for this chip's own use
        self.consumed = 0
        self.bits = 0
        #: chain: the uses of the blocks it will compute with
        self.queue: deque[list[int]] = deque()
        self.forward: deque[tuple[Block, list[int]]] = deque()
        self.forward_waiter: simpy.Event | None = None

    def release(self, uses: list[int] | None) -> None:
        """One use of a held block is over (None: its only use); free its slot after the last."""
        if uses is not None:
            uses[0] -= 1
        if uses is None or not uses[0]:
            self.free += 1
            if self.slot_waiter is not None:
                event, self.slot_waiter = self.slot_waiter, None
                event.succeed()


class Sim:
    """The environment, components and counters of one run."""

    def __init__(
        self,
        plan: Plan,
        tables: Tables,
        links: dict[tuple[int, int], Channel],
        port: Channel,
        record: bool,
        fast: bool = True,
    ) -> None:
        hw = plan.hw
        chips, layers = hw.chips, len(plan.layers)
        self.env = env = simpy.Environment()
        self.plan = plan
        self.tables = tables
        self.links = links
        self.port = port
        self.record = record
        #: fast: lean events, and a message's last hop delivered without an event of its
        #: own (it keeps the event id it would have had, so the order of events is simpy's
        #: and the results are those of ``fast=False``, which simulates every event)
        self.fast = fast
        #: the fast path's event ids, queue and batches; ``calendar.at`` is the event being
        #: processed (fast only: the plain path never delivers a message without an event)
        self.calendar = cal = Calendar(env)
        #: ``yield sleep(d)``: a timeout a process waits for; ``call_in(d, f)``: call
        #: ``f(event)`` in ``d`` cycles
        self.sleep: Callable[[int], object]
        self.call_in: Callable[[int, Callable[[object], None]], None]
        if fast:
            self.sleep = int  # Proc takes an int for a sleep (events.py)

            def call_in(delay: int, callback: Callable[[object], None]) -> None:
                cal.later(env._now + delay, callback)

            self.event: Callable[[], simpy.Event | Signal] = lambda: Signal(cal)
            self.process: Callable[[Generator], simpy.Process | Proc] = lambda g: Proc(cal, g)
        else:
            self.sleep = env.timeout

            def call_in(delay: int, callback: Callable[[object], None]) -> None:
                env.timeout(delay).callbacks.append(callback)

            self.event = env.event
            self.process = env.process
        self.call_in = call_in
        self.chain = hw.system.weight_distribution == "chain"
        self.frames = frames = hw.system.frames
        self.stride = layers * KINDS  # message keys of one frame
        self.chips = [
            ChipState(tables.expected[c], record, frames, self.stride) for c in range(chips)
        ]
        #: bus: blocks every chip needs, delivered, and their bits (WeightBuffer.common)
        self.common = [0, 0]
        self.buffers = [
            WeightBuffer(hw.chip.weight_buffer_blocks, self.common) for _ in range(chips)
        ]
        #: chips waiting for a weight block (``ChipState.key == BLOCK``)
        self.block_waiting: set[int] = set()
        self.offchip_weight_bits = [0] * layers
        self.c2c_border_bits = [0] * layers
        self.c2c_weight_bits = [0] * layers
        self.c2c_reduce_bits = [0] * layers
        self.c2c_gather_bits = [0] * layers
        self.image_loaded = [0] * chips
        self.result_read = [0] * chips
        self.busy = [[0] * chips for _ in range(layers)]
        self.stall_weight = [[0] * chips for _ in range(layers)]
        self.stall_border = [[0] * chips for _ in range(layers)]
        self.finish = [[0] * chips for _ in range(layers)]
        self.stall_io = [0] * chips  # when the first frame's image tile arrived
        self.frame_start = [0] * chips  # when the first frame's first layer could start
        self.finish_cycles = [0] * chips
        self.running = [chips] * frames  # chips still computing each frame
        self.frame_done = [self.event() for _ in range(frames)]
        self.image_start = [0] * frames  # when each frame's first tile began to load
        self.result_end = [0] * frames  # when each frame's last result arrived
        # streamed I/O (des/io.py): how each chip's first layer reads its tile, and the
        # result parts ready to be read, (frame, chip, bits) in the order they became ready
        self.image_rows = image_rows(plan)
        self.results = result_parts(plan)
        self.result_queue: deque[tuple[int, int, int]] = deque()
        self.result_waiter: simpy.Event | None = None
        self.total_cycles: int | None = None
        self.stream_block = 0  # next block the weight source reads
        self.stream_wait: int | None = None  # chip whose full buffer holds the stream back
