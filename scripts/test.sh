#!/usr/bin/env bash
# Run the whole test suite: lint, the serial tests, then the MPI (2-rank) tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$root/.venv/bin:$PATH"
export OMP_NUM_THREADS=1
.venv/bin/ruff check solver tests benchmarks
.venv/bin/python -m pytest -m "not mpi" "$@"
.venv/bin/mpiexec -n 2 .venv/bin/python -m pytest -m mpi -p no:cacheprovider "$@"
