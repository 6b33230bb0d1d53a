"""Pricing: Counts x EnergyTable -> EnergyBreakdown. Re-pricing needs no re-simulation."""

from hyperdrive_sim.pricing.energy import PARTS, EnergyBreakdown, price, weight_buffer_bits

__all__ = ["PARTS", "EnergyBreakdown", "price", "weight_buffer_bits"]
