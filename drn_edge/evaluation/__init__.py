"""Judging a derainer: metrics, the evaluation frames, fidelity tables, temporal stability."""
