"""The palette (one colour and label per energy part) and the units of swept keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.colors import to_hex

from hyperdrive_sim.spec.base import META
from hyperdrive_sim.spec.models import SWEEP_SECTIONS
from hyperdrive_sim.viz import palette
from hyperdrive_sim.viz.energy import io_vs_core_figure
from hyperdrive_sim.viz.units import axis_label, unit

DATAFLOW = Path(__file__).resolve().parent / "data" / "dataflow_alternatives" / "results.json"


def test_six_energy_parts_each_one_colour_and_label() -> None:
    colours = [palette.color(p) for p in palette.ENERGY_PARTS]
    labels = [palette.label(p) for p in palette.ENERGY_PARTS]
    assert len(set(colours)) == len(set(labels)) == 6
    # off-chip I/O is two parts: the weight stream, and image/results/streamed maps
    assert palette.label("offchip_weights") == "off-chip I/O: weights"
    assert "image" in palette.label("offchip_maps") and "maps" in palette.label("offchip_maps")
    assert set(palette.IO_PARTS) == {"offchip_weights", "offchip_maps", "c2c_io"}


def test_the_six_parts_hold_the_whole_frame_energy() -> None:
    """Per point of the dataflow run, the parts add up to the simulator's total (the sum
    of its five pricing parts): off-chip I/O split in two, nothing counted twice."""
    rows = [r for r in json.loads(DATAFLOW.read_text())["rows"] if r["fits"]]
    assert len(rows) == 35
    for row in rows:
        parts = sum(palette.frame_energy(row, p) for p in palette.ENERGY_PARTS)
        assert parts == pytest.approx(row["total_energy_j"], rel=1e-12)
        offchip = palette.frame_energy(row, "offchip_weights") + palette.frame_energy(
            row, "offchip_maps"
        )
        assert offchip == pytest.approx(row["offchip_io_energy_j"], rel=1e-12)


def test_layer_energy_splits_a_baselines_offchip_io_by_bits() -> None:
    # a baseline layer moving 3 bits of weights and 1 of maps for 8 J: 6 J and 2 J
    layer = {"evaluator": "baseline", "offchip_io_energy_j": 8.0, "offchip_bits": 4,
             "weight_bits": 3, "core_energy_j": 1.0}  # fmt: skip
    assert palette.layer_energy(layer, "offchip_weights") == 6.0
    assert palette.layer_energy(layer, "offchip_maps") == 2.0
    assert palette.layer_energy(layer, "compute") == 1.0
    # a Hyperdrive layer streams only weights (the image and results are frame-level)
    layer = {**layer, "evaluator": "analytic"}
    assert palette.layer_energy(layer, "offchip_weights") == 8.0
    assert palette.layer_energy(layer, "offchip_maps") == 0.0


def test_energy_bars_draw_each_part_in_its_colour() -> None:
    """The orange of the weights holds only the weights: in the quickstart-like 2x2 point
    of the dataflow run, the orange bar is offchip_weight_energy_j, the pink one the image
    and results."""
    rows = json.loads(DATAFLOW.read_text())["rows"]
    fig = io_vs_core_figure(rows[:1])  # resnet34 224x224 4x4, reference: one bar, upright
    ax = fig.axes[0]
    drawn = {to_hex(c.patches[0].get_facecolor()).upper(): c.patches[0].get_height()
             for c in ax.containers}  # fmt: skip
    mj = 1e3
    assert drawn["#D55E00"] == pytest.approx(rows[0]["offchip_weight_energy_j"] * mj)
    assert drawn["#CC79A7"] == pytest.approx(rows[0]["image_io_energy_j"] * mj)
    assert len(drawn) == 6


def test_every_numeric_spec_key_has_a_unit() -> None:
    missing = [
        f"{section}.{name}"
        for section, model in SWEEP_SECTIONS.items()
        for name, field in model.model_fields.items()
        if name not in META and field.annotation in (int, float)
        and unit(f"{section}.{name}") is None
    ]  # fmt: skip
    assert missing == []


@pytest.mark.parametrize(
    "column, label",
    [
        ("energy.offchip_pj_per_bit", "energy.offchip_pj_per_bit (pJ/bit, log scale)"),
        ("system.offchip_bandwidth_gbps", "system.offchip_bandwidth_gbps (Gbit/s, log scale)"),
        ("chip.weight_cache_bits", "chip.weight_cache_bits (bit, log scale)"),
        ("energy.logic_leakage_mw_per_chip", "energy.logic_leakage_mw_per_chip (mW per chip)"),
        ("system.frames", "system.frames (frames, log scale)"),
    ],
)  # fmt: skip
def test_axis_labels_give_the_unit(column: str, label: str) -> None:
    assert axis_label(column, log=label.endswith("log scale)")) == label
