# # A flat Li | SEI | electrolyte cell, step by step
#
# This demo builds the simplest cell of `lidep` from the Python API and checks it against its
# exact solution. It is written in the style of the DOLFINx demos: the equations come first,
# then the code that sets them up, with the symbols of `docs/theory.md`. Run it with
#
#     python demos/demo_flat_cell.py              (or: mpiexec -n 2 python demos/demo_flat_cell.py)
#
# ## The problem
#
# A lithium metal electrode at $y = 0$ is covered by a solid-electrolyte interphase (SEI) of
# thickness $h$ and ionic conductivity $\sigma_{SEI}$; above it lies a single-ion electrolyte of
# conductivity $\kappa$ up to the counter electrode, a Li$^+$ reservoir at $y = h + L_e$. The
# unknown is the Li-referenced electrolyte potential $\Phi$, and in every ionic region the
# current density $\mathbf{i} = -\sigma \nabla\Phi$ is divergence free:
#
# $$ -\nabla\cdot(\sigma\nabla\Phi) = 0, \qquad \sigma = \sigma_{SEI} \text{ or } \kappa. $$
#
# At the Li surface the Faradaic current density $j$ (plating positive) follows Butler-Volmer
# kinetics in the overpotential $\eta = \phi_s - \Phi$,
#
# $$ -j = i_0\left[\exp(\alpha_a f\eta) - \exp(-\alpha_c f\eta)\right], \qquad f = F/(RT), $$
#
# and $\mathbf{i}\cdot\mathbf{n} = j$ there; the reservoir holds $\Phi = 0$. The Li potential
# $\phi_s$ is a single scalar unknown, fixed by the galvanostatic constraint
#
# $$ \frac{1}{A}\int_{\Gamma_{Li}} j \, \mathrm{d}s = J, $$
#
# which `lidep` solves together with $\Phi$ by a bordered Newton method (`solver/newton.py`).
# In a flat cell everything is one-dimensional, so with $\alpha_a = \alpha_c = 1/2$
#
# $$ \phi_s = -\frac{2}{f}\operatorname{asinh}\frac{J}{2 i_0} - J\left(\frac{h}{\sigma_{SEI}}
#    + \frac{L_e}{\kappa}\right). $$
#
# ## Implementation
#
# `import solver` comes first: it imports DOLFINx in the order MPI needs.

# +
import math

import solver  # noqa: F401  (MPI import order)

# isort: split
from mpi4py import MPI

from solver.config import load_config, resolved_cases
from solver.constants import FARADAY, GAS_CONSTANT
from solver.geometry import build_mesh
from solver.problem import Simulation

# -

# The cell as a configuration tree: quantities with units are strings, bare numbers SI. The
# same tree written as YAML is a `lidep run` file.

# +
h, sigma_sei = 20e-9, 1e-4  # SEI thickness (m) and conductivity (S/m)
L_e, kappa = 10e-6, 1e-2  # electrolyte thickness (m) and conductivity (S/m)
i0, J = 2.0, 5.0  # exchange current density and applied plating current density (A/m^2)
T = 298.15
config = {
    "name": "demo_flat_cell",
    "base": {
        "geometry": {"domain": {"width": "2 um", "length": L_e + h},
                     "layers": [{"name": "sei", "thickness": h}]},
        "physics": {
            "temperature": T,
            "electrolyte": {"type": "single_ion", "conductivity": kappa},
            "interphase": {"sei": {"conductivity": sigma_sei}},
            "kinetics": {"exchange_current_density": i0, "alpha_a": 0.5, "alpha_c": 0.5},
            "control": {"mode": "galvanostatic", "current_density": J},
        },
        "numerics": {"degree": 1},
    },
}
(case,) = resolved_cases(load_config(config)).values()
# -

# The mesh: Gmsh meshes the cell on rank 0 and DOLFINx distributes it. The bundle carries the
# regions (`electrolyte`, `sei`) and the boundaries (`li_surface`, `counter`) by name.

comm = MPI.COMM_WORLD
bundle = build_mesh(case.geometry, comm, cache_dir=None)  # None: no mesh cache
if comm.rank == 0:
    print(f"regions {dict(bundle.regions)}, boundaries {dict(bundle.boundaries)}")

# The problem: `Simulation` creates the function space of $\Phi$ (continuous Lagrange over both
# ionic regions), the residual of the charge balance with the Butler-Volmer flux on the Li
# surface, the Dirichlet condition at the reservoir and the galvanostatic border. A steady run
# yields one snapshot: fields, surface sample and scalars.

simulation = Simulation(bundle, case, comm)
(snapshot,) = simulation.run()
phi_s = snapshot.scalars["cell_voltage"]

# ## Check against the exact solution
#
# P1 elements are exact for the linear potential of each region, so the computed $\phi_s$
# matches the formula above to the Newton tolerance.

f = FARADAY / (GAS_CONSTANT * T)
exact = -2.0 / f * math.asinh(J / (2.0 * i0)) - J * (h / sigma_sei + L_e / kappa)
error = abs(phi_s - exact) / abs(exact)
if comm.rank == 0:
    print(f"phi_s = {phi_s:.9f} V, exact {exact:.9f} V, relative error {error:.1e}")
    print(f"mean current density {snapshot.scalars['current_mean']:.6f} A/m^2 (applied {J})")
    print(f"Wagner number {snapshot.dimensionless['wagner']:.4g}")
assert error < 1e-8, error
