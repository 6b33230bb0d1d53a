"""The bundled presets as plain data for tests that build hardware by hand."""

from __future__ import annotations

from pathlib import Path

import yaml

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

#: the per-bit SRAM rule (no memory table) with the values the presets had before CACTI
#: tables, so that hand derivations of SRAM energy stay simple multiplications
PER_BIT_SRAM = {
    "memory_table": None,
    "fmm_read_pj_per_bit": 0.02,
    "fmm_write_pj_per_bit": 0.025,
    "wbuf_read_pj_per_bit": 0.01,
    "wbuf_write_pj_per_bit": 0.01,
    "sram_leakage_mw_per_mbit": 0.06,
    "sram_reference_bits": 6_400_000,
    "sram_energy_exponent": 0.5,
}


def preset(rel: str) -> dict:
    """A preset YAML under configs/ as a dict, without its sources and ranges."""
    data = yaml.safe_load((CONFIGS / rel).read_text())
    data.pop("sources", None)
    data.pop("ranges", None)
    return data
