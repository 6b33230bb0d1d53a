"""SRAM costs of one chip from a memory table: energy per bit, leakage and area at the
operating voltage, for the chip's macro organisation.

Organisation (chip parameters): the feature-map memory is ``tiles x fmm_banks_per_tile``
banks of ``fmm_word_bits``-bit words, each of ``fmm_bits / banks`` bits; the border buffer
is one macro per Tile-PU with the same words; the weight buffer and the weight cache are one
macro each whose word is one weight per FMPU (``fmpus_per_tile x weight_bits`` bits). The
weight buffer holds ``weight_buffer_blocks`` of the network's largest weight block.

Between the table's capacities and word widths a cost is interpolated linearly in
log(cost) over log(capacity), then over log(word width) (CACTI's costs follow power laws of
the capacity over each octave); outside the table the end segment is extended.

Voltage: CACTI gives each corner at its node's nominal Vdd. Dynamic energy scales with
(V / Vdd) ** dynamic_voltage_exponent (2: C V²), leakage power with
(V / Vdd) ** leakage_voltage_exponent (the energy table's rule for all leakage).
``sram_dynamic_scale`` and ``sram_leakage_scale`` (1 at the chosen corner) carry the
spread between CACTI's corners into ``hyperdrive-sim sensitivity``.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from hyperdrive_sim.spec.memory import Corner, Macro, load_memory_table
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable

COSTS = ("read_pj", "write_pj", "leakage_mw", "area_mm2")


@dataclass(frozen=True, slots=True)
class MacroCost:
    """One macro at its corner's Vdd: pJ per access (one word), mW, mm²."""

    word_bits: int
    capacity_bits: int
    read_pj: float
    write_pj: float
    leakage_mw: float
    area_mm2: float


def _segment(xs: list[float], x: float) -> int:
    """Index i of the segment [xs[i], xs[i+1]] holding x (end segments extended)."""
    return min(max(bisect.bisect_right(xs, x) - 1, 0), len(xs) - 2)


def _loglog(xs: list[float], ys: list[float], x: float) -> float:
    """y at x, linear in log y over log x between the two nearest points."""
    i = _segment(xs, x)
    lx0, lx1 = math.log(xs[i]), math.log(xs[i + 1])
    t = (math.log(x) - lx0) / (lx1 - lx0)
    return math.exp((1 - t) * math.log(ys[i]) + t * math.log(ys[i + 1]))


def _of_width(macros: list[Macro], capacity_bits: float) -> dict[str, float]:
    caps = [float(m.capacity_bits) for m in macros]
    return {k: _loglog(caps, [getattr(m, k) for m in macros], capacity_bits) for k in COSTS}


def macro_cost(corner: Corner, word_bits: int, capacity_bits: int) -> MacroCost:
    """A macro of ``capacity_bits`` with ``word_bits``-bit words, interpolated (log-log) in
    the corner's table: first over capacity at the two nearest word widths, then between
    those widths."""
    if capacity_bits <= 0:
        return MacroCost(word_bits, 0, 0.0, 0.0, 0.0, 0.0)
    widths = corner.word_widths()
    if word_bits in widths or len(widths) == 1:
        width = word_bits if word_bits in widths else widths[0]
        got = _of_width(corner.of_width(width), capacity_bits)
    else:
        i = _segment([float(w) for w in widths], word_bits)
        lo, hi = widths[i], widths[i + 1]
        a = _of_width(corner.of_width(lo), capacity_bits)
        b = _of_width(corner.of_width(hi), capacity_bits)
        got = {k: _loglog([lo, hi], [a[k], b[k]], word_bits) for k in COSTS}
    return MacroCost(word_bits, capacity_bits, **got)


@dataclass(frozen=True, slots=True)
class MemoryPrices:
    """A chip's SRAM costs at its operating voltage: pJ per bit moved, mW, mm²."""

    fmm_read_pj_per_bit: float
    fmm_write_pj_per_bit: float
    wbuf_read_pj_per_bit: float
    wbuf_write_pj_per_bit: float
    cache_read_pj_per_bit: float
    #: leakage of the FMM, border buffer and weight cache (the weight buffer, a latch
    #: array in the published chip, is in the logic's leakage)
    sram_leakage_mw: float
    #: area of the FMM, border buffer and weight cache macros
    sram_area_mm2: float


def fmm_bank_bits(chip: ChipSpec) -> int:
    """Bits of one feature-map memory bank (the FMM split evenly over every bank)."""
    return math.ceil(chip.fmm_bits / (chip.tiles * chip.fmm_banks_per_tile))


def weight_word_bits(chip: ChipSpec) -> int:
    """One weight per FMPU: the word the weight buffer and weight cache deliver per cycle."""
    return chip.fmpus_per_tile * chip.weight_bits


def memory_prices(
    chip: ChipSpec, table: EnergyTable, voltage_v: float, wbuf_bits: int
) -> MemoryPrices:
    """SRAM costs of ``chip`` from the energy table's memory table and corner, at
    ``voltage_v``; ``wbuf_bits`` is the weight buffer's capacity."""
    corner = load_memory_table(table.memory_table).corners[table.memory_corner]
    dyn = (voltage_v / corner.vdd_v) ** table.dynamic_voltage_exponent * table.sram_dynamic_scale
    leak = (voltage_v / corner.vdd_v) ** table.leakage_voltage_exponent * table.sram_leakage_scale
    banks = chip.tiles * chip.fmm_banks_per_tile
    fmm = macro_cost(corner, chip.fmm_word_bits, fmm_bank_bits(chip))
    border = macro_cost(corner, chip.fmm_word_bits, math.ceil(chip.border_buffer_bits / chip.tiles))
    weights = weight_word_bits(chip)
    wbuf = macro_cost(corner, weights, wbuf_bits)
    cache = macro_cost(corner, weights, chip.weight_cache_bits)
    macros = ((banks, fmm), (chip.tiles if chip.border_buffer_bits else 0, border), (1, cache))
    return MemoryPrices(
        fmm_read_pj_per_bit=fmm.read_pj / fmm.word_bits * dyn,
        fmm_write_pj_per_bit=fmm.write_pj / fmm.word_bits * dyn,
        wbuf_read_pj_per_bit=wbuf.read_pj / wbuf.word_bits * dyn,
        wbuf_write_pj_per_bit=wbuf.write_pj / wbuf.word_bits * dyn,
        cache_read_pj_per_bit=cache.read_pj / cache.word_bits * dyn,
        sram_leakage_mw=sum(n * m.leakage_mw for n, m in macros) * leak,
        sram_area_mm2=sum(n * m.area_mm2 for n, m in macros),
    )
