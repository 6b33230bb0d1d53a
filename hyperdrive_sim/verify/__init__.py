"""Numerical verification of the border exchange: the mesh computes real numbers.

Each chip holds only its own tile of every map and computes its share of each layer from
its memory plus the halo pixels received over the simulated links; the assembled result is
compared with a monolithic numpy reference. See docs/verify.md.

The public names come from ``verify.run`` on first use, so that the command line can
register ``verify`` (``verify.cli``) without loading numpy.
"""

from __future__ import annotations

#: as ``typing.TYPE_CHECKING`` (type checkers read it as true), without importing typing
TYPE_CHECKING = False

__all__ = ["LayerCheck", "VerifyGeometryError", "VerifyReport", "verify"]

if TYPE_CHECKING:
    from hyperdrive_sim.verify.run import LayerCheck, VerifyGeometryError, VerifyReport, verify


def __getattr__(name: str):
    """Load a public name from ``verify.run`` on first use."""
    if name in __all__:
        from hyperdrive_sim.verify import run

        return getattr(run, name)
    raise AttributeError(f"module 'hyperdrive_sim.verify' has no attribute {name!r}")
