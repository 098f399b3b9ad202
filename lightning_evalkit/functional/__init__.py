"""Functional twins of the metric classes: the same code, run on one batch of data."""

__all__: list[str] = []
