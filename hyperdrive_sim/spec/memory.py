"""A memory table: SRAM macro costs per cell corner, word width and capacity (from CACTI).

Written by ``hyperdrive-sim memory-table`` (``hyperdrive_sim/cacti.py``); bundled tables live
in ``configs/memory/``. An energy table names one with ``memory_table:`` (a bundled name such
as ``cacti_22nm``, or a path to a .yaml file), and ``pricing.memory`` reads its costs.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from hyperdrive_sim import limits
from hyperdrive_sim.spec.base import Spec, integer, number

Positive = number(gt=0, le=limits.MAX_ENERGY_PJ)
#: relative tolerance of a per-bit value against per-access / word (six printed digits)
PER_BIT_TOLERANCE = 1e-4


class Macro(Spec):
    """One SRAM macro at its corner's Vdd: per access (one word) and per bit, leakage, area."""

    word_bits: integer(gt=0, le=limits.MAX_WORD_BITS)
    capacity_bits: integer(gt=0, le=limits.MAX_MEMORY_BITS)
    read_pj: Positive
    write_pj: Positive
    read_pj_per_bit: Positive
    write_pj_per_bit: Positive
    leakage_mw: number(gt=0, le=limits.MAX_LEAKAGE_MW)
    area_mm2: number(gt=0, le=limits.MAX_AREA_MM2)

    @model_validator(mode="after")
    def _per_bit(self) -> Macro:
        for op in ("read", "write"):
            access, per_bit = getattr(self, f"{op}_pj"), getattr(self, f"{op}_pj_per_bit")
            if abs(per_bit * self.word_bits - access) > PER_BIT_TOLERANCE * access:
                raise ValueError(
                    f"{op}_pj_per_bit ({per_bit:g}) is not {op}_pj / word_bits "
                    f"({access:g} / {self.word_bits})"
                )
        return self


class Corner(Spec):
    """The macros of one cell corner, all at the corner's nominal supply ``vdd_v``."""

    vdd_v: number(gt=0, le=limits.MAX_VOLTAGE_V)
    vdd_source: str = Field(min_length=1)
    macros: list[Macro] = Field(min_length=2)

    @model_validator(mode="after")
    def _grid(self) -> Corner:
        seen: dict[int, set[int]] = {}
        for m in self.macros:
            sizes = seen.setdefault(m.word_bits, set())
            if m.capacity_bits in sizes:
                raise ValueError(
                    f"two macros of {m.word_bits}-bit words and {m.capacity_bits} bits"
                )
            sizes.add(m.capacity_bits)
        thin = [w for w, sizes in seen.items() if len(sizes) < 2]
        if thin:
            raise ValueError(
                f"{thin[0]}-bit words have one capacity; interpolation needs at least two"
            )
        return self

    def word_widths(self) -> list[int]:
        return sorted({m.word_bits for m in self.macros})

    def of_width(self, word_bits: int) -> list[Macro]:
        """The macros of one word width, by capacity."""
        return sorted(
            (m for m in self.macros if m.word_bits == word_bits), key=lambda m: m.capacity_bits
        )


class MemoryTable(Spec):
    """Macro costs per corner, with the provenance of every number."""

    name: str
    provenance: dict[str, Any] = Field(
        description="tool and version, technology node, corners, every CACTI input"
    )
    corners: dict[str, Corner] = Field(min_length=1)


def bundled_tables() -> list[str]:
    from hyperdrive_sim.spec.loader import bundled_dir

    return sorted(p.stem for p in (bundled_dir("configs") / "memory").glob("*.yaml"))


def table_path(ref: str) -> Path:
    """The file a ``memory_table:`` names: a bundled table's name, else a .yaml path."""
    from hyperdrive_sim.spec.loader import bundled_dir

    if ref.endswith((".yaml", ".yml")):
        return Path(ref)
    return bundled_dir("configs") / "memory" / f"{ref}.yaml"


@cache
def table_digest(ref: str | None) -> str | None:
    """sha256 of a memory table's content (cache keys: an edited table is never served
    from a cache); None without a table."""
    if ref is None:
        return None
    import hashlib

    text = load_memory_table(ref).model_dump_json()
    return hashlib.sha256(text.encode()).hexdigest()


@cache
def load_memory_table(ref: str) -> MemoryTable:
    """The memory table ``ref`` names, read once per process. A missing or invalid table is
    a ValueError naming the file and the key path (the spec reports it under memory_table)."""
    from hyperdrive_sim.spec.loader import (
        describe_error,
        format_key,
        read_bundled_yaml,
        read_yaml,
    )

    path = table_path(ref)
    # a bundled table named by name is the project's own file: parsed by libyaml (fast);
    # a path is the user's: parsed with read_yaml's checks and limits
    read = read_bundled_yaml if ref in bundled_tables() else read_yaml
    if not path.is_file():
        known = ", ".join(bundled_tables()) or "none"
        raise ValueError(
            f"memory table {ref!r} not found ({path}); expected a bundled table ({known}) "
            "or a path to a .yaml file written by `hyperdrive-sim memory-table`"
        )
    try:
        return MemoryTable.model_validate(read(path))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise ValueError(
            f"memory table {path}: {format_key(tuple(err['loc']))}: {describe_error(err)}"
        ) from None
    except Exception as exc:  # YAML syntax and reading problems, already described
        raise ValueError(f"memory table {path}: {exc}") from None
