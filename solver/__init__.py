"""lidep: finite-element simulation of Li deposition at the Li | interphase | electrolyte interface."""

__version__ = "0.1.0"
