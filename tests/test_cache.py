"""The point cache: only trusted results are reused; failures are never cached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hyperdrive_sim.cli import main
from hyperdrive_sim.experiment import run_experiment
from hyperdrive_sim.result import RESULT_COLUMNS
from hyperdrive_sim.sweep import executors
from hyperdrive_sim.sweep.cache import PointCache, checksum

EXPERIMENT = """name: t
networks: [resnet18]
inputs: [64x64]
meshes: [1x1]
chip: {include: chips/hyperdrive}
system: {include: systems/hyperdrive_mesh}
energy: {include: energy/hyperdrive_22fdx}
"""


@pytest.fixture
def exp(tmp_path: Path) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(EXPERIMENT)
    return path


def _run(exp: Path, out: Path, **kw):
    return run_experiment(exp, out_dir=out, executor="serial", plots=False, progress=False, **kw)


def _entry_file(out: Path) -> Path:
    (entry,) = (out / "cache").glob("*.json")  # one point: one entry
    return entry


def test_a_failed_point_is_reported_not_cached_and_recomputed(exp, tmp_path, monkeypatch, capsys):
    """An internal error (MemoryError here) fails the point: the summary prints, the exit
    code is 1, the reason is named, nothing is cached, and the next run computes it."""
    out = tmp_path / "out"

    def out_of_memory(*_args, **_kw):
        raise MemoryError("cannot allocate the feature map")

    monkeypatch.setattr(executors, "run_point", out_of_memory)
    code = main(["run", str(exp), "--out", str(out), "--executor", "serial", "--no-plots",
                 "--no-progress"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert "1 point: 0 ok, 0 do not fit, 1 failed; 1 computed, 0 from cache" in captured.out
    assert captured.out.startswith("network")  # the table printed, no crash on None cells
    assert "FAILED: internal error: MemoryError" in captured.out
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1, errors  # one line
    assert "MemoryError: cannot allocate the feature map" in errors[0]
    assert "not cached" in errors[0]
    assert list((out / "cache").glob("*.json")) == []
    row = json.loads((out / "results.json").read_text())["rows"][0]
    # the failed row still says which point it was (from the spec: 64x64 on 1x1)
    assert (row["status"], row["input_w"], row["mesh_rows"], row["evaluator"]) == (
        "failed", 64, 1, "analytic",
    )  # fmt: skip

    monkeypatch.undo()
    code = main(["run", str(exp), "--out", str(out), "--executor", "serial", "--no-plots",
                 "--no-progress"])  # fmt: skip
    assert code == 0
    assert "1 ok, 0 do not fit, 0 failed; 1 computed, 0 from cache" in capsys.readouterr().out


def test_put_refuses_failed_and_malformed_entries(tmp_path):
    cache = PointCache(tmp_path)
    row = dict.fromkeys(RESULT_COLUMNS)
    assert not cache.put("a", {"row": row, "layers": [], "chips": [], "status": "failed"})
    assert not cache.put("b", {"row": {}, "layers": [], "chips": [], "status": "ok"})
    assert not cache.put("c", {"row": row, "layers": [1], "chips": [], "status": "ok"})
    assert cache.put("d", {"row": row, "layers": [], "chips": [], "status": "infeasible"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json"]
    assert cache.get("d")["status"] == "infeasible"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda e: e.pop("status"), id="no-status"),
        pytest.param(lambda e: e.update(row={}), id="empty-row"),
        pytest.param(lambda e: e["row"].update(fps=1e9), id="edited-fps"),
        pytest.param(lambda e: e.update(status="failed"), id="failed-status"),
        pytest.param(lambda e: e.update(layers={"a": 1}), id="layers-not-a-list"),
        pytest.param(lambda e: e["chips"].append(3), id="chip-row-not-an-object"),
        pytest.param(lambda e: e.pop("sha256"), id="no-checksum"),
    ],
)
def test_a_tampered_entry_is_recomputed_and_overwritten(exp, tmp_path, tamper):
    out = tmp_path / "out"
    first = _run(exp, out)
    path = _entry_file(out)
    entry = json.loads(path.read_text())
    tamper(entry)
    path.write_text(json.dumps(entry))
    again = _run(exp, out)
    assert (again.stats["computed"], again.stats["cached"]) == (1, 0)
    assert again.rows == first.rows  # the edited fps is not reused
    third = _run(exp, out)  # the recomputed entry was written back and is trusted
    assert (third.stats["computed"], third.stats["cached"]) == (0, 1)


def test_checksum_is_sha256_of_the_canonical_payload(exp, tmp_path):
    import hashlib

    _run(exp, tmp_path / "out")
    entry = json.loads(_entry_file(tmp_path / "out").read_text())
    payload = {k: entry[k] for k in ("chips", "layers", "row", "status")}  # sorted keys
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    # second method: hashlib over the canonical text, versus what the cache stored
    assert entry["sha256"] == hashlib.sha256(text.encode()).hexdigest() == checksum(entry)


def test_free_form_payloads_round_trip_and_tampering_is_detected(tmp_path):
    cache = PointCache(tmp_path)
    payload = {"rows": [{"fps": 12.5, "network": "resnet18"}]}
    cache.put_payload("k", payload)
    assert cache.get_payload("k") == payload
    entry = json.loads((tmp_path / "k.json").read_text())
    entry["payload"]["rows"][0]["fps"] = 99.0
    (tmp_path / "k.json").write_text(json.dumps(entry))
    assert cache.get_payload("k") is None
    assert cache.get_payload("missing") is None


def test_a_custom_task_that_raises_gives_a_failed_entry(tmp_path):
    """Runners take another task (design exploration); its internal errors fail the job
    with the reason, even though its payload is not a point."""
    done = {}

    def task(payload: str, base: str, trace):
        raise ZeroDivisionError("boom")

    executors.run_serial([("k", '{"group": 1}', None)], str(tmp_path), done.__setitem__, task=task)
    assert done["k"]["status"] == "failed"
    assert done["k"]["row"]["reason"] == "internal error: ZeroDivisionError: boom"


def test_editing_the_pruning_weights_file_changes_the_point_hash(tmp_path):
    """A cached kernel-reuse point must not survive an edit of its weights file."""
    import numpy as np

    from hyperdrive_sim.spec.defaults import default_section
    from hyperdrive_sim.spec.models import PointSpec
    from hyperdrive_sim.sweep.points import point_hash
    from hyperdrive_sim.workload.zoo import get_network

    weights = tmp_path / "w.npy"
    np.save(weights, np.ones(8))
    chip = default_section("chip").model_copy(
        update={"pruning": "kernel_reuse", "pruning_weights": str(weights)}
    )
    point = PointSpec(
        network="resnet18", input="64x64", mesh="1x1", evaluator="analytic", chip=chip,
        system=default_section("system"), energy=default_section("energy"),
        area=default_section("area"),
    )  # fmt: skip
    net = get_network("resnet18")
    before = point_hash(point, net)
    assert point_hash(point, net) == before  # stable
    np.save(weights, -np.ones(8))
    assert point_hash(point, net) != before
