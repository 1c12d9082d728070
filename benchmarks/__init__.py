"""Side-by-side speed comparisons of ebmlib against peers; run ``python -m benchmarks``."""
