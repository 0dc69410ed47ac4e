"""Privacy attacks and forget quality: membership inference, KS against the oracle, reconstruction."""
