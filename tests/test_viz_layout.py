"""Property test of the figures laid out from measured labels (viz.grid): whatever the
results hold -- one point or sixteen, meshes that fit or not, energies over six orders of
magnitude, short or long sweep settings, one input or three -- no title, axis label, tick
label or legend leaves the figure, overlaps another text or overlaps another panel.

The results are drawn from seeded generators: every run checks the same twelve cases.
"""

from __future__ import annotations

import random

import pytest

from hyperdrive_sim.result import RESULT_COLUMNS
from hyperdrive_sim.viz.energy import energy_share_figure, io_vs_core_figure
from hyperdrive_sim.viz.points import NOT_VARYING, tiling_series, varying_columns
from hyperdrive_sim.viz.sweep import sweep_figure
from hyperdrive_sim.viz.tiling import tiling_figure

SWEEP = "system.offchip_bandwidth_gbps_of_a_long_setting_name"
SIZES = ((224, 224), (1920, 1080), (512, 512))
MESHES = ((1, 1), (1, 2), (2, 1), (2, 2), (1, 4), (4, 1), (3, 3), (4, 4), (8, 16), (16, 16))
VALUES = (0.4, 1.6, 12.8, 1024.0)


def results(rng: random.Random) -> list[dict]:
    """Result rows of one to three inputs on one to six meshes and one to three values of
    a sweep setting; each mesh fits or not (the last always fits), energies scaled by
    10^-3 to 10^3."""
    inputs = rng.sample(SIZES, rng.randint(1, 3))
    meshes = rng.sample(MESHES, rng.randint(1, 6))
    values = rng.sample(VALUES, rng.randint(1, 3))
    scale = 10.0 ** rng.randint(-3, 3)
    rows = []
    for (w, h), (mr, mc), value in ((i, m, v) for i in inputs for m in meshes for v in values):
        fits = rng.random() < 0.6 or (mr, mc) == meshes[-1]
        row = dict.fromkeys(RESULT_COLUMNS)
        row.update(
            network="resnet34", input_w=w, input_h=h, mesh_rows=mr, mesh_cols=mc,
            chips=mr * mc, evaluator="analytic", accelerator="hyperdrive", fits=fits,
            status="ok" if fits else "infeasible", frequency_mhz=100.0, **{SWEEP: value},
        )  # fmt: skip
        if fits:
            total = scale * rng.uniform(0.5, 2.0)
            row.update(
                fps=rng.uniform(0.1, 20000.0), total_energy_j=total,
                core_energy_j=0.2 * total, onchip_mem_energy_j=0.1 * total,
                offchip_weight_energy_j=0.5 * total, image_io_energy_j=0.1 * total,
                c2c_io_energy_j=0.05 * total, leakage_energy_j=0.05 * total,
                offchip_io_energy_j=0.6 * total, system_tops_per_w=rng.uniform(0.5, 40.0),
                core_tops_per_w=40.0, utilization=rng.uniform(0.01, 1.0),
                offchip_bits=1e7, weight_bits=8e6,
            )  # fmt: skip
        else:
            row["reason"] = "feature maps do not fit"
        rows.append(row)
    return rows


@pytest.mark.parametrize("seed", range(12))
def test_figures_of_any_results_are_laid_out(seed: int, assert_laid_out) -> None:
    rows = results(random.Random(seed))
    varying = varying_columns(rows, (SWEEP,))
    assert_laid_out(io_vs_core_figure(rows, varying))
    if any(r["fits"] for r in rows):
        assert_laid_out(energy_share_figure(rows, varying))
        if varying:
            assert_laid_out(sweep_figure(rows, SWEEP, NOT_VARYING))
    series = tiling_series(rows, varying)
    if series and any(r["fits"] for r in rows):
        assert_laid_out(tiling_figure(series, varying))
