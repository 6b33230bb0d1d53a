"""Analytic evaluator: the frame's schedule as a max-plus recurrence over (layer, chip).

Per layer, each chip starts when it finished its previous layer, computes the interior of
its first phase, waits for the halo (neighbour's producing layer done + link transfer),
computes the rest, and cannot finish before the layer's last weight block has arrived plus
one phase to use it. Link and memory contention are ignored (the simpy evaluator models
them); on a contention-free system both evaluators agree.
"""

from __future__ import annotations

import numpy as np

from hyperdrive_sim.evaluators.counts import PER_LAYER, Counts, plan_counts
from hyperdrive_sim.mapping.plan import LayerPlan, Plan, reduction_target
from hyperdrive_sim.mapping.routes import chain_hops, halo_hops, halo_sources
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.workload.layers import INPUT


def xfer(bits, bits_per_cycle: float):
    """Cycles to move ``bits`` at ``bits_per_cycle`` (whole cycles; 0 bits take 0 cycles)."""
    return np.ceil(np.asarray(bits) / bits_per_cycle).astype(np.int64)


def transfer_cycles(bits: int, hops: int, hw: Hardware) -> int:
    """Store-and-forward time of one message over ``hops`` links."""
    return hops * (int(xfer(bits, hw.link_bits_per_cycle)) + hw.link_latency_cycles)


def evaluate(plan: Plan) -> Counts:
    hw = plan.hw
    chips, n_layers = hw.chips, len(plan.layers)
    act = hw.chip.activation_bits
    image_arrival = hw.offchip_latency_cycles + np.cumsum(
        xfer(plan.image_in_bits, hw.offchip_bits_per_cycle)
    )
    ready = image_arrival.copy()
    done: dict[str, np.ndarray] = {INPUT: image_arrival}
    stream = hw.offchip_latency_cycles
    hops = chain_hops(hw.mesh)
    sources = halo_sources(hw.mesh)
    hops_per_dir = halo_hops(hw.system.corner_routing)
    busy, s_weight, s_border = (np.zeros((n_layers, chips), dtype=np.int64) for _ in range(3))
    per_layer = {k: np.zeros(n_layers, dtype=np.int64) for k in PER_LAYER}
    frontier = int(ready.max())

    for i, lp in enumerate(plan.layers):
        works = lp.work.cycles > 0
        start = ready.copy()
        halo_ready = np.zeros(chips, dtype=np.int64)
        if not lp.halo_offchip and lp.halo_bits.any():
            produced = done[lp.info.layer.inputs[0]]
            sent = lp.halo_bits > 0
            per_hop = xfer(lp.halo_bits, hw.link_bits_per_cycle) + hw.link_latency_cycles
            arrive = np.where(sent, produced[np.maximum(sources, 0)] + hops_per_dir * per_hop, 0)
            halo_ready = arrive.max(axis=1)
            per_layer["c2c_border_bits"][i] = int((lp.halo_bits * hops_per_dir).sum())
        first_interior = start + lp.phase_cycles - lp.phase_border_cycles
        waited = np.maximum(first_interior, halo_ready)
        compute_end = waited + lp.phase_border_cycles + (lp.phases - 1) * lp.phase_cycles
        s_border[i] = np.where(works, waited - first_interior, 0)

        weight_bound = np.zeros(chips, dtype=np.int64)
        if len(lp.work.blocks):
            stream, weight_bound, bits = _stream_weights(lp, hw, stream, hops)
            per_layer["offchip_weight_bits"][i] = int(lp.work.blocks[~lp.cached_blocks].sum())
            per_layer["c2c_weight_bits"][i] = bits
        finish = np.where(works, np.maximum(compute_end, weight_bound), start)
        s_weight[i] = finish - np.where(works, compute_end, start)
        busy[i] = lp.work.cycles
        if lp.work.reduce_len:
            finish, red_bits, red_busy = _reduce(lp, hw, finish, act)
            per_layer["c2c_reduce_bits"][i] = red_bits
            busy[i] += red_busy
        ready = np.where(works | (busy[i] > 0), finish, start)
        done[lp.name] = ready.copy()
        per_layer["layer_end"][i] = int(ready.max())
        per_layer["layer_cycles"][i] = per_layer["layer_end"][i] - frontier
        frontier = per_layer["layer_end"][i]

    end = int(ready.max())
    readout = hw.offchip_latency_cycles + int(
        xfer(plan.result_out_bits, hw.offchip_bits_per_cycle).sum()
    )
    return Counts(
        evaluator="analytic",
        layer_names=tuple(lp.name for lp in plan.layers),
        total_cycles=end + readout,
        **plan_counts(plan),
        busy_cycles=busy,
        stall_weight_cycles=s_weight,
        stall_border_cycles=s_border,
        **per_layer,
        image_in_bits=plan.image_in_bits.copy(),
        result_out_bits=plan.result_out_bits.copy(),
        stall_io_cycles=image_arrival,
        finish_cycles=ready,
    )


def _stream_weights(lp: LayerPlan, hw: Hardware, stream: int, hops: np.ndarray):
    """Advance the weight stream by one layer; return (cursor, per-chip bound, c2c bits)."""
    blocks = np.where(lp.cached_blocks, 0, lp.work.blocks)
    needs = lp.work.wbuf_write_bits > 0
    if not blocks.any():  # every block comes from the weight cache
        return stream, np.zeros(hw.chips, dtype=np.int64), 0
    if hw.system.weight_distribution == "bus":
        stream += int(xfer(blocks, hw.offchip_bits_per_cycle).sum())
        arrival = np.full(hw.chips, stream, dtype=np.int64)
        c2c = 0
    else:
        rate = min(hw.offchip_bits_per_cycle, hw.link_bits_per_cycle)
        stream += int(xfer(blocks, rate).sum())
        reach = int(hops[needs].max()) if needs.any() else 0
        per_hop = int(xfer(blocks[blocks > 0][-1], hw.link_bits_per_cycle)) + hw.link_latency_cycles
        arrival = stream + hops * per_hop
        c2c = int(blocks.sum()) * reach
    return stream, np.where(needs, arrival + lp.phase_cycles, 0), c2c


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
