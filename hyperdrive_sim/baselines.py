"""Other accelerators' dataflows on the same network, priced with the same I/O energy model.

The core is taken at its published efficiency (energy = ops / core TOp/s/W) and throughput;
what the model adds is the off-chip traffic each dataflow implies for the network:

- every layer with work reads its inputs and writes its output off-chip unless the map
  stays on chip; a ``binary`` accelerator keeps a layer's maps on chip when its inputs and
  output fit the feature-map buffer, an ``fm_streaming`` one never does;
- when a layer's input does not fit the feature-map buffer and its weights do not fit the
  weight buffer, one of them is re-read: the cheaper of (input once, weights once per input
  tile) and (weights once, input once per weight chunk), as a good schedule would choose;
- weights that all fit on chip are loaded once and cost nothing per frame; otherwise each
  layer's weights are read every frame;
- the image is read at ``image_bits`` per value and the network outputs are written;
- ``overhead_pj_per_op`` (default 0) prices the rest of the accelerator's system that its
  published core figure leaves out (host processor, system memories, layers the core does
  not run). It is fitted to the accelerator's own published system-level energy where one
  exists (XNE's ResNet-34 frame energy; see docs/validation.md) and is reported in the
  ``onchip_mem_energy_j`` column, so the core column stays the published core figure.

``keep_maps`` overrides the map-residency policy (default: only ``binary`` accelerators keep
maps that fit on chip): ``hyperdrive-sim validate`` uses it to show how much a ratio depends
on a streaming competitor being allowed to keep its small late-stage maps on chip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hyperdrive_sim.mapping.costs import LAYOUT_KINDS
from hyperdrive_sim.result import LAYER_COLUMNS, RESULT_COLUMNS
from hyperdrive_sim.spec.accelerator import AcceleratorSpec
from hyperdrive_sim.workload.layers import INPUT
from hyperdrive_sim.workload.network import ShapedNetwork

PJ = 1e-12


@dataclass(frozen=True)
class LayerTraffic:
    name: str
    kind: str
    macs: int
    fm_bits: int
    weight_bits: int


def _resolve_views(net: ShapedNetwork) -> dict[str, tuple[str, ...]]:
    """Each tensor as the list of stored tensors it is made of (views are not stored)."""
    parts: dict[str, tuple[str, ...]] = {INPUT: (INPUT,)}
    for info in net.infos:
        name = info.layer.name
        if info.layer.kind in LAYOUT_KINDS:
            parts[name] = tuple(p for ref in info.layer.inputs for p in parts[ref])
        else:
            parts[name] = (name,)
    return parts


def traffic(
    net: ShapedNetwork, acc: AcceleratorSpec, keep_maps: bool | None = None
) -> list[LayerTraffic]:
    """Off-chip bits per layer: feature maps (incl. image and results) and weights.

    ``keep_maps``: may maps that fit the buffer stay on chip (None: only if ``binary``).
    """
    keep = acc.dataflow == "binary" if keep_maps is None else keep_maps
    bits = {INPUT: net.input_shape.elements * acc.image_bits}
    for info in net.infos:
        bits[info.layer.name] = info.out_shape.elements * acc.activation_bits
    parts = _resolve_views(net)
    weights_resident = net.weights * acc.weight_bits <= acc.onchip_weight_bits
    on_chip = {INPUT: False}
    outputs = set(net.outputs)
    rows = []
    for info in net.infos:
        layer = info.layer
        if layer.kind in LAYOUT_KINDS:
            continue
        sources = [p for ref in layer.inputs for p in parts[ref]]
        in_bits = sum(bits[s] for s in sources)
        out_bits = bits[layer.name]
        resident = keep and in_bits + out_bits <= acc.onchip_fm_bits
        fm = sum(bits[s] for s in sources if not (resident and on_chip[s]))
        fm += sum(bits[s] for s in sources if on_chip[s] and not resident)  # spill first
        on_chip[layer.name] = resident
        if not resident or layer.name in outputs:
            fm += out_bits
        w = 0 if weights_resident else info.weights * acc.weight_bits
        if w and not resident and in_bits > acc.onchip_fm_bits and w > acc.onchip_weight_bits:
            tiles_in = math.ceil(in_bits / max(acc.onchip_fm_bits, 1))
            chunks_w = math.ceil(w / max(acc.onchip_weight_bits, 1))
            extra_w, extra_in = w * (tiles_in - 1), in_bits * (chunks_w - 1)
            if extra_w <= extra_in:
                w += extra_w
            else:
                fm += extra_in
        rows.append(LayerTraffic(layer.name, layer.kind, info.macs, fm, w))
    return rows


def baseline_rows(
    net: ShapedNetwork,
    acc: AcceleratorSpec,
    offchip_pj_per_bit: float,
    *,
    keep_maps: bool | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The results.csv row and layers.csv rows of ``acc`` running ``net``."""
    pj = acc.offchip_pj_per_bit if acc.offchip_pj_per_bit is not None else offchip_pj_per_bit
    point_id = f"{acc.name}:{net.name}:{net.input_shape.width}x{net.input_shape.height}"
    layers = traffic(net, acc, keep_maps)
    ops = 2 * net.macs
    image = net.input_shape.elements * acc.image_bits
    fm_bits = sum(t.fm_bits for t in layers)
    weight_bits = sum(t.weight_bits for t in layers)
    offchip = fm_bits + weight_bits
    core_j = ops / (acc.core_tops_per_w * 1e12)
    overhead_j = ops * acc.overhead_pj_per_op * PJ
    io_j = offchip * pj * PJ
    latency = max(ops / (acc.peak_gops * 1e9), offchip / (acc.offchip_bandwidth_gbps * 1e9))
    total = core_j + overhead_j + io_j
    row: dict[str, Any] = dict.fromkeys(RESULT_COLUMNS)
    row.update(
        network=net.name, input_h=net.input_shape.height, input_w=net.input_shape.width,
        mesh_rows=1, mesh_cols=1, chips=1, evaluator="baseline", accelerator=acc.name,
        latency_s=latency, fps=1 / latency, ops=ops, macs=net.macs,
        core_energy_j=core_j, onchip_mem_energy_j=overhead_j, offchip_io_energy_j=io_j,
        c2c_io_energy_j=0.0, leakage_energy_j=0.0, total_energy_j=total,
        offchip_weight_energy_j=weight_bits * pj * PJ,
        image_io_energy_j=(offchip - weight_bits) * pj * PJ,
        core_tops_per_w=acc.core_tops_per_w, system_tops_per_w=ops / total * 1e-12,
        tops=ops / latency * 1e-12, offchip_bits=offchip, weight_bits=weight_bits,
        image_bits=image, c2c_bits=0, offchip_gbps=offchip / latency * 1e-9,
        utilization=ops / latency / (acc.peak_gops * 1e9), fits=True, reason="", status="ok",
        point_id=point_id,
    )  # fmt: skip
    layer_rows = []
    for t in layers:
        lr: dict[str, Any] = dict.fromkeys(LAYER_COLUMNS)
        lr["point_id"] = point_id
        core = 2 * t.macs / (acc.core_tops_per_w * 1e12)
        overhead = 2 * t.macs * acc.overhead_pj_per_op * PJ
        io = (t.fm_bits + t.weight_bits) * pj * PJ
        lr.update(
            network=net.name, input_h=net.input_shape.height, input_w=net.input_shape.width,
            mesh_rows=1, mesh_cols=1, evaluator="baseline", accelerator=acc.name,
            layer=t.name, type=t.kind, ops=2 * t.macs, macs=t.macs, weight_bits=t.weight_bits,
            offchip_bits=t.fm_bits + t.weight_bits, core_energy_j=core,
            onchip_mem_energy_j=overhead, offchip_io_energy_j=io, c2c_io_energy_j=0.0,
            leakage_energy_j=0.0, total_energy_j=core + overhead + io,
        )  # fmt: skip
        layer_rows.append(lr)
    return row, layer_rows
