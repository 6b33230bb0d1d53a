"""hyperdrive_sim: simulate tiled multi-chip Hyperdrive binary-weight CNN accelerators.

Entry points: ``simulate`` for one point, ``run_experiment`` for an experiment YAML.

The public names are loaded on first use (a module-level ``__getattr__``), so that
``import hyperdrive_sim`` and the command line's ``--help`` stay quick;
``from hyperdrive_sim import simulate`` works as usual.
"""

from __future__ import annotations

import sys
import types

#: as ``typing.TYPE_CHECKING`` (type checkers read it as true), without importing typing
TYPE_CHECKING = False

__version__ = "0.1.0"

#: public name -> module that defines it
_PUBLIC = {
    "ExperimentResult": "hyperdrive_sim.experiment",
    "run_experiment": "hyperdrive_sim.experiment",
    "simulate": "hyperdrive_sim.simulate",
}

__all__ = ["ExperimentResult", "__version__", "run_experiment", "simulate"]

if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from hyperdrive_sim.experiment import ExperimentResult, run_experiment
    from hyperdrive_sim.simulate import simulate


def __getattr__(name: str):
    """Load a public name on first use."""
    if name in _PUBLIC:
        import importlib

        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'hyperdrive_sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


class _Package(types.ModuleType):
    """The package module. Importing the submodule ``hyperdrive_sim.simulate`` binds the
    package attribute ``simulate`` to that module; the public name is the function, so the
    binding of a module object is ignored here."""

    def __setattr__(self, name: str, value) -> None:
        if name == "simulate" and isinstance(value, types.ModuleType):
            self.__dict__.pop("simulate", None)  # resolved again, to the function, on use
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
