"""Scoring: metrics, judges, submissions, aggregation (no torch, no transformers)."""
