"""Benchmarks: each prints its figure as a ratio against a baseline from the same run."""
