"""Benchmark of the product against the raw-SQL limit of the same database (a dev tool)."""
