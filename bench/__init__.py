"""Benchmarks: what we promise about speed, measured and printed (`make bench`)."""
