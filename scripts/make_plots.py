"""Regenerate plots/ from the bundled experiments (the figures the README shows).

    python scripts/make_plots.py

Runs every experiment in experiments/ into results/<name>/ (cached points are reused; the
explore_* ones are searched with `explore`), then copies its PNG figures to plots/<name>/.
The contention experiment also writes simpy traces and their timeline figures.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from hyperdrive_sim.experiment import run_experiment
from hyperdrive_sim.explore.run import explore_experiment

ROOT = Path(__file__).resolve().parent.parent
TRACED = {"contention"}


def main() -> int:
    plots = ROOT / "plots"
    for spec in sorted((ROOT / "experiments").glob("*.yaml")):
        name = spec.stem
        out = ROOT / "results" / name
        if name.startswith("explore_"):
            result = explore_experiment(spec, out_dir=out, progress=True)
        else:
            result = run_experiment(spec, out_dir=out, progress=True, trace=name in TRACED)
        target = plots / name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        figures = sorted((out / "figures").glob("*.png"))
        for png in figures:
            shutil.copy2(png, target / png.name)
        st = result.stats
        print(f"{name}: {st['points']} points ({st['ok']} ok), {len(figures)} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
