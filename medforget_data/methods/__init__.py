"""Unlearning methods behind one interface (design §8)."""
