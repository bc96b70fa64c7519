"""Benchmarks: run each as ``python -m bench.NAME``; they print their numbers with the machine."""
