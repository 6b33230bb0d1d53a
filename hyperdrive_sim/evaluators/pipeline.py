"""Timing of the layer-pipelined organisation: stages timed alone, then composed.

Each stage's own plan (its layers tiled over its band, weights stationary) is timed by the
requested evaluator with its input already in place at cycle 0: no image to load, no weight
to stream, no results to read and no off-chip latency. That gives T_s, the stage's compute
time for one frame (including its halos, reductions and, with ``simpy``, their queueing).

Between stages the previous stage's output map is re-tiled onto the next band: every
message (sender chip, receiver chip, bits) travels XY over the mesh links, store-and-forward,
all leaving when the sending stage has finished. ``analytic`` takes the slower of the
slowest message alone (hops x (cycles + latency)) and the busiest link (its messages back to
back, plus one latency); ``simpy`` simulates the messages queueing on the links (FIFO).
The image is loaded tile by tile over the off-chip interface before stage 0 starts; the
results are read out after the last stage.

One frame (latency): image load + sum of T_s + the transfers between stages + read-out.
Steady state: every stage keeps a receive buffer for the next frame's input (planned in its
FMM), so a stage receives frame n+1 while it computes frame n. Sending its output (the
transfer to the next stage, or the results' interface cycles for the last stage) overlaps
computing the next frame when the stage is double-buffered (its FMM also holds a second
output share, ``Stage.double_buffered``): the stage's period is max(T_s, sending);
otherwise it holds its output until it has been sent: T_s + sending. The interval between
frames is the largest stage period, or the off-chip interface's cycles per frame (image
tiles + results) when that is larger.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict

import numpy as np
import simpy

from hyperdrive_sim.errors import SimulationError
from hyperdrive_sim.evaluators.counts import PER_CHIP, PER_LAYER, PER_LAYER_CHIP, Counts
from hyperdrive_sim.evaluators.cycles import check_cycles, xfer
from hyperdrive_sim.evaluators.des.links import Channel, Interval, send
from hyperdrive_sim.evaluators.des.tables import chip_name
from hyperdrive_sim.evaluators.des.timeline import Timeline
from hyperdrive_sim.mapping.pipeline import Stage
from hyperdrive_sim.mapping.plan import Plan
from hyperdrive_sim.mapping.routes import Transfer
from hyperdrive_sim.spec.hardware import Hardware


def evaluate_pipeline(plan: Plan, evaluator: str) -> Counts:
    """Counts of one frame of a pipelined plan, with the steady-state frame interval."""
    return _run(plan, evaluator)[0]


def _run(plan: Plan, evaluator: str) -> tuple[Counts, list[int]]:
    """Counts, and the cycle at which each stage starts the frame."""
    from hyperdrive_sim.evaluators import EVALUATORS

    if not plan.fits or not plan.stages:
        raise SimulationError(f"cannot evaluate a plan that does not fit: {plan.reason}")
    hw = plan.hw
    stages: tuple[Stage, ...] = plan.stages
    timed = [EVALUATORS[evaluator](timing_plan(st.plan)) for st in stages]
    compute = [c.total_cycles for c in timed]
    moves = [transfer_cycles(st.inbound, hw, evaluator) for st in stages[1:]]
    off = hw.offchip_bits_per_cycle
    image = int(xfer(plan.image_in_bits, off).sum())
    results = int(xfer(plan.result_out_bits, off).sum())
    starts = [image + hw.offchip_latency_cycles]
    for s in range(1, len(stages)):
        starts.append(starts[-1] + compute[s - 1] + moves[s - 1])
    end = starts[-1] + compute[-1]
    total = end + results + hw.offchip_latency_cycles
    outgoing = [*moves, results]
    interval = max(
        max(
            max(t, x) if st.double_buffered else t + x
            for st, t, x in zip(stages, compute, outgoing, strict=True)
        ),
        image + results,
    )
    check_cycles([total, interval])
    return _merge(plan, stages, timed, starts, total, interval, evaluator), starts


def pipeline_timeline(plan: Plan, evaluator: str) -> tuple[Counts, Timeline]:
    """Counts and one frame's timeline: each stage's own timeline shifted to the stage's
    start, on the full mesh's chip and link names, plus the image and results on the
    off-chip interface. Transfers between stages are not drawn on the links."""
    from hyperdrive_sim.evaluators import TIMELINES

    counts, starts = _run(plan, evaluator)
    hw = plan.hw
    cols = hw.mesh.cols
    tracks: dict[str, list[Interval]] = {}
    links: list[str] = []
    for st, start in zip(plan.stages, starts, strict=True):
        _, own = TIMELINES[evaluator](timing_plan(st.plan))

        def moved(name: str, st: Stage = st) -> str:
            return _COORD.sub(
                lambda m: f"({int(m.group(1)) + st.rows[0]},{int(m.group(2)) + st.cols[0]})", name
            )

        for name, intervals in own.tracks.items():
            if name in own.groups.get("off-chip", ()):
                continue
            tracks[moved(name)] = [(a + start, b + start, label) for a, b, label in intervals]
        links.extend(moved(name) for name in own.groups.get("links", ()))
    off = hw.offchip_bits_per_cycle
    port: list[Interval] = []
    t = 0
    for c, cyc in enumerate(xfer(plan.image_in_bits, off).tolist()):
        if cyc:
            port.append((t, t + cyc, f"image {chip_name(c, cols)}"))
            t += cyc
    t = counts.total_cycles - hw.offchip_latency_cycles - int(xfer(plan.result_out_bits, off).sum())
    for c, cyc in enumerate(xfer(plan.result_out_bits, off).tolist()):
        if cyc:
            port.append((t, t + cyc, f"results {chip_name(c, cols)}"))
            t += cyc
    chips = tuple(chip_name(c, cols) for c in range(hw.chips))
    for name in chips:
        tracks.setdefault(name, [])
    tracks[PORT] = port
    groups = {"chips": chips, "links": tuple(sorted(set(links))), "off-chip": (PORT,)}
    return counts, Timeline(tracks, groups, counts.total_cycles, 0)


_COORD = re.compile(r"\((\d+),(\d+)\)")
PORT = "off-chip"


def timing_plan(stage_plan: Plan) -> Plan:
    """The stage's plan as its evaluator sees it: input in place at cycle 0, weights on chip
    (no blocks to wait for), results kept on chip, no off-chip latency."""
    hw = stage_plan.hw
    system = hw.system.model_copy(update={"offchip_latency_ns": 0.0})
    none = np.zeros(0, dtype=np.int64)
    layers = tuple(
        dataclasses.replace(
            lp,
            work=dataclasses.replace(lp.work, blocks=none),
            cached_blocks=np.zeros(0, dtype=bool),
        )
        for lp in stage_plan.layers
    )
    zeros = np.zeros(hw.chips, dtype=np.int64)
    return dataclasses.replace(
        stage_plan,
        hw=dataclasses.replace(hw, system=system),
        layers=layers,
        image_in_bits=zeros,
        result_out_bits=zeros,
    )


def transfer_cycles(messages: tuple[Transfer, ...], hw: Hardware, evaluator: str) -> int:
    """Cycles from the sending stage's end until the last message of a re-tiling arrived."""
    if not messages:
        return 0
    lat = hw.link_latency_cycles
    cycles = [int(xfer(t.bits, hw.link_bits_per_cycle)) for t in messages]
    if evaluator == "simpy":
        return _simulate_transfer(messages, cycles, hw)
    alone = max(len(t.links) * (c + lat) for t, c in zip(messages, cycles, strict=True))
    load: dict[tuple[int, int], int] = defaultdict(int)
    for t, c in zip(messages, cycles, strict=True):
        for link in t.links:
            load[link] += c
    return max(alone, max(load.values()) + lat)


def _simulate_transfer(messages: tuple[Transfer, ...], cycles: list[int], hw: Hardware) -> int:
    """Store-and-forward of every message over FIFO links, all sent at cycle 0."""
    env = simpy.Environment()
    channels: dict[tuple[int, int], Channel] = {}
    for t in messages:
        for link in t.links:
            if link not in channels:
                channels[link] = Channel(
                    f"link {link}", hw.link_bits_per_cycle, hw.link_latency_cycles, False
                )
    got = [0] * len(messages)

    def arrived(k: int, bits: int) -> None:
        got[k] += bits

    for k, (t, c) in enumerate(zip(messages, cycles, strict=True)):
        route = tuple(channels[link] for link in t.links)
        send(
            env,
            route,
            t.bits,
            c,
            f"stage input {t.src}->{t.dst}",
            lambda k=k, b=t.bits: arrived(k, b),
        )
    env.run()
    for ch in channels.values():
        if ch.sent != ch.received:
            raise SimulationError(
                f"conservation: {ch.name} sent {ch.sent} bits but delivered {ch.received}"
            )
    if got != [t.bits for t in messages]:
        raise SimulationError("conservation: a re-tiling message did not arrive whole")
    return int(env.now)


def _merge(
    plan: Plan,
    stages: tuple[Stage, ...],
    timed: list[Counts],
    starts: list[int],
    total: int,
    interval: int,
    evaluator: str,
) -> Counts:
    """Full-mesh Counts from the stages' counts, shifted to each stage's start."""
    hw = plan.hw
    n, chips = len(plan.layers), hw.chips
    grid = {k: np.zeros((n, chips), dtype=np.int64) for k in PER_LAYER_CHIP}
    per_layer = {k: np.zeros(n, dtype=np.int64) for k in PER_LAYER}
    per_chip = {k: np.zeros(chips, dtype=np.int64) for k in PER_CHIP}
    for st, c, start in zip(stages, timed, starts, strict=True):
        ids = np.array(st.chips, dtype=np.int64)
        rows = slice(st.first, st.stop)
        for k in PER_LAYER_CHIP:
            grid[k][rows, ids] = getattr(c, k)
        for k in ("c2c_border_bits", "c2c_weight_bits", "c2c_reduce_bits", "c2c_gather_bits"):
            per_layer[k][rows] = getattr(c, k)
        per_layer["c2c_border_bits"][st.first] += st.link_hop_bits
        per_layer["layer_end"][rows] = start + c.layer_end
        per_chip["stall_io_cycles"][ids] = start + c.stall_io_cycles
        per_chip["finish_cycles"][ids] = start + c.finish_cycles
    frontier = np.concatenate(([starts[0]], per_layer["layer_end"][:-1]))
    per_layer["layer_cycles"] = per_layer["layer_end"] - frontier
    per_chip["image_in_bits"] = plan.image_in_bits.copy()
    per_chip["result_out_bits"] = plan.result_out_bits.copy()
    return Counts(
        evaluator=evaluator,
        layer_names=tuple(lp.name for lp in plan.layers),
        total_cycles=total,
        **grid,
        **per_layer,
        **per_chip,
        frame_interval_cycles=interval,
    )
