"""The unit of each numeric spec key a sweep can vary, for the axis labels of sweep curves.

A key's unit comes from the suffix of its name (``offchip_pj_per_bit``: pJ/bit); keys
whose name carries no unit are listed in ``NAMED``. ``unit`` returns None for a key this
module does not know, and tests check that every numeric key of the spec sections has one.
"""

from __future__ import annotations

#: name suffix -> unit, longest suffixes first
SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_pj_per_bit", "pJ/bit"),
    ("_mw_per_mbit", "mW/Mbit"),
    ("_mw_per_chip", "mW per chip"),
    ("_mm2_per_mbit", "mm²/Mbit"),
    ("_mm2_per_kbit", "mm²/kbit"),
    ("_mm2", "mm²"),
    ("_gbps", "Gbit/s"),
    ("_ns", "ns"),
    ("_mhz", "MHz"),
    ("_pj", "pJ"),
    ("_bits", "bit"),
    ("_blocks", "weight blocks"),
    ("_pads", "pads"),
    ("_exponent", "exponent"),
    ("_voltage_v", "V"),
    ("_v", "V"),
    ("_seed", "seed"),
)
#: keys whose name has no unit suffix -> unit
NAMED: dict[str, str] = {
    "tile_rows": "Tile-PUs",
    "tile_cols": "Tile-PUs",
    "fmpus_per_tile": "FMPUs",
    "pipeline_stages": "stages",
    "frames": "frames",
    "batch": "frames per batch",
    "fused_layers": "layers",
    "band_rows": "rows",
}


def unit(column: str) -> str | None:
    """The unit of sweep column ``column`` (``energy.offchip_pj_per_bit``: ``pJ/bit``), or
    None when it is not known."""
    key = column.rsplit(".", 1)[-1]
    if key in NAMED:
        return NAMED[key]
    return next((u for suffix, u in SUFFIXES if key.endswith(suffix)), None)


def axis_label(column: str, log: bool = False) -> str:
    """``column (unit)``, ``column (unit, log scale)``; a column of unknown unit says so."""
    parts = [unit(column) or "unit unknown"]
    if log:
        parts.append("log scale")
    return f"{column} ({', '.join(parts)})"
