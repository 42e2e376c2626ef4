"""Architectures built from the library's attention mechanisms.

Each module implements one paper's model from :mod:`attnlab.mechanisms` parts and returns its
attention (alignments, pointer distributions, per-hop weights, per-head weights, edge
coefficients) next to its output.
"""
