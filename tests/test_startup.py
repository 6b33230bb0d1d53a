"""Start-up: the command line parses its arguments before loading the heavy libraries.

``--help``, ``--version`` and a typo in a command must not pay for numpy, pydantic, simpy,
matplotlib, onnx or dask; each command imports what it needs when it runs
(benchmarks/bench_startup.py measures the resulting times).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

REPO = Path(__file__).resolve().parent.parent
#: libraries the command line must not import before a command runs: the four of the issue
#: that slowed start-up (figures, event simulation, ONNX, Dask) and the ones every command
#: needs anyway but that cost most of the rest (numpy, pydantic, yaml)
HEAVY = ("matplotlib", "simpy", "onnx", "dask", "numpy", "pydantic", "yaml", "pandas")


def _fresh(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter on this checkout; it prints JSON on its last line."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )


def _loaded(result: subprocess.CompletedProcess) -> list[str]:
    return json.loads(result.stdout.strip().splitlines()[-1])


LOADED = f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"


def test_importing_the_cli_loads_no_heavy_library():
    result = _fresh(f"import json, sys\nimport hyperdrive_sim.cli\n{LOADED}")
    assert result.returncode == 0, result.stderr
    assert _loaded(result) == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--version"], "hyperdrive_sim "),
        (["--help"], "usage: hyperdrive-sim"),
        (["run", "--help"], "--columns"),
        (["verify", "--help"], "--no-progress"),
    ],
)
def test_help_and_version_work_without_heavy_libraries(argv, expected):
    code = (
        "import contextlib, io, json, sys\n"
        "from hyperdrive_sim.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, exc.code\n"
        "print(json.dumps(out.getvalue()))\n"
        f"{LOADED}"
    )
    result = _fresh(code)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout.strip().splitlines()[-2])
    assert expected in printed
    assert _loaded(result) == []


def test_fit_loads_no_figure_onnx_or_dask_library():
    """`fit` needs numpy and the spec models, but neither figures, ONNX, Dask nor pandas."""
    code = (
        "import contextlib, io, json, sys\n"
        "from hyperdrive_sim.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['fit', 'resnet18', '--input', '64x64']) == 0\n"
        f"{LOADED}"
    )
    result = _fresh(code)
    assert result.returncode == 0, result.stderr
    assert set(_loaded(result)) <= {"numpy", "pydantic", "yaml", "simpy"}


def test_package_names_load_on_first_use():
    """``import hyperdrive_sim`` is cheap; its public names still resolve (the function
    ``simulate``, not the module of the same name, even after that module is imported)."""
    code = (
        "import json, sys, types\n"
        "import hyperdrive_sim\n"
        "light = sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'pydantic'})\n"
        "import hyperdrive_sim.simulate\n"
        "from hyperdrive_sim import ExperimentResult, run_experiment, simulate\n"
        "ok = callable(simulate) and not isinstance(simulate, types.ModuleType)\n"
        "ok = ok and hyperdrive_sim.simulate is simulate and callable(run_experiment)\n"
        "missing = sorted(set(hyperdrive_sim.__all__) - set(dir(hyperdrive_sim)))\n"
        "print(json.dumps([light, ok, missing]))"
    )
    result = _fresh(code)
    assert result.returncode == 0, result.stderr
    assert _loaded(result) == [[], True, []]


def test_choices_match_the_registries():
    """The command line lists evaluators and executors from hyperdrive_sim.choices without
    importing them; the lists must be what the registries and the spec accept."""
    from hyperdrive_sim import choices
    from hyperdrive_sim.evaluators import EVALUATORS
    from hyperdrive_sim.spec.models import Evaluator
    from hyperdrive_sim.sweep.executors import RUNNERS

    assert set(choices.EVALUATORS) == set(EVALUATORS) == set(get_args(Evaluator))
    assert set(choices.EXECUTORS) == set(RUNNERS)
