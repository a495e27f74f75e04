"""lidep: finite-element simulation of Li deposition at Li | interphase | electrolyte interfaces.

Importing the package first imports ``dolfinx_solver``, which loads the MPI library that the
DOLFINx wheel was built against; every module of the package may then import ``dolfinx``,
``petsc4py`` and ``mpi4py`` in any order.
"""

import dolfinx_solver  # noqa: F401  (must precede dolfinx, petsc4py and mpi4py)

__version__ = "0.1.0"
