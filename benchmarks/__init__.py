"""Benchmarks: each script prints a table with ratios against a peer measured in the same run."""
