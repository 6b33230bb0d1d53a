"""The palette: what each colour of the figures means, one place only.

A colour means one thing in every figure (tests walk the legends to check it): the energy
of a part, time spent doing something, or traffic of a kind. Colours are colour-blind safe
(Okabe-Ito); compute-side energy is cool, I/O warm, and waiting for X a pale tint of X.

Energy has six parts (``ENERGY_PARTS``), each with one colour and one label in every
figure. Off-chip I/O is two of them, never one bar: the weight stream, and the image in,
the results out and -- for accelerators that stream feature maps through off-chip memory
(baselines) -- the maps. ``frame_energy`` and ``layer_energy`` read a part from a results
row and a layers row.
"""

from __future__ import annotations

from hyperdrive_sim.pricing import PARTS

#: meaning -> (colour, legend label)
MEANINGS: dict[str, tuple[str, str]] = {
    "compute": ("#0072B2", "core compute"),
    "compute_alt": ("#003E66", "core compute (next layer)"),
    "onchip_mem": ("#56B4E9", "on-chip memory"),
    "offchip_weights": ("#D55E00", "off-chip I/O: weights"),
    "offchip_maps": ("#CC79A7", "off-chip I/O: image, results, streamed maps"),
    "c2c_io": ("#E69F00", "chip-to-chip I/O"),
    "leakage": ("#999999", "leakage"),
    "stall_weight": ("#F2A97E", "stall: waiting for weights"),
    "stall_border": ("#F0E442", "stall: waiting for halo (border) pixels"),
    "stall_io": ("#E9C3D9", "waiting for input image"),
    "wait_other": ("#BDBDBD", "waiting for partial sums"),
    "wait_layer": ("#E2E2E2", "waiting beyond the slowest chip's compute"),
    "link_halo": ("#9E6D00", "chip-to-chip: halo (border) pixels"),
    "link_reduce": ("#009E73", "chip-to-chip: partial sums (reduce)"),
    "link_weights": ("#7A3300", "chip-to-chip: forwarded weights"),
    "transfer_other": ("#5F5F5F", "other transfer"),
}
assert len({c.lower() for c, _ in MEANINGS.values()}) == len(MEANINGS), "a colour, two meanings"
assert len({lbl for _, lbl in MEANINGS.values()}) == len(MEANINGS), "a label, two colours"


def color(meaning: str) -> str:
    """The colour of ``meaning`` (a key of MEANINGS)."""
    return MEANINGS[meaning][0]


def label(meaning: str) -> str:
    """The legend label of ``meaning`` (a key of MEANINGS)."""
    return MEANINGS[meaning][1]


#: the energy parts of a frame, in the order bars stack them (keys of MEANINGS)
ENERGY_PARTS = ("compute", "onchip_mem", "offchip_weights", "offchip_maps", "c2c_io", "leakage")
#: the parts that count as I/O in the "I/O share" of a frame's energy: off-chip (both
#: parts) plus chip-to-chip, as the run table's "I/O %"
IO_PARTS = ("offchip_weights", "offchip_maps", "c2c_io")
#: energy part -> results column (J per frame)
FRAME_COLUMNS: dict[str, str] = {
    "compute": "core_energy_j",
    "onchip_mem": "onchip_mem_energy_j",
    "offchip_weights": "offchip_weight_energy_j",
    "offchip_maps": "image_io_energy_j",
    "c2c_io": "c2c_io_energy_j",
    "leakage": "leakage_energy_j",
}
#: pricing part -> the energy part it is, where it is one (off-chip I/O is two)
PRICING_PARTS: dict[str, str] = {
    "core": "compute",
    "onchip_mem": "onchip_mem",
    "c2c_io": "c2c_io",
    "leakage": "leakage",
}
assert set(PRICING_PARTS) | {"offchip_io"} == set(PARTS), "palette.py is out of date with PARTS"
assert set(FRAME_COLUMNS) == set(ENERGY_PARTS)


def frame_energy(row: dict, part: str) -> float:
    """Joules per frame of energy ``part`` in a results row (0 when the row has none)."""
    return row.get(FRAME_COLUMNS[part]) or 0.0


def layer_energy(layer: dict, part: str) -> float:
    """Joules of energy ``part`` in a layers row. A Hyperdrive layer's off-chip I/O is its
    weight stream (the image and results are frame-level); a baseline's layer streams its
    weights and maps, split by their bits."""
    if part in PRICING_PARTS.values():
        pricing = next(p for p, m in PRICING_PARTS.items() if m == part)
        return layer.get(f"{pricing}_energy_j") or 0.0
    offchip = layer.get("offchip_io_energy_j") or 0.0
    weights = offchip
    if layer.get("evaluator") == "baseline":
        bits = layer.get("offchip_bits") or 0
        weights = offchip * (layer.get("weight_bits") or 0) / bits if bits else 0.0
    return weights if part == "offchip_weights" else offchip - weights
