"""Sensitivity over the assumed values' ranges: seeded, reproducible, re-priced where only
prices change, and checked against hand-derived one-at-a-time values."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import yaml

from hyperdrive_sim import cli
from hyperdrive_sim.experiment import load_experiment
from hyperdrive_sim.sensitivity import sensitivity
from hyperdrive_sim.spec.defaults import default_section

SMALL = {"name": "sens", "networks": ["resnet18"], "inputs": ["64x64"], "meshes": ["1x1"]}


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run(tmp_path: Path, data: dict = SMALL, **kw):
    spec, base = load_experiment(write(tmp_path, data))
    return sensitivity(spec, base, write=False, executor="serial", **{"samples": 16, **kw})


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path):
    a, b = run(tmp_path, seed=3), run(tmp_path, seed=3)
    assert a.uncertainty == b.uncertainty and a.tornado == b.tornado
    c = run(tmp_path, seed=4)
    assert c.uncertainty[0]["total_energy_j_p50"] != a.uncertainty[0]["total_energy_j_p50"]
    assert c.tornado == a.tornado  # one-at-a-time runs do not depend on the seed


def test_processes_give_the_serial_numbers(tmp_path):
    spec, base = load_experiment(write(tmp_path, SMALL))
    serial = sensitivity(spec, base, write=False, executor="serial", samples=8)
    pool = sensitivity(spec, base, write=False, executor="processes", jobs=2, samples=8)
    assert serial.uncertainty == pool.uncertainty and serial.tornado == pool.tornado


def test_zero_width_ranges_give_a_point(tmp_path):
    """Every range collapsed onto its preset value: every quantile equals the base value."""
    data = dict(SMALL)
    for section in ("energy", "area", "system"):
        spec = default_section(section)
        data[section] = {
            "ranges": {
                k: {"low": getattr(spec, k), "high": getattr(spec, k), "why": "no uncertainty"}
                for k in spec.ranges
            }
        }
    (u,) = run(tmp_path, data).uncertainty
    for metric in ("total_energy_j", "system_tops_per_w", "io_share", "fps"):
        for q in (5, 50, 95):
            assert u[f"{metric}_p{q}"] == pytest.approx(u[metric], rel=1e-12), (metric, q)


def test_offchip_energy_at_its_ends_by_hand(tmp_path):
    """Off-chip energy is bits x pJ/bit: at 10 and 40 pJ/bit the frame's energy differs from
    the preset's (19.56 pJ/bit of memory; the wires' 1.44 per drop do not move) by
    (10 - 19.56) and (40 - 19.56) pJ times the off-chip bits, and nothing else moves
    (re-priced from the same counts)."""
    from hyperdrive_sim.simulate import simulate

    result = run(tmp_path)
    base = simulate("resnet18", "64x64", mesh="1x1").row
    (entry,) = [t for t in result.tornado if t["parameter"] == "energy.offchip_pj_per_bit"]
    bits = base["offchip_bits"]
    assert (entry["low"], entry["high"]) == (10, 40)
    assert entry["total_energy_j_at_low"] == pytest.approx(
        base["total_energy_j"] + (10 - 19.56) * bits * 1e-12, rel=1e-12
    )
    assert entry["total_energy_j_at_high"] == pytest.approx(
        base["total_energy_j"] + (40 - 19.56) * bits * 1e-12, rel=1e-12
    )
    assert entry["fps_at_low"] == entry["fps_at_high"] == pytest.approx(base["fps"])


def test_a_swept_parameter_is_not_sampled(tmp_path):
    data = {**SMALL, "sweep": {"grid": {"energy.offchip_pj_per_bit": [10, 21]}}}
    result = run(tmp_path, data)
    assert len(result.uncertainty) == 2
    assert "energy.offchip_pj_per_bit" not in {t["parameter"] for t in result.tornado}


def test_a_parameter_an_alternative_sets_is_not_sampled(tmp_path):
    alternatives = [
        {"name": "preset"},
        {"name": "dear I/O", "set": {"energy.offchip_pj_per_bit": 40}},
    ]
    result = run(tmp_path, {**SMALL, "sweep": {"alternatives": alternatives}})
    assert len(result.uncertainty) == 2
    assert "energy.offchip_pj_per_bit" not in {t["parameter"] for t in result.tornado}


def test_cli_writes_tables_and_refuses_bad_counts(tmp_path, capsys):
    path = write(tmp_path, SMALL)
    out = tmp_path / "out"
    args = ["sensitivity", str(path), "--samples", "8", "--out", str(out), "--no-progress",
            "--executor", "serial"]  # fmt: skip
    assert cli.main(args) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert re.search(r"resnet18\s+64x64\s+1x1 .*\[", printed)
    with (out / "uncertainty.csv").open() as fh:
        (row,) = list(csv.DictReader(fh))
    assert float(row["system_tops_per_w_p5"]) <= float(row["system_tops_per_w_p95"])
    assert (out / "figures" / "uncertainty.png").is_file()
    assert cli.main([*args[:2], "--samples", "0", "--out", str(out)]) == 2
    assert "--samples" in capsys.readouterr().err


def test_every_assumed_cost_has_a_range():
    """In the energy, area and system presets, every number whose source is an assumption
    says how far off it may be -- except the definitional reference voltage and the
    mesh placeholder, and pad and wire counts."""
    # definitional (the point at which other values are stated) or counts, not costs
    exempt = {
        "reference_voltage_v",
        "sram_reference_bits",
        "mesh",
        "offchip_pads",
        "link_control_pads",
        "serdes_pads_per_lane",
        "link_width_bits",
    }
    for section in ("energy", "area", "system"):
        spec = default_section(section)
        for key, source in spec.sources.items():
            value = getattr(spec, key)
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if numeric and source.startswith("assumption") and key not in exempt:
                assert key in spec.ranges, f"{section}.{key} is assumed but has no range"
