"""lidep: finite-element simulation of Li deposition at Li | interphase | electrolyte interfaces.

Importing the package first imports ``dolfinx_solver``, which loads the MPI library that the
DOLFINx wheel was built against; every module of the package may then import ``dolfinx``,
``petsc4py`` and ``mpi4py`` in any order.
"""

import dolfinx_solver  # noqa: F401  (must precede dolfinx, petsc4py and mpi4py)

__version__ = "0.1.0"


def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201
    """Run a configuration: see :func:`solver.api.run` (imported on first use)."""
    from solver.api import run as _run

    return _run(*args, **kwargs)
