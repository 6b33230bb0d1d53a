"""Cycle arithmetic shared by the evaluators: transfer times, checked against MAX_CYCLES."""

from __future__ import annotations

import numpy as np

from hyperdrive_sim.errors import InputError
from hyperdrive_sim.limits import MAX_CYCLES
from hyperdrive_sim.mapping.plan import LayerPlan, Plan
from hyperdrive_sim.mapping.routes import chain_hops, inbound_link_bits


def too_many_cycles(cycles: float) -> InputError:
    """The error for a frame or transfer longer than the simulator counts (limits.MAX_CYCLES)."""
    return InputError(
        f"a transfer or the frame would take {cycles:.3g} cycles, more than the "
        f"{MAX_CYCLES:.3g} the simulator counts: raise the bandwidths, lower the latencies "
        "or the clock frequency",
        key="system",
    )


def check_cycles(cycles) -> None:
    """Raise ``too_many_cycles`` unless every value of ``cycles`` is at most MAX_CYCLES."""
    arr = np.asarray(cycles)
    if arr.size and not arr.max() <= MAX_CYCLES:  # also catches NaN
        raise too_many_cycles(float(arr.max()))


def xfer(bits, bits_per_cycle: float):
    """Cycles to move ``bits`` at ``bits_per_cycle`` (whole cycles; 0 bits take 0 cycles).

    Computed in float and checked against MAX_CYCLES before the cast, which would otherwise
    wrap silently for an absurdly slow channel.
    """
    cycles = np.ceil(np.asarray(bits, dtype=np.float64) / bits_per_cycle)
    check_cycles(cycles)
    return cycles.astype(np.int64)


def steady_interval(ends: list[int], floor_cycles: int = 0) -> int:
    """Cycles between frames in steady state, from each frame's result time; 0 for one frame.

    The first frames fill the pipeline and the last one has the interface to itself (no
    next frame competes with its results), so with three frames or more the last is left
    out and the mean is taken over the second half of the rest. It is never less than
    ``floor_cycles``, what the busiest shared resource (the off-chip interface, or a
    chip-to-chip link) needs per frame: with few frames, one frame's results delayed behind
    the next frame's image would otherwise shorten the measured interval below what that
    resource can carry.
    """
    usable = ends[:-1] if len(ends) >= 3 else ends
    n = len(usable)
    if n < 2:
        return 0
    h = (n - 1) // 2
    return max(round((usable[-1] - usable[h]) / (n - 1 - h)), floor_cycles)


def bursts(bits: int, cycles: int, burst_cycles: int) -> list[tuple[int, int]]:
    """A transfer of ``bits`` taking ``cycles`` split into bursts of at most ``burst_cycles``:
    (bits, cycles) of each, in order; their cycles and bits add up to the whole exactly (a
    transfer of 0 cycles is one empty burst)."""
    if cycles <= 0:
        return [(bits, 0)]
    out: list[tuple[int, int]] = []
    done_cycles = done_bits = 0
    while done_cycles < cycles:
        step = min(burst_cycles, cycles - done_cycles)
        done_cycles += step
        upto = bits * done_cycles // cycles
        out.append((upto - done_bits, step))
        done_bits = upto
    return out


def block_reach(lp: LayerPlan, hops: np.ndarray) -> np.ndarray:
    """``chain``: snake positions each of the layer's blocks travels past the root: to the
    farthest chip that needs it (its owner under channel partitioning)."""
    if lp.block_owner is not None:
        return hops[lp.block_owner]
    needs = lp.work.wbuf_write_bits > 0
    return np.full(len(lp.work.blocks), int(hops[needs].max()) if needs.any() else 0)


def link_floor_cycles(plan: Plan) -> int:
    """The busiest directed link's cycles per frame: its halo bits and, with ``chain``
    distribution, the weight blocks it forwards. Frames can follow each other no faster
    than that link carries one frame's bits, whichever evaluator schedules them."""
    hw = plan.hw
    if hw.chips < 2 or not plan.layers:
        return 0
    halo = np.zeros((hw.chips, plan.layers[0].halo_bits.shape[1]), dtype=np.int64)
    for lp in plan.layers:
        if not lp.halo_offchip:
            halo += lp.halo_bits
    forwarded = None
    if hw.system.weight_distribution == "chain":
        hops = chain_hops(hw.mesh)
        forwarded = np.zeros(hw.chips, dtype=np.int64)
        for lp in plan.layers:
            streamed = lp.work.blocks * ~lp.cached_blocks
            reach = block_reach(lp, hops)
            for h in np.unique(reach[streamed > 0]):
                forwarded[:h] += int(streamed[reach == h].sum())
    bits = inbound_link_bits(halo, hw.mesh, hw.system.corner_routing, forwarded)
    return int(xfer(int(bits.max()), hw.link_bits_per_cycle)) if bits.any() else 0
