#!/usr/bin/env bash
# Run the whole test suite: lint, the serial tests, then the MPI tests on 2 ranks.
# Extra arguments go to both pytest runs (e.g. -m "not slow", -x, -k NAME).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$root/.venv/bin:$PATH"
export OMP_NUM_THREADS=1
reports="$(mktemp -d)"
trap 'rm -rf "$reports"' EXIT

.venv/bin/ruff check solver tests benchmarks demos || exit 1
.venv/bin/python -m pytest -m "not mpi" --junitxml="$reports/serial.xml" "$@"
serial=$?
# Each rank writes its own JUnit file; rank 0's counts are reported (both ranks run the same tests).
.venv/bin/mpiexec -n 2 sh -c '.venv/bin/python -m pytest -m mpi -p no:cacheprovider -q \
    --junitxml="$0/mpi-rank-${PMI_RANK:-0}.xml" "$@"' "$reports" "$@"
parallel=$?
.venv/bin/python scripts/junit_summary.py "$reports/serial.xml" "$reports/mpi-rank-0.xml" \
    "$reports/mpi-rank-1.xml"
summary=$?
for rc in $serial $parallel $summary; do [ "$rc" -eq 0 ] || exit 1; done
