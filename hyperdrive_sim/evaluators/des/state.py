"""Mutable state of one simulation run, shared by the processes (never module-level)."""

from __future__ import annotations

from collections import deque

import simpy

from hyperdrive_sim.evaluators.des.links import Channel, Interval
from hyperdrive_sim.evaluators.des.tables import KINDS, Block, Tables
from hyperdrive_sim.mapping.plan import Plan
from hyperdrive_sim.mapping.streaming import image_rows, result_parts

#: keys a chip waits on besides messages (which use layer * KINDS + kind >= 0)
BLOCK, IMAGE = -1, -2
#: ``ChipState.image_need`` while a chip waits for no part of a tile
NO_NEED = 1 << 62


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
    ) -> None:
        hw = plan.hw
        chips, layers = hw.chips, len(plan.layers)
        self.env = simpy.Environment()
        self.plan = plan
        self.tables = tables
        self.links = links
        self.port = port
        self.record = record
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
