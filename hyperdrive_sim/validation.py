"""Reproduce published claims from the bundled comparison experiments: docs/validation.md.

Each claim in ``configs/claims/*.yaml`` names an experiment, a quantity and a published
value. ``validate`` runs the experiments, computes the simulated value, the relative error
and, for fitted claims, the exact value of the fitted parameter today (so a model change
that moves a fitted figure is visible as drift rather than hidden).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hyperdrive_sim.experiment import ExperimentResult, run_experiment
from hyperdrive_sim.report.writers import write_atomic
from hyperdrive_sim.simulate import simulate
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.base import Spec
from hyperdrive_sim.spec.models import ExperimentSpec, Resolution
from hyperdrive_sim.sweep.points import expand


class Claim(Spec):
    id: str
    experiment: str
    quantity: Literal[
        "system_tops_per_w", "core_tops_per_w", "ratio_vs_best", "total_energy_mj_at_most"
    ]
    accelerator: str
    network: str
    input: Resolution
    published: float
    kind: Literal["fitted", "predicted", "input"]
    source: str
    versus: Literal["fm_streaming", "binary"] | None = None
    note: str = ""


class ClaimFile(Spec):
    claims: list[Claim]


@dataclass(frozen=True)
class Checked:
    claim: Claim
    simulated: float

    @property
    def error(self) -> float:
        return (self.simulated - self.claim.published) / self.claim.published

    @property
    def holds(self) -> bool | None:
        """For an upper bound: does the simulation stay below it? Else None."""
        if self.claim.quantity == "total_energy_mj_at_most":
            return self.simulated <= self.claim.published
        return None


def _row(result: ExperimentResult, claim: Claim, accelerator: str) -> dict[str, Any]:
    for row in result.rows:
        if (
            row["accelerator"] == accelerator
            and row["network"] == claim.network
            and (row["input_h"], row["input_w"]) == (claim.input.height, claim.input.width)
        ):
            return row
    raise LookupError(f"claim {claim.id}: no row for {accelerator} {claim.network} {claim.input}")


def simulated_value(result: ExperimentResult, claim: Claim) -> float:
    row = _row(result, claim, claim.accelerator)
    if claim.quantity == "ratio_vs_best":
        rivals = [b.name for b in result.spec.baselines if b.dataflow == claim.versus]
        best = max(_row(result, claim, name)["system_tops_per_w"] for name in rivals)
        return row["system_tops_per_w"] / best
    if claim.quantity == "total_energy_mj_at_most":
        return row["total_energy_j"] * 1e3
    return row[claim.quantity]


def exact_fit(experiment: Path, claim: Claim) -> float:
    """binary_mac_pj that makes the claim's point hit the published efficiency exactly.

    Energy is linear in binary_mac_pj, so two re-pricings of one simulation solve it.
    """
    spec = loader.validate(ExperimentSpec, loader.load(experiment))
    mesh = next(
        p.mesh
        for p in expand(spec)[1]
        if p.input == claim.input and str(p.network) == claim.network
    )
    result = simulate(claim.network, claim.input, spec.chip, spec.system, spec.energy, mesh=mesh)
    at = [
        result.reprice(spec.energy.model_copy(update={"binary_mac_pj": v})).row["total_energy_j"]
        for v in (0.0, 1.0)
    ]
    target = result.ops / (claim.published * 1e12)
    return (target - at[0]) / (at[1] - at[0])


def validate(
    root: Path,
    out: Path | None = None,
    *,
    results_root: Path | None = None,
    plots: bool = True,
) -> tuple[list[Checked], str]:
    """Run the comparison experiments, check every claim, return checks and markdown.

    Experiment outputs (tables, figures) go to ``results_root/<experiment>`` (default
    ``root/results``); the markdown to ``out`` when given.
    """
    results_root = results_root or root / "results"
    claims: list[Claim] = []
    for path in sorted((root / "configs" / "claims").glob("*.yaml")):
        claims += loader.validate(ClaimFile, loader.load(path)).claims
    results: dict[str, ExperimentResult] = {}
    for name in dict.fromkeys(c.experiment for c in claims):
        results[name] = run_experiment(
            root / "experiments" / f"{name}.yaml",
            out_dir=results_root / name,
            executor="serial",
            progress=False,
            plots=plots,
        )
    checks = [Checked(c, simulated_value(results[c.experiment], c)) for c in claims]
    fits = {
        c.id: exact_fit(root / "experiments" / f"{c.experiment}.yaml", c)
        for c in claims
        if c.kind == "fitted"
    }
    text = render(checks, results, fits)
    if out is not None:
        write_atomic(out, text)
    return checks, text


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"


def render(
    checks: list[Checked], results: dict[str, ExperimentResult], fits: dict[str, float]
) -> str:
    lines = [
        "# Validation against published claims",
        "",
        "Generated by `hyperdrive-sim validate` from `configs/claims/hyperdrive.yaml` and the",
        "experiments `experiments/paper_comparison.yaml` and",
        "`experiments/paper_comparison_conference.yaml` (journal and conference versions are",
        "never mixed). Do not edit by hand.",
        "",
        "*fitted*: one parameter was tuned to hit the figure (so it is not evidence);",
        "*predicted*: follows from the model with no tuning (the real test); *input*: a",
        "published figure the model takes as given, listed so every number is visible.",
        "",
        "| claim | published | simulated | rel. error | kind | source |",
        "|---|---:|---:|---:|---|---|",
    ]
    for ch in checks:
        c = ch.claim
        err = f"{100 * ch.error:+.1f}%"
        if ch.holds is not None:
            err += " (bound holds)" if ch.holds else " (bound violated)"
        lines.append(
            f"| {c.id} | {_fmt(c.published)} | {_fmt(ch.simulated)} | {err} | {c.kind} | "
            f"{c.source} |"
        )
    lines += ["", "## Fitted parameters", ""]
    for ch in checks:
        if ch.claim.id in fits:
            spec = results[ch.claim.experiment].spec
            lines.append(
                f"- `{ch.claim.id}`: energy table `{spec.energy.name}` has binary_mac_pj = "
                f"{spec.energy.binary_mac_pj:g} pJ; the exact fit today is "
                f"{fits[ch.claim.id]:.4f} pJ. It is the only fitted parameter of that version."
            )
    notes = [ch for ch in checks if ch.claim.note]
    if notes:
        lines += ["", "## What the predictions say", ""]
        lines += [f"- **{ch.claim.id}**: {ch.claim.note.strip()}" for ch in notes]
    for name, result in results.items():
        lines += ["", f"## {name}", "", *comparison_table(result)]
    lines += [
        "",
        "Every assumption behind these numbers is in the YAML presets (`sources:` of each",
        "value) and in [assumptions.md](assumptions.md); the cost rules in [model.md](model.md).",
        "",
    ]
    return "\n".join(lines)


def comparison_table(result: ExperimentResult) -> list[str]:
    """One row per accelerator and input: core vs system efficiency and the I/O they pay."""
    hyper = {(r["input_w"], r["input_h"]): r for r in result.rows if r["evaluator"] != "baseline"}
    lines = [
        "| accelerator | input | chips | core TOp/s/W | off-chip Mbit/frame | I/O mJ | "
        "total mJ | system TOp/s/W | Hyperdrive / this |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result.rows:
        if not r["fits"]:
            continue
        ref = hyper.get((r["input_w"], r["input_h"]))
        ratio = ref["system_tops_per_w"] / r["system_tops_per_w"] if ref and ref["fits"] else None
        io = (r["offchip_io_energy_j"] + r["c2c_io_energy_j"]) * 1e3
        lines.append(
            f"| {r['accelerator']} | {r['input_w']}x{r['input_h']} | {r['chips']} | "
            f"{r['core_tops_per_w']:.1f} | {r['offchip_bits'] / 1e6:,.1f} | {io:.3f} | "
            f"{r['total_energy_j'] * 1e3:.3f} | {r['system_tops_per_w']:.2f} | "
            f"{'' if ratio is None else f'{ratio:.2f}x'} |"
        )
    return lines
