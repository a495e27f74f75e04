"""Gmsh geometry builders for Li | interphase | electrolyte domains (placeholder, being written)."""
