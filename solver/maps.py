"""Colour maps of the fields for the report, drawn with matplotlib from the XDMF files.

For one field, :func:`plot_field_maps` draws a row per case: the whole domain, a zoom on the
feature (around the first void edge, else the apex) and, when an interphase is thinner than a
few percent of that zoom, a magnified band across it there. All panels of all cases
share one colour range and one colour bar, so the cases compare at a glance. Axes are in µm
(x or r across, y or z up); cell groups (interphase layers, mosaic phases) are outlined in
white, the boundary of the ionic domain (voids, Li, counter) in black on a grey background
(no ionic phase), the Li surface in red. A 3D case shows its vertical section through the
apex. Serial: call it on one rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after selecting the non-interactive backend)
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.tri import Triangulation  # noqa: E402

UM = 1e6
"""Metres to micrometres."""

THIN_LAYER = 0.03
"""An interphase thinner than this fraction of the zoom's height gets a magnified band."""


@dataclass
class Section:
    """A planar section of one case's field at the last output time, in µm.

    Attributes:
        triangulation: The triangles of the section (plane coordinates).
        values: Point values (one per node) or cell values (one per triangle) of the field.
        region: Region tag per triangle (None when the file has none).
        surface: Li-surface segments, shape (n, 2, 2), µm.
        focus: Centre of the zooms in plane coordinates, µm: the first void edge, else the
            apex landmark.
        electrolyte: The electrolyte's region tag (None if unknown).
        three_d: Whether it is the vertical section of a 3D case.
    """

    triangulation: Triangulation
    values: np.ndarray
    region: np.ndarray | None
    surface: np.ndarray
    focus: np.ndarray
    electrolyte: int | None
    three_d: bool = False

    @property
    def pointwise(self) -> bool:
        """Whether the values are per node (else per triangle)."""
        return self.values.size == self.triangulation.x.size

    def cell_values(self) -> np.ndarray:
        """One value per triangle (mean of its nodes for point values)."""
        if self.pointwise:
            return self.values[self.triangulation.triangles].mean(axis=1)
        return self.values

    def areas(self) -> np.ndarray:
        """Triangle areas, µm^2."""
        x, y = self.triangulation.x, self.triangulation.y
        a, b, c = self.triangulation.triangles.T
        return 0.5 * np.abs((x[b] - x[a]) * (y[c] - y[a]) - (x[c] - x[a]) * (y[b] - y[a]))


def _read_last(path: Path):  # noqa: ANN202  (pyvista.DataSet or None)
    """The data set of a lidep XDMF series at its last time (None if the file is missing)."""
    import pyvista

    if not path.is_file():
        return None
    reader = pyvista.get_reader(path)
    if reader.time_values:
        reader.set_active_time_value(reader.time_values[-1])
    return reader.read()


def _plane(points: np.ndarray, three_d: bool) -> np.ndarray:
    """Plane coordinates (µm): (x, y) in 2D, (x, z) of the vertical section in 3D."""
    return points[:, [0, 2]] * UM if three_d else points[:, :2] * UM


def load_section(case_dir: Path, field: str, summary: dict, scale: float = 1.0
                 ) -> Section | None:
    """Read ``field`` of a case (``fields/domain.xdmf``, ``fields/surface.xdmf``) as a section.

    Args:
        case_dir: ``<run>/<case>``.
        field: Array name in ``domain.xdmf``.
        summary: The case summary of metrics.json (landmarks, regions).
        scale: Factor applied to the values (unit of the map).

    Returns:
        The section, or None when the file or the field is missing or has no finite value.
    """
    grid = _read_last(case_dir / "fields" / "domain.xdmf")
    if grid is None or (field not in grid.point_data and field not in grid.cell_data):
        return None
    surface = _read_last(case_dir / "fields" / "surface.xdmf")
    apex = np.asarray(summary.get("landmarks", {}).get("apex", grid.center), dtype=float)
    void_edges = [e["point"] for e in summary.get("edges", []) if e.get("kind") == "void_edge"]
    focus = np.asarray(void_edges[0], dtype=float) if void_edges else apex
    three_d = bool(np.ptp(grid.points[:, 2]) > 0.0)
    if three_d:  # the vertical section through the apex, just inside a symmetry side
        low, high = grid.bounds[2], grid.bounds[3]
        margin = 1e-3 * (high - low)
        origin = [apex[0], min(max(apex[1], low + margin), high - margin), apex[2]]
        grid = grid.slice(normal="y", origin=origin)
        surface = surface.slice(normal="y", origin=origin) if surface is not None else None
    poly = grid.extract_surface(nonlinear_subdivision=0, algorithm="dataset_surface").triangulate()
    triangles = poly.faces.reshape(-1, 4)[:, 1:]
    plane = _plane(np.asarray(poly.points), three_d)
    data = poly.point_data if field in poly.point_data else poly.cell_data
    values = np.asarray(data[field], dtype=float)
    if values.ndim > 1:  # vectors: the magnitude
        values = np.linalg.norm(values, axis=1)
    values = values * scale
    if not np.isfinite(values).any():
        return None
    region = np.asarray(poly.cell_data["region"]).round().astype(int) if (
        "region" in poly.cell_data) else None
    segments = np.zeros((0, 2, 2))
    if surface is not None and surface.n_cells:
        segments = _plane(np.asarray(surface.points), three_d)[_line_pairs(surface)]
    return Section(
        triangulation=Triangulation(plane[:, 0], plane[:, 1], triangles),
        values=values,
        region=region,
        surface=segments,
        focus=_plane(focus.reshape(1, 3), three_d)[0],
        electrolyte=summary.get("regions", {}).get("electrolyte"),
        three_d=three_d,
    )


def _line_pairs(lines) -> np.ndarray:  # noqa: ANN001  (pyvista data set of line cells)
    """Node pairs of the straight pieces of line cells.

    A quadratic edge (its ends, then its middle node) is drawn as two pieces through the middle.
    """
    pairs = [np.zeros((0, 2), dtype=int)]
    for nodes in lines.cast_to_unstructured_grid().cells_dict.values():
        if nodes.shape[1] == 3:
            pairs += [nodes[:, [0, 2]], nodes[:, [2, 1]]]
        elif nodes.shape[1] == 2:
            pairs.append(nodes)
    return np.concatenate(pairs)


def colour_range(sections: list[Section]) -> tuple[float, float]:
    """One range for all sections: the 1st to 99th area-weighted percentile of the values.

    A thin interphase holds many small cells with a far larger |E| than the electrolyte; a
    min-max range would paint the whole electrolyte one colour. Cells beyond the range are
    drawn in the end colours.
    """
    values = np.concatenate([s.cell_values() for s in sections])
    weight = np.concatenate([s.areas() for s in sections])
    keep = np.isfinite(values) & (weight > 0)
    values, weight = values[keep], weight[keep]
    order = np.argsort(values)
    cumulative = np.cumsum(weight[order]) / weight.sum()
    low, high = np.interp([0.01, 0.99], cumulative, values[order])
    if high > low:
        return float(low), float(high)
    low, high = float(values.min()), float(values.max())
    return (low, high) if high > low else (low - 1.0, high + 1.0)


def _outlines(section: Section) -> tuple[np.ndarray, np.ndarray]:
    """Segments between cells of different regions, and on the boundary of the section."""
    tri = section.triangulation
    triangles, neighbours = tri.triangles, tri.neighbors
    inner, outer = [], []
    for corner in range(3):
        a, b = triangles[:, corner], triangles[:, (corner + 1) % 3]
        other = neighbours[:, corner]
        segment = np.stack([np.column_stack([tri.x[a], tri.y[a]]),
                            np.column_stack([tri.x[b], tri.y[b]])], axis=1)
        outer.append(segment[other < 0])
        if section.region is not None:
            has = other >= 0
            differs = np.zeros(other.size, dtype=bool)
            differs[has] = section.region[has] != section.region[other[has]]
            inner.append(segment[differs & (np.arange(other.size) < np.maximum(other, 0))])
    empty = np.zeros((0, 2, 2))
    return (np.concatenate(inner) if inner else empty), np.concatenate(outer)


def _windows(section: Section) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Panels: whole domain, the feature, and a band across a thin interphase at the focus."""
    tri = section.triangulation
    whole = (tri.x.min(), tri.x.max(), tri.y.min(), tri.y.max())
    windows = [("whole domain", whole)]
    if not section.surface.size:
        return windows
    s_low, s_high = section.surface[..., 1].min(), section.surface[..., 1].max()
    layer_top = s_high
    if section.region is not None and section.electrolyte is not None:
        layer = section.region != section.electrolyte
        if layer.any():
            layer_top = max(s_high, tri.y[tri.triangles[layer]].max())
    thickness = layer_top - s_high
    height = max(2.0 * (s_high - s_low), 6.0 * thickness, 0.02 * (whole[3] - whole[2]))
    cx = section.focus[0]

    def box(half_width: float, low: float, high: float) -> tuple[float, float, float, float]:
        left = max(whole[0], cx - half_width)
        right = min(whole[1], left + 2.0 * half_width)
        return left, right, max(whole[2], low), min(whole[3], high)

    feature = box(2.0 * height, s_low - 0.1 * height, s_high + height)
    if feature[3] - feature[2] < 0.8 * (whole[3] - whole[2]):
        windows.append(("feature", feature))
    if 0.0 < thickness < THIN_LAYER * height:
        top = section.focus[1]
        windows.append(("interphase (magnified)",
                        box(4.0 * thickness, top - 2.0 * thickness, top + 4.0 * thickness)))
    return windows


def plot_field_maps(sections: dict[str, Section], label: str, path: Path,
                    coordinates: dict[str, str] | None = None) -> Path | None:
    """Draw one row per case (whole domain, feature, thin layer) on one shared colour range.

    Args:
        sections: Case label -> section.
        label: Colour-bar title with unit.
        path: PNG to write.
        coordinates: Case label -> ``"cartesian"`` or ``"axisymmetric"`` (axis names).

    Returns:
        ``path``, or None when there is nothing to draw.
    """
    if not sections:
        return None
    vmin, vmax = colour_range(list(sections.values()))
    columns = max(len(_windows(s)) for s in sections.values())
    fig, axes = plt.subplots(len(sections), columns, figsize=(3.8 * columns + 1.5,
                             3.4 * len(sections)), squeeze=False, layout="constrained")
    mappable = None
    for row, (name, section) in zip(axes, sections.items(), strict=True):
        inner, outer = _outlines(section)
        windows = _windows(section)
        for ax, (title, (x0, x1, y0, y1)) in zip(row, windows, strict=False):
            full = section.triangulation
            mask = ~np.isfinite(section.cell_values())  # no field here (c in the interphase)
            # matplotlib reads the mask when drawing: one masked triangulation per panel
            tri = Triangulation(full.x, full.y, full.triangles, mask=mask)
            values = np.nan_to_num(section.values)
            shading = "gouraud" if section.pointwise else "flat"
            if section.pointwise:
                mappable = ax.tripcolor(tri, values, shading=shading, vmin=vmin, vmax=vmax,
                                        cmap="viridis")
            else:
                mappable = ax.tripcolor(tri, facecolors=values, vmin=vmin, vmax=vmax,
                                        cmap="viridis")
            ax.add_collection(LineCollection(inner, colors="white", linewidths=0.8))
            ax.add_collection(LineCollection(outer, colors="black", linewidths=0.6))
            ax.add_collection(LineCollection(section.surface, colors="red", linewidths=1.5))
            ax.set_facecolor("0.8")
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
            ax.set_aspect("equal")
            ax.set_title(f"{name}: {title}", fontsize=9)
            across, up = axis_names((coordinates or {}).get(name, "cartesian"),
                                    section.three_d)
            ax.set_xlabel(f"{across} (µm)")
            ax.set_ylabel(f"{up} (µm)")
            ax.tick_params(labelsize=8)
        for ax in row[len(windows):]:
            ax.set_visible(False)
    fig.colorbar(mappable, ax=axes.ravel().tolist(), label=label, shrink=0.8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def axis_names(coordinates: str, three_d: bool) -> tuple[str, str]:
    """Axis names of a map: r, z (axisymmetric), x, z (3D section) or x, y."""
    if coordinates == "axisymmetric":
        return "r", "z"
    return ("x", "z") if three_d else ("x", "y")
