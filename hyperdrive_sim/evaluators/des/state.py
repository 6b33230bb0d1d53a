"""Mutable state of one simulation run, shared by the processes (never module-level)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from heapq import heappush

import simpy

from hyperdrive_sim.evaluators.des.links import Channel, Interval
from hyperdrive_sim.evaluators.des.tables import KINDS, Block, Tables
from hyperdrive_sim.mapping.plan import Plan
from hyperdrive_sim.mapping.streaming import image_rows, result_parts

#: keys a chip waits on besides messages (which use layer * KINDS + kind >= 0)
BLOCK, IMAGE = -1, -2
#: ``ChipState.image_need`` while a chip waits for no part of a tile
NO_NEED = 1 << 62
#: simpy's priorities: of a process start, and of timeouts and triggered events
URGENT, NORMAL = 0, 1

#: where an event sits in simpy's order: (time, priority, event id)
Stamp = tuple[int, int, int]


class Wait:
    """A ``simpy.Timeout`` without simpy's bookkeeping: scheduled in simpy's order (time,
    priority, event id) by ``Sim.timeout``, processed by the engine's loop like any simpy
    event, and yieldable by a process."""

    __slots__ = ("callbacks",)
    _ok = True
    _value = None

    def __init__(self) -> None:
        self.callbacks: list[Callable] | None = []


class Signal(Wait):
    """A lean ``simpy.Event`` that something else triggers (``succeed``)."""

    __slots__ = ("env",)

    def __init__(self, env: simpy.Environment) -> None:
        self.callbacks = []
        self.env = env

    def succeed(self) -> None:
        env = self.env
        heappush(env._queue, (env._now, NORMAL, next(env._eid), self))


class Proc:
    """A ``simpy.Process`` without simpy's bookkeeping (no interrupts; an exception in the
    generator propagates at once). Its start and its end are events with their ids, as in
    simpy, so the order of events is the same."""

    __slots__ = ("_value", "callbacks", "env", "gen", "resume")
    _ok = True

    def __init__(self, env: simpy.Environment, gen: Generator) -> None:
        self.env, self.gen, self.callbacks = env, gen, []
        self._value: object = simpy.events.PENDING
        self.resume = self._resume
        start = Wait()
        start.callbacks = [self.resume]
        heappush(env._queue, (env._now, URGENT, next(env._eid), start))

    @property
    def is_alive(self) -> bool:
        return self._value is simpy.events.PENDING

    def _resume(self, _event: object) -> None:
        gen = self.gen
        try:
            event = gen.send(None)
            while event.callbacks is None:  # already processed: go on at once
                event = gen.send(event._value)
        except StopIteration:
            self._value = None
            env = self.env
            heappush(env._queue, (env._now, NORMAL, next(env._eid), self))
            return
        event.callbacks.append(self.resume)


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
    Each held block is a one-element list counting its remaining uses.
    """

    __slots__ = (
        "arrived",
        "bits",
        "consumed",
        "forward",
        "forward_waiter",
        "free",
        "queue",
        "slot_waiter",
    )

    def __init__(self, capacity: int) -> None:
        self.free = capacity
        self.slot_waiter: simpy.Event | None = None
        self.arrived = 0  # blocks delivered for this chip's own use
        self.consumed = 0
        self.bits = 0
        self.queue: deque[list[int]] = deque()  # uses of the blocks it will compute with
        self.forward: deque[tuple[Block, list[int]]] = deque()
        self.forward_waiter: simpy.Event | None = None

    def release(self, uses: list[int]) -> None:
        """One use of a held block is over; free its slot after the last."""
        uses[0] -= 1
        if not uses[0]:
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
        #: the event being processed, as the engine's loop popped it (fast only)
        self.at: tuple = (0, 0, -1)
        if fast:
            queue, eid = env._queue, env._eid

            def timeout(delay: int) -> Wait:
                event = Wait()
                heappush(queue, (env._now + delay, NORMAL, next(eid), event))
                return event

            self.timeout: Callable[[int], simpy.Event | Wait] = timeout
            self.event: Callable[[], simpy.Event | Signal] = lambda: Signal(env)
            self.process: Callable[[Generator], simpy.Process | Proc] = lambda g: Proc(env, g)
        else:
            self.timeout = env.timeout
            self.event = env.event
            self.process = env.process
        self.frames = frames = hw.system.frames
        self.stride = layers * KINDS  # message keys of one frame
        self.chips = [
            ChipState(tables.expected[c], record, frames, self.stride) for c in range(chips)
        ]
        self.buffers = [WeightBuffer(hw.chip.weight_buffer_blocks) for _ in range(chips)]
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
        self.frame_done = [self.env.event() for _ in range(frames)]
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
