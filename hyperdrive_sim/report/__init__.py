"""Reports: atomic CSV/JSON writers for results and per-layer tables."""
