"""Build the simulation of a Plan, run it, check conservation, and return Counts."""

from __future__ import annotations

import gc
from dataclasses import dataclass

import numpy as np

from hyperdrive_sim.errors import SimulationError
from hyperdrive_sim.evaluators.counts import Counts, plan_counts
from hyperdrive_sim.evaluators.cycles import check_cycles, link_floor_cycles, steady_interval
from hyperdrive_sim.evaluators.des.chip import chip_process
from hyperdrive_sim.evaluators.des.io import image_loader, port_cycles_per_frame, result_reader
from hyperdrive_sim.evaluators.des.links import Channel
from hyperdrive_sim.evaluators.des.state import BLOCK, IMAGE, Sim
from hyperdrive_sim.evaluators.des.tables import (
    FROM_EAST,
    GATHER,
    HALO,
    KINDS,
    build_tables,
    chip_name,
    mesh_links,
)
from hyperdrive_sim.evaluators.des.timeline import Timeline
from hyperdrive_sim.evaluators.des.weights import forwarder, weight_source
from hyperdrive_sim.mapping.plan import Plan
from hyperdrive_sim.mapping.routes import halo_transfers


@dataclass(frozen=True, eq=False)
class Run:
    counts: Counts
    timeline: Timeline | None
    events: int  # events of the model (simpy's event ids), the same with or without ``fast``
    processed: int  # queue entries the loop took (fewer with ``fast``: batches, last hops)


def run(plan: Plan, record: bool = False, fast: bool = True) -> Run:
    """Simulate ``plan``; ``record`` keeps every interval for a Timeline.

    ``fast=False`` is the plain reference: every event a simpy event, run by simpy. The
    default gives the same results (tests/test_des_fast.py) with fewer, leaner events.
    """
    collecting = gc.isenabled()
    gc.disable()  # a run makes millions of objects and next to no reference cycles
    try:
        return _run(plan, record, fast)
    finally:
        if collecting:
            gc.enable()


def _run(plan: Plan, record: bool, fast: bool) -> Run:
    if not plan.fits:
        raise SimulationError(f"cannot simulate a plan that does not fit: {plan.reason}")
    hw = plan.hw
    links = mesh_links(plan, record)
    port = Channel("off-chip", hw.offchip_bits_per_cycle, hw.offchip_latency_cycles, record)
    tables = build_tables(plan, links)
    sim = Sim(plan, tables, links, port, record, fast)
    env, process = sim.env, sim.process
    # creation order fixes who goes first at equal times: image, weights, forwarders, chips
    others = {"the image loader": process(image_loader(sim))}
    others["the weight stream"] = process(weight_source(sim))
    if sim.chain:
        for p, count in enumerate(tables.forwards):
            if count:
                name = f"the weight forwarding of {chip_name(tables.snake[p], hw.mesh.cols)}"
                others[name] = process(forwarder(sim, p))
    chips = [process(chip_process(sim, c)) for c in range(hw.chips)]
    others["the result reader"] = process(result_reader(sim))
    processed: int | None = None
    if fast:
        processed = sim.calendar.run()
    else:
        env.run()
    sim.total_cycles = sim.result_end[0]  # the first frame's latency
    for c, proc in enumerate(chips):
        if proc.is_alive:
            raise SimulationError(_stuck(sim, c))
    for name, proc in others.items():
        if proc.is_alive:
            raise SimulationError(f"deadlock: {name} never finished ({_stream_state(sim)})")
    _check_conservation(sim)
    events = next(env._eid)  # simpy numbers every scheduled event
    if processed is None:  # simpy's own loop processes every event
        processed = events
    timeline = _timeline(sim, events) if record else None
    return Run(_counts(sim), timeline, events, processed)


def _stream_state(sim: Sim) -> str:
    blocks = sim.tables.blocks
    n = sim.stream_block
    if n >= len(blocks):
        return "every weight block was read"
    where = f"block {n + 1} of {len(blocks)} (layer {sim.tables.names[blocks[n].layer]!r})"
    if sim.stream_wait is not None:
        full = chip_name(sim.stream_wait, sim.plan.hw.mesh.cols)
        return f"the stream waits at {where} for a free weight-buffer slot on {full}"
    return f"the stream is at {where}"


def _stuck(sim: Sim, c: int) -> str:
    """Why chip ``c`` never finished: which layer, and what it waits for."""
    cols = sim.plan.hw.mesh.cols
    st, names = sim.chips[c], sim.tables.names
    who = chip_name(c, cols)
    if st.key == IMAGE:
        return f"deadlock: {who} never received its image tile"
    layer = names[st.layer]
    head = f"deadlock: {who} is stuck in layer {layer!r} waiting for"
    if st.key == BLOCK:
        got = sim.buffers[c].arrived + sim.common[0]
        return f"{head} a weight block (it received {got} blocks; {_stream_state(sim)})"
    if st.key is None:
        return f"{head} nothing (its process ended early)"
    i, kind = divmod(st.key % sim.stride, KINDS)
    if kind == HALO:
        lp = sim.plan.layers[i]
        producer = sim.tables.producer[i]
        missing = []
        hw = sim.plan.hw
        for t in halo_transfers(lp.halo_bits, hw.mesh, hw.system.corner_routing):
            if t.dst != c:
                continue
            if not 0 <= t.src < hw.chips:
                r, col = divmod(c, cols)
                missing.append(f"a neighbour of chip ({r},{col}) that is off the mesh")
            elif producer is not None and sim.chips[t.src].layer <= producer:
                missing.append(
                    f"{chip_name(t.src, cols)} (which has not finished layer "
                    f"{names[producer]!r}: it is in layer {_layer_of(sim, t.src)})"
                )
        left = st.pending[st.key]
        return f"{head} its halo ({left} transfer(s) missing, from {', '.join(missing) or '?'})"
    if kind == GATHER:
        left = st.pending[st.key]
        return f"{head} {left} part(s) of a feature map moved to change partitioning"
    side = "east" if kind == FROM_EAST else "south"
    return f"{head} the partial vector of its {side} neighbour"


def _layer_of(sim: Sim, c: int) -> str:
    i = sim.chips[c].layer
    return repr(sim.tables.names[i]) if 0 <= i < len(sim.tables.names) else "none yet"


def _check_conservation(sim: Sim) -> None:
    plan, tables = sim.plan, sim.tables
    cols = plan.hw.mesh.cols
    for ch in (sim.port, *sim.links.values()):
        if ch.sent != ch.received:
            raise SimulationError(
                f"conservation: {ch.name} sent {ch.sent} bits but delivered {ch.received}"
            )
    n = sim.frames
    for i, lp in enumerate(plan.layers):
        streamed = int(lp.work.blocks[~lp.cached_blocks].sum()) * n
        if sim.offchip_weight_bits[i] != streamed:
            raise SimulationError(
                f"conservation: the weight stream read {sim.offchip_weight_bits[i]} bits for "
                f"layer {lp.name!r}, which streams {streamed} (the rest is cached)"
            )
    for what, got, want in (
        ("image", sim.image_loaded, [b * n for b in tables.image_bits]),
        ("result", sim.result_read, [b * n for b in tables.result_bits]),
    ):
        if list(got) != list(want):
            c = next(c for c in range(len(got)) if got[c] != want[c])
            raise SimulationError(
                f"conservation: {chip_name(c, cols)} moved {got[c]} {what} bits, "
                f"the plan says {want[c]}"
            )
    chips = plan.hw.chips
    need_blocks = [0] * chips
    need_bits = [0] * chips
    every = [0, 0]  # blocks every chip needs, and their bits
    for block in tables.blocks:
        if len(block.needing) == chips:
            every[0] += n
            every[1] += block.bits * n
            continue
        for c in block.needing:
            need_blocks[c] += n
            need_bits[c] += block.bits * n
    need_blocks = [b + every[0] for b in need_blocks]
    need_bits = [b + every[1] for b in need_bits]
    capacity = plan.hw.chip.weight_buffer_blocks
    for c, buf in enumerate(sim.buffers):
        who = chip_name(c, cols)
        arrived, bits = buf.arrived + sim.common[0], buf.bits + sim.common[1]
        if not arrived == buf.consumed == need_blocks[c] or bits != need_bits[c]:
            raise SimulationError(
                f"conservation: {who}'s weight buffer received {arrived} blocks "
                f"({bits} bits) and used {buf.consumed}; it needs {need_blocks[c]} "
                f"({need_bits[c]} bits)"
            )
        if buf.free != capacity or buf.queue or buf.forward:
            raise SimulationError(f"conservation: {who}'s weight buffer is not empty at the end")
    for c, st in enumerate(sim.chips):
        for key, left in st.pending.items():
            if left:
                raise SimulationError(
                    f"conservation: {chip_name(c, cols)} still expects {left} message(s) of "
                    f"layer {tables.names[key % sim.stride // KINDS]!r}"
                )


def _counts(sim: Sim) -> Counts:
    plan = sim.plan
    assert sim.total_cycles is not None
    check_cycles(sim.total_cycles)  # before any 64-bit array holds a cycle count

    def arr(values) -> np.ndarray:
        return np.array(values, dtype=np.int64)

    n = sim.frames

    def per_frame(values) -> np.ndarray:  # every frame moves the same bits
        return arr(values) // n

    # timing arrays describe the first frame; the interval, the steady state
    finish = arr(sim.finish)
    layer_end = finish.max(axis=1)
    frontier = np.concatenate(([max(sim.frame_start)], layer_end[:-1]))
    cycles = np.stack([lp.work.cycles for lp in plan.layers]).astype(np.int64)
    floor = max(port_cycles_per_frame(sim), link_floor_cycles(sim.plan))
    interval = steady_interval(sim.result_end, floor)
    return Counts(
        evaluator="simpy",
        layer_names=sim.tables.names,
        total_cycles=int(sim.total_cycles),
        **plan_counts(plan),
        busy_cycles=cycles + arr(sim.busy),
        stall_weight_cycles=arr(sim.stall_weight),
        stall_border_cycles=arr(sim.stall_border),
        layer_end=layer_end,
        layer_cycles=layer_end - frontier,
        offchip_weight_bits=per_frame(sim.offchip_weight_bits),
        c2c_border_bits=per_frame(sim.c2c_border_bits),
        c2c_weight_bits=per_frame(sim.c2c_weight_bits),
        c2c_reduce_bits=per_frame(sim.c2c_reduce_bits),
        c2c_gather_bits=per_frame(sim.c2c_gather_bits),
        image_in_bits=per_frame(sim.image_loaded),
        result_out_bits=per_frame(sim.result_read),
        stall_io_cycles=arr(sim.stall_io),
        finish_cycles=arr(sim.finish_cycles),
        frame_interval_cycles=interval,
        frames_per_pass=plan.hw.system.batch,
    )


def _timeline(sim: Sim, events: int) -> Timeline:
    cols = sim.plan.hw.mesh.cols
    chips = tuple(chip_name(c, cols) for c in range(sim.plan.hw.chips))
    tracks = {name: list(st.intervals or ()) for name, st in zip(chips, sim.chips, strict=True)}
    links = tuple(sim.links[key].name for key in sorted(sim.links))
    for key in sorted(sim.links):
        tracks[sim.links[key].name] = list(sim.links[key].intervals or ())
    tracks[sim.port.name] = list(sim.port.intervals or ())
    groups = {"chips": chips, "links": links, "off-chip": (sim.port.name,)}
    return Timeline(tracks, groups, int(sim.result_end[-1]), events)
