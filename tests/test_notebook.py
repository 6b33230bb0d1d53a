"""docs/tutorial.ipynb runs, and what it shows is what a fresh run prints.

The notebook is stored executed (readers see its tables and figures without running it).
This test executes it again in a fresh kernel (nbclient and ipykernel, in the ``test``
extra) and compares every text output with the stored one; figures are checked to be there
(their bytes follow the matplotlib version). After a deliberate change, rewrite the stored
outputs with ``HYPERDRIVE_UPDATE_NOTEBOOK=1 python -m pytest tests/test_notebook.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("pandas")

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "docs" / "tutorial.ipynb"


def _texts(nb) -> list[list[str]]:
    """Per code cell, its text outputs (printed text and plain-text results)."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        texts = []
        for o in cell.get("outputs", []):
            if o.output_type == "stream" and o.name == "stdout":
                texts.append(o.text)
            elif o.output_type in ("execute_result", "display_data"):
                texts.append(o.data.get("text/plain", ""))
            elif o.output_type == "error":
                texts.append(f"error: {o.ename}: {o.evalue}")
        out.append(texts)
    return out


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(tmp_path_factory.mktemp("nb"))}},
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", path)  # the kernel imports this checkout
        client.execute()
    if os.environ.get("HYPERDRIVE_UPDATE_NOTEBOOK"):
        nbformat.write(nb, NOTEBOOK)
    return nb


def test_the_notebook_runs_and_its_stored_outputs_are_true(executed):
    stored = nbformat.read(NOTEBOOK, as_version=4)
    assert _texts(executed) == _texts(stored)
    images = [
        o
        for cell in executed.cells
        if cell.cell_type == "code"
        for o in cell.outputs
        if "image/png" in o.get("data", {})
    ]
    assert len(images) == 2  # the tiling comparison and the energy shares


def test_the_io_share_it_reads_is_the_simulated_one(executed):
    """The I/O share the notebook prints for ResNet-34 on 2x2 chips, recomputed here from
    one `simulate` call (a second path: no experiment, no DataFrame)."""
    from hyperdrive_sim import simulate

    row = simulate("resnet34", "224x224", mesh="2x2").row
    share = 100 * (row["offchip_io_energy_j"] + row["c2c_io_energy_j"]) / row["total_energy_j"]
    printed = "".join("".join(t) for t in _texts(executed))
    assert f"square 2x2, {row['total_energy_j'] * 1e3:.3f} mJ, of which {share:.1f}% I/O" in printed
