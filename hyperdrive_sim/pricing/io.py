"""Energy per bit of board-level wires: the weight bus with its drops, and link hops.

A bit sent over a board wire charges the wire's capacitance ``C`` to the I/O supply ``V``
on a 0 -> 1 transition, drawing ``C V²`` from it; a random bit stream has such a transition
on ``io_activity`` (1/4) of its bits. One drop of a bus is the receiving chip's pin (pad,
ESD, receiver, package) plus the board trace that reaches it from the previous drop, so a
bus with ``n`` drops costs ``io_activity · n · (C_pad + C_trace) · V²`` per bit on top of
the memory's own energy (``offchip_pj_per_bit``, which includes its driver). A link hop is a
point-to-point wire: the sending chip's pad, one trace and the receiving pad; a SerDes
link's lanes cost their own energy per bit (``serdes_pj_per_bit``).
"""

from __future__ import annotations

from hyperdrive_sim.spec.models import EnergyTable


def drop_pj_per_bit(table: EnergyTable) -> float:
    """Energy per bit of one bus drop: a pin and a trace charged to the I/O voltage, pJ."""
    farads_pf = table.pad_capacitance_pf + table.trace_capacitance_pf
    return table.io_activity * farads_pf * table.io_voltage_v**2


def bus_pj_per_bit(table: EnergyTable, drops: int) -> float:
    """Wire energy per bit of a bus reaching ``drops`` chips, pJ (the memory's excluded)."""
    return drops * drop_pj_per_bit(table)


def link_pj_per_bit(table: EnergyTable, technology: str = "cmos") -> float:
    """Energy per bit per hop of a chip-to-chip link, pJ: ``c2c_pj_per_bit`` when given,
    else a SerDes lane's ``serdes_pj_per_bit``, or for cmos a point-to-point wire (two pads
    and one trace)."""
    if table.c2c_pj_per_bit is not None:
        return table.c2c_pj_per_bit
    if technology == "serdes":
        return table.serdes_pj_per_bit
    farads_pf = 2 * table.pad_capacitance_pf + table.trace_capacitance_pf
    return table.io_activity * farads_pf * table.io_voltage_v**2


def single_chip_pj_per_bit(table: EnergyTable) -> float:
    """Off-chip energy per bit of a memory wired to one chip: the memory and one drop (what
    an accelerator compared as a single chip pays per DRAM bit), pJ."""
    return table.offchip_pj_per_bit + drop_pj_per_bit(table)


def weight_drops(distribution: str, chips: int) -> int:
    """Drops one off-chip weight bit drives: every chip on a bus, the chain's head alone."""
    return chips if distribution == "bus" else 1
