"""Studies of the seed papers: runnable scenarios built on the package (one module each)."""
