"""``Domain``: what the forms and outputs need of the mesh, and its update after a mesh motion.

It holds the measures (``dx`` per region, ``ds`` per boundary and per Li-surface part, the
interior ``dS_it`` of the ion-transfer boundary), the Li-surface parts (the li_surface facets
grouped by the region of the adjacent cell), the electrolyte submesh with its entity maps and
facet tags, and the geometric constants: the projected area A_proj (the counter boundary), the
Li-surface area and the area of each part, the cell height L, the region volumes, the
ion-transfer boundary's area per interphase region and the apex landmark. All integrals carry
the weight w (2 pi r in axisymmetric coordinates, 1 otherwise).

A moving mesh changes ``mesh.geometry.x`` and then calls :meth:`Domain.update_geometry`, which
copies the new coordinates to the electrolyte submesh (its geometry is a copy of the parent's
nodes), drops the bounding-box tree and the cell-volume field built for the old geometry and
recomputes every geometric constant. Topological data (facet tags, parts, integration
entities, entity maps) stay valid; compiled forms need no recompilation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import dolfinx
import dolfinx.fem.petsc
import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI

from solver.driver import SimulationError
from solver.forms import compile_forms
from solver.geometry.bundle import MeshBundle

__all__ = ["Domain", "SurfacePart"]


@dataclass
class SurfacePart:
    """The li_surface facets adjacent to one ionic region.

    Attributes:
        region: The region's name (``electrolyte`` for the bare Li surface).
        tag: Facet tag of the part in ``Domain.facet_tags`` (``ds(tag)``).
        entities: Owned (cell, local facet) pairs of the part (surface sampling).
    """

    region: str
    tag: int
    entities: np.ndarray


class Domain:
    """Measures, surface parts, electrolyte submesh and geometric constants of a mesh.

    Args:
        bundle: The mesh with named regions and boundaries.
        comm: The communicator of the mesh.
        submesh: Whether to build the electrolyte submesh (binary electrolytes, split
            potentials).
        interface: Interphase regions whose boundary with the electrolyte gets the
            interior-facet measure ``dS_it`` (regions with an ion-transfer resistance).
    """

    SUB_LI, SUB_COUNTER, SUB_INTERFACE = 1, 2, 3  # facet tags of the electrolyte submesh

    def __init__(
        self,
        bundle: MeshBundle,
        comm: MPI.Comm,
        *,
        submesh: bool = False,
        interface: Iterable[str] = (),
    ):
        self.bundle, self.comm, self.mesh = bundle, comm, bundle.mesh
        self.tdim = self.mesh.topology.dim
        self.interface = list(interface)
        self._setup_mesh_data()
        self._setup_parts()
        self.submesh = None
        if submesh:
            self._setup_submesh()
        if self.interface:
            self._setup_interface()
        self._cell_volume: fem.Function | None = None
        self._bb_tree: dolfinx.geometry.BoundingBoxTree | None = None
        self._apex_reference = self._locate(bundle.landmarks.get("apex"))
        #: whether some rank holds the apex landmark's cell (it stays there when the mesh moves)
        self._apex_found = comm.allreduce(self._apex_reference is not None, op=MPI.LOR)
        self._apex_offset = np.zeros(3)
        if self._apex_reference is not None:  # the landmark exactly, also off a curved cell
            self._apex_offset = bundle.landmarks["apex"][:3] - self._push_forward()
        self._setup_constant_forms()
        self._compute_constants()

    # ------------------------------------------------------------------------------------------
    # Topology and measures (built once: they do not change when the mesh moves)
    # ------------------------------------------------------------------------------------------
    def _setup_mesh_data(self) -> None:
        msh, tdim = self.mesh, self.tdim
        msh.topology.create_connectivity(tdim - 1, tdim)
        msh.topology.create_connectivity(tdim, tdim - 1)
        cmap = msh.topology.index_map(tdim)
        n_cells = cmap.size_local + cmap.num_ghosts
        self.cell_region = np.full(n_cells, -1, dtype=np.int32)
        self.cell_region[self.bundle.cell_tags.indices] = self.bundle.cell_tags.values
        self.x = ufl.SpatialCoordinate(msh)
        self.axisym = self.bundle.coordinates == "axisymmetric"
        self.weight = 2.0 * math.pi * self.x[0] if self.axisym else 1.0
        self.dx = ufl.Measure("dx", domain=msh, subdomain_data=self.bundle.cell_tags)
        self.n = ufl.FacetNormal(msh)

    def tag(self, name: str) -> int:
        """The facet tag of a boundary of the bundle.

        Raises:
            SimulationError: The mesh has no such facet group.
        """
        if name not in self.bundle.boundaries:
            raise SimulationError(
                f"mesh: the facet group '{name}' is missing (have {sorted(self.bundle.boundaries)})"
            )
        return self.bundle.boundaries[name]

    def _owned_exterior(self, facets: np.ndarray) -> np.ndarray:
        """Owned (cell, local facet) pairs of exterior facets."""
        owned = facets[facets < self.mesh.topology.index_map(self.tdim - 1).size_local]
        return fem.compute_integration_domains(
            fem.IntegralType.exterior_facet, self.mesh.topology, owned
        ).reshape(-1, 2)

    def _setup_parts(self) -> None:
        """Split li_surface by the region of the adjacent cell and retag the facets."""
        msh, tdim = self.mesh, self.tdim
        ft = self.bundle.facet_tags
        f2c = msh.topology.connectivity(tdim - 1, tdim)
        li = ft.find(self.tag("li_surface"))
        adjacent = np.array([self.cell_region[f2c.links(f)[0]] for f in li], dtype=np.int32)
        base = int(max(self.bundle.boundaries.values())) + 1
        names = {tag: name for name, tag in self.bundle.regions.items()}
        values = ft.values.copy()
        position = {f: k for k, f in enumerate(ft.indices)}
        self.parts: list[SurfacePart] = []
        for k, (region_tag, name) in enumerate(sorted(names.items())):
            tag = base + k
            mine = li[adjacent == region_tag]
            values[[position[f] for f in mine]] = tag
            self.parts.append(SurfacePart(name, tag, self._owned_exterior(mine)))
        self.facet_tags = dolfinx.mesh.meshtags(msh, tdim - 1, ft.indices, values)
        self.ds = ufl.Measure("ds", domain=msh, subdomain_data=self.facet_tags)
        self.li_measure = sum((self.ds(p.tag) for p in self.parts[1:]), self.ds(self.parts[0].tag))
        self.counter_entities = self._owned_exterior(self.facet_tags.find(self.tag("counter")))

    def _setup_submesh(self) -> None:
        """The electrolyte submesh, its maps, measures and facet tags.

        The submesh's facet tags: bare Li surface, counter, interphase | electrolyte boundary.
        """
        cells = self.bundle.cell_tags.find(self.bundle.regions["electrolyte"])
        self.submesh, self.emap, self.vertex_map, self.geom_map = dolfinx.mesh.create_submesh(
            self.mesh, self.tdim, cells
        )
        xs = ufl.SpatialCoordinate(self.submesh)
        self.x_e = xs
        self.weight_e = 2.0 * math.pi * xs[0] if self.axisym else 1.0
        self.dx_e = ufl.Measure("dx", domain=self.submesh)
        tdim = self.tdim
        self.submesh.topology.create_connectivity(tdim - 1, tdim)
        bare = [p.tag for p in self.parts if p.region == "electrolyte"]
        interface = self.bundle.boundaries.get("interphase_electrolyte")
        groups = {
            self.SUB_LI: np.concatenate([self.facet_tags.find(t) for t in bare]),
            self.SUB_COUNTER: self.facet_tags.find(self.tag("counter")),
            self.SUB_INTERFACE: (
                self.facet_tags.find(interface)
                if interface is not None
                else np.zeros(0, dtype=np.int32)
            ),
        }
        indices = {tag: self.submesh_facets(facets) for tag, facets in groups.items()}
        order = np.argsort(np.concatenate(list(indices.values())))
        self.sub_facet_tags = dolfinx.mesh.meshtags(
            self.submesh,
            tdim - 1,
            np.concatenate(list(indices.values()))[order],
            np.concatenate([np.full(len(v), k, dtype=np.int32) for k, v in indices.items()])[order],
        )
        self.ds_e = ufl.Measure("ds", domain=self.submesh, subdomain_data=self.sub_facet_tags)

    def submesh_facets(self, parent_facets: np.ndarray) -> np.ndarray:
        """Electrolyte-submesh facet indices of the given parent facets (matched by vertices)."""
        tdim = self.tdim
        self.mesh.topology.create_connectivity(tdim - 1, 0)
        self.submesh.topology.create_connectivity(tdim - 1, 0)
        f2v = self.mesh.topology.connectivity(tdim - 1, 0)
        sub_f2v = self.submesh.topology.connectivity(tdim - 1, 0)
        per_facet = len(f2v.links(0)) if len(f2v.offsets) > 1 else tdim
        imap = self.submesh.topology.index_map(tdim - 1)
        n_sub = imap.size_local + imap.num_ghosts
        sub_vertices = sub_f2v.array.reshape(n_sub, per_facet)
        parent_of = self.vertex_map.sub_topology_to_topology(
            sub_vertices.reshape(-1).astype(np.int32), False
        ).reshape(n_sub, per_facet)
        wanted = f2v.array.reshape(-1, per_facet)[parent_facets]

        def keys(rows: np.ndarray) -> np.ndarray:
            rows = np.ascontiguousarray(np.sort(rows, axis=1).astype(np.int64))
            return rows.view(np.dtype((np.void, rows.dtype.itemsize * per_facet))).ravel()

        return np.flatnonzero(np.isin(keys(parent_of), keys(wanted))).astype(np.int32)

    def interface_regions(self) -> set[str]:
        """The interphase regions that touch the electrolyte (on any rank)."""
        facets = self.facet_tags.find(self.tag("interphase_electrolyte"))
        return set().union(*self.comm.allgather(
            {self._names[int(t)] for t in np.unique(self._across(facets))}
        ))

    @property
    def _names(self) -> dict[int, str]:
        return {tag: name for name, tag in self.bundle.regions.items()}

    def _across(self, facets: np.ndarray) -> np.ndarray:
        """The cell tag across each interphase | electrolyte facet from the electrolyte."""
        f2c = self.mesh.topology.connectivity(self.tdim - 1, self.tdim)
        electrolyte = self.bundle.regions["electrolyte"]
        # both cells of such a facet are local (ghost mode shared_facet)
        sides = [self.cell_region[f2c.links(f)] for f in facets]
        return np.array([r[r != electrolyte][0] for r in sides], dtype=np.int32)

    def _setup_interface(self) -> None:
        """The interior-facet measure ``dS_it`` of the interphase | electrolyte boundary.

        Its subdomain ids are the cell tags of the regions in ``interface``; the restriction
        "+" is the electrolyte side.
        """
        facets = self.facet_tags.find(self.tag("interphase_electrolyte"))
        across = self._across(facets)
        electrolyte = self.bundle.regions["electrolyte"]
        owned = facets < self.mesh.topology.index_map(self.tdim - 1).size_local
        data = []
        for name in self.interface:  # every rank, also those without such facets
            tag = self.bundle.regions[name]
            entities = fem.compute_integration_domains(
                fem.IntegralType.interior_facet, self.mesh.topology, facets[owned & (across == tag)]
            ).reshape(-1, 4)
            # (cell, local facet) pairs: the electrolyte side first, so that "+" is that side
            swap = self.cell_region[entities[:, 0]] != electrolyte
            entities[swap] = entities[swap][:, [2, 3, 0, 1]]
            data.append((tag, entities.ravel()))
        self.dS_it = ufl.Measure("dS", domain=self.mesh, subdomain_data=data)

    @property
    def weight_plus(self) -> ufl.core.expr.Expr | float:
        """The weight w on the "+" side of interior facets (w is continuous)."""
        return self.weight("+") if self.axisym else 1.0

    @property
    def maps(self) -> list[dolfinx.mesh.EntityMap] | None:
        """Entity maps for forms that mix the mesh and the electrolyte submesh."""
        return None if self.submesh is None else [self.emap]

    # ------------------------------------------------------------------------------------------
    # Geometry (recomputed by update_geometry)
    # ------------------------------------------------------------------------------------------
    def integrate(self, integrand: ufl.core.expr.Expr) -> float:
        """The integral of a scalar UFL form over all ranks (mesh and submesh may mix)."""
        return self.assemble(self.compile(integrand))

    def compile(self, integrand: ufl.Form) -> fem.Form:
        """The compiled form of a scalar UFL form (mesh and submesh may mix)."""
        return compile_forms(integrand, entity_maps=self.maps)

    def assemble(self, form: fem.Form) -> float:
        """The value of a compiled scalar form, summed over all ranks."""
        return self.comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM)

    def integrate_all(self, integrands: list[ufl.Form]) -> list[float]:
        """The integrals of several scalar forms (one JIT module, one allreduce)."""
        local = [fem.assemble_scalar(f) for f in compile_forms(integrands, entity_maps=self.maps)]
        return self.comm.allreduce(np.array(local, dtype=float), op=MPI.SUM).tolist()

    def _setup_constant_forms(self) -> None:
        """Compile the integrals of the geometric constants once (reassembled after a move).

        All in one JIT module (:func:`solver.forms.compile_forms`); each JIT-cache look-up is a
        directory listing and a collective, which made recompiling them after every mesh motion
        the largest cost of a growing run (docs/performance.md).
        """
        w = self.weight
        integrands = {
            ("area",): w * self.ds(self.tag("counter")),
            **{("part", k): w * self.ds(p.tag) for k, p in enumerate(self.parts)},
            ("li_area",): w * self.li_measure,
            **{("volume", name): w * self.dx(tag) for name, tag in self.bundle.regions.items()},
            **{("interface", name): self.weight_plus * self.dS_it(self.bundle.regions[name])
               for name in self.interface},
        }
        self._constant_keys = list(integrands)
        self._constant_forms = compile_forms(list(integrands.values()), entity_maps=self.maps)

    def _compute_constants(self) -> None:
        # the integrals and the moved apex (non-zero on its owner only) in one reduction
        local = [fem.assemble_scalar(f) for f in self._constant_forms]
        owner = self._apex_reference is not None
        apex = self._push_forward() + self._apex_offset if owner else np.zeros(3)
        totals = self.comm.allreduce(np.array([*local, *apex], dtype=float), op=MPI.SUM)
        values = dict(zip(self._constant_keys, totals[:-3], strict=True))
        #: Projected area A_proj: the weighted measure of the counter boundary, m^2 (2D: m).
        self.area = float(values["area",])
        #: Weighted area of each Li-surface part, and of the whole Li surface.
        self.part_areas = [float(values["part", k]) for k in range(len(self.parts))]
        self.li_area = float(values["li_area",])
        #: Weighted volume of each region.
        self.volumes = {name: float(values["volume", name]) for name in self.bundle.regions}
        #: Weighted area of the ion-transfer boundary of each region in ``interface``.
        self.interface_areas = {name: float(values["interface", name]) for name in self.interface}
        local = self.mesh.geometry.x[:, self.tdim - 1].max(initial=-np.inf)
        #: Distance L of the counter boundary from the Li base plane (largest coordinate).
        self.height = self.comm.allreduce(float(local), op=MPI.MAX)
        #: The apex landmark moved with the mesh (None when the bundle has none).
        self.apex = self._apex_now(totals[-3:])

    def update_geometry(self) -> None:
        """Follow a motion of the mesh's nodes (``mesh.geometry.x`` changed in place).

        Copies the nodes to the electrolyte submesh, drops the bounding-box tree and the
        cell-volume field of the old geometry and recomputes the geometric constants.
        Collective.
        """
        if self.submesh is not None:
            self.submesh.geometry.x[:] = self.mesh.geometry.x[self.geom_map]
        self._bb_tree = None
        if self._cell_volume is not None:
            self._assemble_cell_volume()
        self._compute_constants()

    @property
    def bb_tree(self) -> dolfinx.geometry.BoundingBoxTree:
        """Bounding-box tree of the mesh's cells for the current geometry (built on demand)."""
        if self._bb_tree is None:
            cmap = self.mesh.topology.index_map(self.tdim)
            cells = np.arange(cmap.size_local + cmap.num_ghosts, dtype=np.int32)
            self._bb_tree = dolfinx.geometry.bb_tree(self.mesh, self.tdim, entities=cells)
        return self._bb_tree

    @property
    def cell_volume(self) -> fem.Function:
        """|cell| as a DG0 function (also for curved cells, where ufl.CellVolume is missing)."""
        if self._cell_volume is None:
            dg0 = fem.functionspace(self.mesh, ("DG", 0))
            self._cell_volume = fem.Function(dg0, name="cell_volume")
            self._volume_form = fem.form(ufl.TestFunction(dg0) * ufl.dx(domain=self.mesh))
            self._assemble_cell_volume()
        return self._cell_volume

    def _assemble_cell_volume(self) -> None:
        vec = self._cell_volume.x.petsc_vec
        with vec.localForm() as local:
            local.set(0.0)
        dolfinx.fem.petsc.assemble_vector(vec, self._volume_form)
        self._cell_volume.x.scatter_forward()

    def _locate(self, point: np.ndarray | None) -> tuple[int, np.ndarray] | None:
        """(local cell, reference coordinates) of a point on the rank that owns it.

        The lowest rank with an owned cell containing the point keeps it; others get None.
        A point no rank finds is None everywhere.
        """
        if point is None:
            return None
        gdim = self.mesh.geometry.dim
        p = np.asarray(point, dtype=self.mesh.geometry.x.dtype)[:3].reshape(1, 3)
        candidates = dolfinx.geometry.compute_collisions_points(self.bb_tree, p)
        colliding = dolfinx.geometry.compute_colliding_cells(self.mesh, candidates, p)
        owned = self.mesh.topology.index_map(self.tdim).size_local
        cells = [c for c in colliding.links(0) if c < owned]
        rank = self.comm.rank if cells else self.comm.size
        first = self.comm.allreduce(rank, op=MPI.MIN)
        if first != self.comm.rank:
            return None
        cell = int(cells[0])
        nodes = self.mesh.geometry.x[self.mesh.geometry.dofmaps[0][cell], :gdim]
        reference = self.mesh.geometry.cmaps[0].pull_back(p[:, :gdim], nodes)
        return cell, reference

    def _push_forward(self) -> np.ndarray:
        """The apex's reference point mapped by the current geometry of its cell (owner only)."""
        gdim = self.mesh.geometry.dim
        cell, reference = self._apex_reference
        nodes = self.mesh.geometry.x[self.mesh.geometry.dofmaps[0][cell], :gdim]
        out = np.zeros(3)
        out[:gdim] = self.mesh.geometry.cmaps[0].push_forward(reference, nodes)[0]
        return out

    def _apex_now(self, moved: np.ndarray) -> np.ndarray | None:
        """The apex landmark moved with the mesh.

        The point of the same reference coordinates in the same cell (the landmark itself on a
        mesh that has not moved, or where no rank found its cell).

        Args:
            moved: That point as summed over the ranks (only the owner of the cell adds it).
        """
        if "apex" not in self.bundle.landmarks:
            return None
        if not self._apex_found:
            return np.asarray(self.bundle.landmarks["apex"], dtype=float)
        return moved
