"""Numerical verification of the border exchange: the mesh computes real numbers.

Each chip holds only its own tile of every map and computes its share of each layer from
its memory plus the halo pixels received over the simulated links; the assembled result is
compared with a monolithic numpy reference. See docs/verify.md.
"""

from hyperdrive_sim.verify.run import LayerCheck, VerifyGeometryError, VerifyReport, verify

__all__ = ["LayerCheck", "VerifyGeometryError", "VerifyReport", "verify"]
