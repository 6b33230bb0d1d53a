"""How a MAC's energy and area follow the activation and weight precision.

``binary_mac_pj`` and ``fmpu_mm2`` price the published datapath: an FP16 add/subtract per
binary-weight MAC (``REFERENCE_BITS`` wide). Another precision is priced at the ratio of its
datapath to that one, from per-operation costs per bit (Horowitz, ISSCC 2014): the adder
(floating point of ``activation_bits`` for ``activation_mode: fp16``, integer of
``activation_bits`` for ``fixed``) plus, for ``weight_format: integer``, a multiplier
(floating point of the activation width, or ``activation_bits x weight_bits`` integer).
Binary and ternary weights need no multiplier (a sign, and for ternary a zero); ternary
zero weights skip the add (gated), so its energy is paid on ``1 - ternary_zero_fraction``
of the MACs. Using the ratio keeps whatever else the binary MAC energy holds (fitted
overheads) in proportion to the datapath.
"""

from __future__ import annotations

from hyperdrive_sim.spec.area import AreaTable
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable

#: width of the reference datapath: binary_mac_pj, fp16_add_pj and fmpu_mm2 are FP16 units
REFERENCE_BITS = 16


def _adder(chip: ChipSpec, fp_per_bit: float, int_per_bit: float) -> float:
    per_bit = int_per_bit if chip.activation_mode == "fixed" else fp_per_bit
    return per_bit * chip.activation_bits


def _multiplier(chip: ChipSpec, fp_per_bit: float, int_per_bit2: float) -> float:
    if chip.weight_format != "integer":
        return 0.0
    if chip.activation_mode == "fixed":
        return int_per_bit2 * chip.activation_bits * chip.weight_bits
    return fp_per_bit * chip.activation_bits


def is_reference(chip: ChipSpec) -> bool:
    """The published datapath: FP16 feature maps (or binary mode, whose multi-bit layers
    are FP16) of ``REFERENCE_BITS`` and binary weights; its ratios are exactly 1."""
    return (
        chip.activation_mode != "fixed"
        and chip.activation_bits == REFERENCE_BITS
        and chip.weight_format == "binary"
    )


def mac_energy_ratio(chip: ChipSpec, table: EnergyTable) -> float:
    """Energy of one of ``chip``'s MACs over the FP16 binary-weight MAC's."""
    if is_reference(chip):
        return 1.0
    add = _adder(chip, table.fp_add_pj_per_bit, table.int_add_pj_per_bit)
    mul = _multiplier(chip, table.fp_mul_pj_per_bit, table.int_mul_pj_per_bit2)
    active = 1.0 - chip.ternary_zero_fraction if chip.weight_format == "ternary" else 1.0
    return (add + mul) * active / (table.fp_add_pj_per_bit * REFERENCE_BITS)


def add_energy_ratio(chip: ChipSpec, table: EnergyTable) -> float:
    """Energy of one feature-map add (pooling, residual, reduction) over an FP16 add's."""
    if is_reference(chip):
        return 1.0
    add = _adder(chip, table.fp_add_pj_per_bit, table.int_add_pj_per_bit)
    return add / (table.fp_add_pj_per_bit * REFERENCE_BITS)


def mac_area_ratio(chip: ChipSpec, table: AreaTable) -> float:
    """Area of one of ``chip``'s FMPUs over the FP16 add/subtract FMPU's."""
    if is_reference(chip):
        return 1.0
    add = _adder(chip, table.fp_add_um2_per_bit, table.int_add_um2_per_bit)
    mul = _multiplier(chip, table.fp_mul_um2_per_bit, table.int_mul_um2_per_bit2)
    return (add + mul) / (table.fp_add_um2_per_bit * REFERENCE_BITS)
