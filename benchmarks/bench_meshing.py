"""Benchmark: where Gmsh's time goes on a mid-size 2D and 3D mesh, and what the options change.

Issue 14: meshing must not dominate. For each variant (3D algorithm, threads) this builds the
geometry with lidep's builders (solver/geometry/occ2d.py, occ3d.py) and times, on one process:
the OCC geometry, ``generate`` (wall and CPU), the curved P2 nodes (lidep's numpy placement,
``second_order``, and for comparison Gmsh's ``setOrder(2)`` of the same nodes), the quality
check, and writing and reading the cache file as ASCII and as binary MSH 4.1; with the cell
count and the minimum, 1st-percentile and mean SICN quality. Run from the repository root:

    .venv/bin/python benchmarks/bench_meshing.py [--dimension 3] [--refinement 4]

2D: a semicircular ridge (radius 1 um) under a 20 nm layer in a 50 um x 50 um cell; 3D: a
hemisphere (radius 1 um) at the corner of a 15 um cube (the issue's 3D case, smaller).
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import gmsh
import numpy as np

from solver.geometry import GeometryConfig
from solver.geometry import build as build_module
from solver.geometry.second_order import set_order_2

VARIANTS = {  # name -> (Mesh.Algorithm3D, General.NumThreads)
    2: {"frontal-delaunay, 1 thread": (10, 1), "frontal-delaunay, 2 threads": (10, 2)},
    3: {"delaunay, 1 thread": (1, 1), "hxt, 1 thread": (10, 1), "hxt, 2 threads": (10, 2)},
}


def geometry(dimension: int, refinement: float) -> GeometryConfig:
    """The mid-size case of ``dimension``."""
    if dimension == 3:
        return GeometryConfig(dimension=3, domain={"width": 15e-6, "depth": 15e-6,
                                                   "length": 15e-6},
                              protrusions=[{"shape": "spherical", "radius": 1e-6}],
                              mesh={"refinement": refinement})
    return GeometryConfig(domain={"width": 50e-6, "length": 50e-6},
                          protrusions=[{"shape": "spherical", "radius": 1e-6}],
                          layers=[{"name": "sei", "thickness": 20e-9}],
                          mesh={"refinement": refinement})


def measure(cfg: GeometryConfig, algorithm: int, threads: int, folder: Path) -> dict:
    """Time one meshing of ``cfg`` with the given 3D algorithm and thread count."""
    from solver.geometry.occ2d import build_occ_2d
    from solver.geometry.occ3d import build_occ_3d

    gmsh.initialize(interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.model.add("bench")
    options = {**build_module.MESHING_OPTIONS, "Mesh.Algorithm3D": algorithm,
               "General.NumThreads": threads}
    for option, value in options.items():
        gmsh.option.setNumber(option, value)
    times: dict[str, float] = {}
    start = time.perf_counter()
    (build_occ_3d if cfg.dimension == 3 else build_occ_2d)(cfg, gmsh.model)
    times["geometry"] = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    gmsh.model.mesh.generate(cfg.dimension)
    times["generate"], times["generate_cpu"] = (time.perf_counter() - start,
                                                time.process_time() - cpu)
    start = time.perf_counter()
    set_order_2(gmsh)
    times["second_order"] = time.perf_counter() - start
    start = time.perf_counter()
    _, tags, _ = gmsh.model.mesh.getElements(cfg.dimension)
    quality = gmsh.model.mesh.getElementQualities(np.concatenate(tags), "minSICN")
    times["quality"] = time.perf_counter() - start
    result = {"cells": int(quality.size), "min_sicn": round(float(quality.min()), 4),
              "p1_sicn": round(float(np.percentile(quality, 1)), 4),
              "mean_sicn": round(float(quality.mean()), 4)}
    for binary in (0, 1):
        path = folder / f"mesh{binary}.msh"
        gmsh.option.setNumber("Mesh.Binary", binary)
        start = time.perf_counter()
        gmsh.write(str(path))
        written = time.perf_counter() - start
        gmsh.model.add("read")
        start = time.perf_counter()
        gmsh.merge(str(path))
        read = time.perf_counter() - start
        gmsh.model.remove()
        gmsh.model.setCurrent("bench")
        result["binary" if binary else "ascii"] = {
            "write_s": round(written, 2), "read_s": round(read, 2),
            "mb": round(path.stat().st_size / 1e6, 1)}
    gmsh.model.mesh.setOrder(1)  # the same nodes again by Gmsh, for the comparison
    start = time.perf_counter()
    gmsh.model.mesh.setOrder(2)
    times["gmsh_set_order"] = time.perf_counter() - start
    gmsh.finalize()
    return {**result, **{f"{k}_s": round(v, 2) for k, v in times.items()}}


def main() -> None:
    """Mesh the case once per variant and print one JSON line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dimension", type=int, choices=(2, 3), default=3)
    parser.add_argument("--refinement", type=float, default=4.0)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    cfg = geometry(args.dimension, args.refinement)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (algorithm, threads) in VARIANTS[args.dimension].items():
            load = os.getloadavg()[0]
            print(json.dumps({"benchmark": "meshing", "dimension": args.dimension,
                              "refinement": args.refinement, "variant": name,
                              **measure(cfg, algorithm, threads, Path(tmp)),
                              "load_average": round(load, 2)}), flush=True)


if __name__ == "__main__":
    main()
