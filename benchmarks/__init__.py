"""Benchmarks: the target's code against the reference and torch's own, on CPU and GPU."""
