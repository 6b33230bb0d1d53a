"""Sweeps: point expansion, result cache and executors."""
