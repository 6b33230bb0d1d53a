"""Workload: layers, networks with inferred shapes, the zoo and the YAML network format."""

from hyperdrive_sim.workload.layers import INPUT, Layer, Shape
from hyperdrive_sim.workload.network import LayerInfo, Network, ShapedNetwork

__all__ = ["INPUT", "Layer", "LayerInfo", "Network", "Shape", "ShapedNetwork"]
