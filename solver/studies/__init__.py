"""Studies: the seed papers' measurements as runnable scenarios (one module per study)."""
