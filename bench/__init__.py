"""Benchmarks of Stowage against restic, and the reference dataset they run on.

Run from the repository root: ``bench/run`` (see bench/runner.py).
"""
