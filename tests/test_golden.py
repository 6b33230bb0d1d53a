"""Golden metrics of the bundled experiments: a model change that moves a published-style
number must be noticed. Regenerate deliberately with

    HYPERDRIVE_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py

and explain the change in the commit. A few values are also checked against hand
derivations, which no regeneration can move.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hyperdrive_sim.experiment import run_experiment
from hyperdrive_sim.validation import validate

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("HYPERDRIVE_UPDATE_GOLDEN") == "1"
PINNED = (
    "fits", "cycles", "total_energy_j", "core_energy_j", "offchip_io_energy_j",
    "c2c_io_energy_j", "system_tops_per_w", "offchip_bits", "c2c_bits", "utilization",
)  # fmt: skip
EXPERIMENTS = [
    "quickstart",
    "io_vs_core",
    "offchip_energy_sensitivity",
    "paper_comparison",
    "paper_comparison_conference",
]


def _pinned(rows: list[dict]) -> list[dict]:
    keep = ("network", "input_w", "input_h", "mesh_rows", "mesh_cols", "accelerator")
    return [
        {**{k: r.get(k) for k in keep}, **{k: r.get(k) for k in PINNED}}
        | {k: r[k] for k in r if "." in k}
        for r in rows
    ]


def _compare(got, want, where=""):
    if isinstance(want, float) and isinstance(got, (int, float)):
        assert got == pytest.approx(want, rel=1e-9), where
    elif isinstance(want, dict):
        assert set(got) == set(want), where
        for k in want:
            _compare(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _compare(g, w, f"{where}[{i}]")
    else:
        assert got == want, where


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_bundled_experiment_matches_golden(name, tmp_path):
    result = run_experiment(
        ROOT / "experiments" / f"{name}.yaml",
        out_dir=tmp_path,
        executor="serial",
        progress=False,
        plots=False,
    )
    got = json.loads(json.dumps(_pinned(list(result.rows))))
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        path.write_text(json.dumps(got, indent=1) + "\n")
    _compare(got, json.loads(path.read_text()), name)


def test_validation_claims_match_golden(tmp_path):
    checks, _ = validate(ROOT, None, results_root=tmp_path, plots=False)
    got = {ch.claim.id: ch.simulated for ch in checks}
    path = GOLDEN / "validation.json"
    if UPDATE:
        path.write_text(json.dumps(got, indent=1) + "\n")
    _compare(got, json.loads(path.read_text()), "validation")
    # fitted claims must stay within 0.5% of the published value (refit if they drift)
    for ch in checks:
        if ch.claim.kind == "fitted":
            assert ch.error is not None and abs(ch.error) < 0.005, ch.claim.id


def test_quickstart_hand_checks(tmp_path):
    rows = run_experiment(
        ROOT / "experiments/quickstart.yaml", out_dir=tmp_path, executor="serial", plots=False
    ).rows
    two = next(r for r in rows if (r["mesh_rows"], r["mesh_cols"]) == (2, 2))
    # ResNet-34 conv + fc weights (torchvision parameters minus BN and biases), 1 bit each,
    # read once per frame over the bus.
    assert two["weight_bits"] == 21_779_648
    # Image: 224*224*3 values at 16 bit, plus conv1's halo (7x7, stride 2, pad 3) from
    # off-chip. Chip (0,0) computes output rows 0..55, needing input rows 0..113: 2 rows
    # and 2 columns beyond its 112x112 tile, plus a 2x2 corner = 452 pixels; chips (0,1)
    # and (1,0) need 3 on one side and 2 on the other: 2*112 + 3*112 + 6 = 566; chip (1,1)
    # needs 3 and 3: 681. (452 + 2*566 + 681) * 3 * 16 = 108,720 bits.
    assert two["image_bits"] == 224 * 224 * 3 * 16 + 108_720
    # Results: the fc output (1000 values at 16 bit) leaves from the root chip.
    assert two["result_bits"] == 16_000
    # 1 binary MAC = 2 Op; ResNet-34 has 3,663,761,408 MACs (test_zoo derives it)
    assert two["ops"] == 2 * 3_663_761_408
