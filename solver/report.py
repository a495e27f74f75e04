"""Figures and reports from the files of finished runs (no solving).

``build_report(run_dir)`` reads ``metrics.json``, each case's ``surface.npz`` and the XDMF
fields, draws the figures into ``<run>/figures`` and writes ``report.md`` and a self-contained
``report.html`` (figures embedded as base64). ``compare_runs(run_dirs, out_dir)`` does the same
for the cases of several runs side by side. Serial: call it on one rank.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from solver.io import read_metrics, read_surface_profiles
from solver.output_spec import UNIFORM_BELOW

MAX_PROFILE_TIMES = 4
"""Profiles per case in the interface-current figure when no figure times are configured."""


@dataclass(frozen=True)
class Row:
    """A metric shown in the report table: key in the per-time rows, display scale and unit."""

    key: str
    label: str
    scale: float = 1.0
    unit: str = ""


TABLE_ROWS: tuple[Row, ...] = (
    Row("j_mean", "mean j", 0.1, "mA/cm^2"),
    Row("j_max", "max j", 0.1, "mA/cm^2"),
    Row("j_min", "min j", 0.1, "mA/cm^2"),
    Row("j_percentile", "percentile j", 0.1, "mA/cm^2"),
    Row("j_tip", "j at the apex", 0.1, "mA/cm^2"),
    Row("j_far_field", "j in the far field", 0.1, "mA/cm^2"),
    Row("enhancement_max_over_mean", "hotspot factor max/mean", 1.0, ""),
    Row("min_over_mean", "min/mean j", 1.0, ""),
    Row("enhancement_percentile_over_mean", "percentile/mean", 1.0, ""),
    Row("enhancement_tip_over_far_field", "tip/far field", 1.0, ""),
    Row("hotspot_measure_fraction", "hotspot area (j > k mean)", 100.0, "%"),
    Row("hotspot_current_fraction", "current through the hotspot", 100.0, "%"),
    Row("hotspot_centroid_x", "hotspot centroid x", 1e6, "um"),
    Row("deposit_mean", "mean deposit", 1e9, "nm"),
    Row("deposit_max_over_mean", "deposit max/mean", 1.0, ""),
    Row("min_surface_concentration", "min surface concentration (electrolyte side)", 1.0,
        "mol/m^3"),
    Row("edge_band_current_fraction", "current within the edge bands", 100.0, "%"),
    Row("edge_band_enhancement", "edge-band mean j / mean j", 1.0, ""),
    Row("cell_voltage", "cell voltage", 1e3, "mV"),
    Row("overpotential_mean", "mean overpotential", 1e3, "mV"),
    Row("asr", "area-specific resistance", 1e4, "ohm cm^2"),
    Row("leakage_fraction", "electronic leakage / current", 100.0, "%"),
)
"""Final-time metrics in the table, in this order; ``E_max_<region>`` rows are added per run."""


@dataclass
class CaseResult:
    """The saved results of one case.

    Attributes:
        label: Name shown in the report (``case`` or ``run/case`` in comparisons).
        case_dir: ``<run>/<case>``.
        summary: The case summary of metrics.json.
        rows: The per-time metrics.
        profiles: Arrays of ``surface.npz`` (None if missing).
    """

    label: str
    case_dir: Path
    summary: dict
    rows: list[dict]
    profiles: dict[str, np.ndarray] | None

    @property
    def final(self) -> dict:
        """Metrics at the last output time, with min/mean j (``min_over_mean``) added."""
        if not self.rows:
            return {}
        final = dict(self.rows[-1])
        mean = final.get("j_mean", math.nan)
        final["min_over_mean"] = final.get("j_min", math.nan) / mean if mean else math.nan
        return final

    def figure_enabled(self, name: str) -> bool:
        """Whether the case's output config asks for figure ``name`` (default yes)."""
        return bool(self.summary.get("output", {}).get("figures", {}).get(name, True))


def load_run(run_dir: Path, *, prefix: str = "") -> tuple[dict, list[CaseResult]]:
    """Read a run directory: the metrics document and one :class:`CaseResult` per case."""
    run_dir = Path(run_dir)
    document = read_metrics(run_dir)
    cases = []
    for name, case in document["cases"].items():
        npz = run_dir / name / "surface.npz"
        cases.append(
            CaseResult(
                label=f"{prefix}{name}",
                case_dir=run_dir / name,
                summary=case["summary"],
                rows=case["times"],
                profiles=read_surface_profiles(npz) if npz.is_file() else None,
            )
        )
    return document, cases


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------
def _profile_times(case: CaseResult) -> list[int]:
    """Indices of the saved times to plot: nearest to the configured figure times, else spread."""
    times = case.profiles["t"]
    wanted = case.summary.get("output", {}).get("figure_times")
    if wanted:
        return sorted({int(np.argmin(np.abs(times - t))) for t in wanted})
    count = min(MAX_PROFILE_TIMES, times.size)
    return sorted({int(round(k)) for k in np.linspace(0, times.size - 1, count)})


def _surface_coordinate(case: CaseResult) -> tuple[np.ndarray, str]:
    """Abscissa in um: x (2D planar), r (axisymmetric), or in 3D the distance from the apex."""
    x = case.profiles["x"]
    if x.shape[0] and np.ptp(x[:, 2]) > 0.0:
        apex = np.asarray(case.summary.get("landmarks", {}).get("apex", [0.0, 0.0, 0.0]))
        return np.linalg.norm(x[:, :2] - apex[:2], axis=1) * 1e6, "distance from the apex (µm)"
    name = "r" if case.summary.get("coordinates") == "axisymmetric" else "x"
    return x[:, 0] * 1e6, f"{name} (µm)"


def _void_breaks(case: CaseResult, s: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Insert NaN between consecutive samples (sorted by ``s``) that a void edge separates.

    The Li surface stops at the rim of a void: without the break the line would run straight
    across the void, where there is no current at all.
    """
    x = case.profiles["x"]
    if x.shape[0] and np.ptp(x[:, 2]) > 0.0:
        return s, j  # 3D: distance from the apex, no ordering along the surface
    edges = [e["point"][0] * 1e6 for e in case.summary.get("edges", [])
             if e.get("kind") == "void_edge"]
    cuts = np.unique(np.searchsorted(s, edges))
    cuts = cuts[(cuts > 0) & (cuts < s.size)]
    return np.insert(s, cuts, np.nan), np.insert(j, cuts, np.nan)


def _pyplot():  # noqa: ANN202  (the matplotlib.pyplot module)
    """matplotlib.pyplot on the non-interactive backend, imported when a figure is drawn.

    Not at import: pyplot takes 1-2 s to import, and runs without a report never draw.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_interface_current(cases: list[CaseResult], path: Path) -> Path | None:
    """Plot j along the Li surface (mA/cm^2 against x) for each case at the figure times.

    All panels share the x and j axes, so the cases compare at a glance; the lines break at
    voids.
    """
    cases = [c for c in cases if c.profiles is not None and c.profiles["t"].size]
    if not cases:
        return None
    fig, axes = _pyplot().subplots(1, len(cases), figsize=(5 * len(cases), 3.8), squeeze=False,
                             sharex=True, sharey=True)
    for ax, case in zip(axes[0], cases, strict=True):
        s, xlabel = _surface_coordinate(case)
        order = np.argsort(s, kind="stable")
        for k in _profile_times(case):
            t = case.profiles["t"][k]
            line_s, line_j = _void_breaks(case, s[order], 0.1 * case.profiles["j"][k][order])
            ax.plot(line_s, line_j, label=f"t = {t:.4g} s")
        ax.set_title(case.label)
        _label_axes(ax, xlabel, "j (mA/cm^2)")
    return _save(fig, path)


def plot_surface_profiles(cases: list[CaseResult], path: Path) -> Path | None:
    """Overlay the Li-surface shape (height against x, nm) at the figure times of each case.

    Only cases whose surface moved (``physics.growth``: ``surface.npz`` holds the sample points
    of every time, ``x_t``) in 2D sections; None when there are none.
    """
    grown = [
        c for c in cases
        if c.profiles is not None and "x_t" in c.profiles and len(c.profiles["x_t"]) > 1
        and not np.array_equal(c.profiles["x_t"][0], c.profiles["x_t"][-1])
        and not np.any(c.profiles["x_t"][..., 2])
    ]
    if not grown:
        return None
    fig, axes = _pyplot().subplots(1, len(grown), figsize=(5 * len(grown), 3.8), squeeze=False,
                                   sharex=True, sharey=True)
    for ax, case in zip(axes[0], grown, strict=True):
        for k in _profile_times(case):
            points = case.profiles["x_t"][k]
            order = np.argsort(points[:, 0], kind="stable")
            ax.plot(1e6 * points[order, 0], 1e9 * points[order, 1],
                    label=f"t = {case.profiles['t'][k]:.4g} s")
        ax.set_title(case.label)
        _label_axes(ax, "x (um)", "Li surface height (nm)")
    return _save(fig, path)


def plot_enhancement(cases: list[CaseResult], path: Path) -> Path | None:
    """Enhancement factors max/mean (solid) and tip/far field (dashed) against time.

    Drawn only when some case has two or more output times (not for steady runs).
    """
    cases = [c for c in cases if len(c.rows) > 1]
    if not cases:
        return None
    fig, ax = _pyplot().subplots(figsize=(6, 4))
    for case in cases:
        t = [r["t"] for r in case.rows]
        maxima = [r["enhancement_max_over_mean"] for r in case.rows]
        (line,) = ax.plot(t, maxima, "o-", label=f"{case.label} max/mean")
        ax.plot(
            t,
            [r["enhancement_tip_over_far_field"] for r in case.rows],
            "s--",
            color=line.get_color(),
            label=f"{case.label} tip/far field",
        )
    _label_axes(ax, "t (s)", "enhancement factor")
    return _save(fig, path)


def _label_axes(ax, xlabel: str, ylabel: str) -> None:  # noqa: ANN001  (matplotlib Axes)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _save(fig, path: Path) -> Path:  # noqa: ANN001  (matplotlib Figure)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


FIELD_MAPS: tuple[tuple[str, str, str, float], ...] = (
    ("concentration_maps", "concentration", "c (mol/m^3)", 1.0),
    ("field_maps", "potential", "Φ (V)", 1.0),
    ("field_maps", "field_strength", "|E| (V/µm)", 1e-6),
)
"""(toggle, field, colour-bar title, scale to the unit) of each map figure."""


def plot_field_map(cases: list[CaseResult], field: str, label: str, scale: float,
                   path: Path) -> Path | None:
    """One figure of ``field`` at the last output time: a row per case, one colour range."""
    from solver.maps import load_section, plot_field_maps

    sections = {
        case.label: section
        for case in cases
        if (section := load_section(case.case_dir, field, case.summary, scale)) is not None
    }
    coordinates = {c.label: c.summary.get("coordinates", "cartesian") for c in cases}
    return plot_field_maps(sections, label, path, coordinates)


# ----------------------------------------------------------------------------------------------
# Report documents
# ----------------------------------------------------------------------------------------------
def _format(value: object, scale: float = 1.0) -> str:
    if not isinstance(value, int | float) or value is None or not math.isfinite(value):
        return "-"
    return f"{value * scale:.4g}"


def _metric_rows(cases: list[CaseResult]) -> list[Row]:
    regions = sorted({k for c in cases for k in c.final if k.startswith("E_max_")})
    extra = [Row(k, f"max E in {k.removeprefix('E_max_')}", 1e-6, "V/um") for k in regions]
    return [*TABLE_ROWS, *extra]


def metrics_table(cases: list[CaseResult]) -> list[list[str]]:
    """Header and rows of the side-by-side final-time metrics table."""
    table = [["metric (final time)", "unit", *[c.label for c in cases]]]
    table.append(["time", "s", *[_format(c.final.get("t")) for c in cases]])
    for row in _metric_rows(cases):
        values = [c.final.get(row.key) for c in cases]
        if all(not isinstance(v, int | float) or not math.isfinite(v) for v in values):
            continue
        table.append([row.label, row.unit, *[_format(v, row.scale) for v in values]])
    table.append(
        ["peak hotspot factor over time", "", *[
            _format(c.summary.get("peak_enhancement_max_over_mean")) for c in cases
        ]]
    )
    depletion = [_format(c.summary.get("depletion_time")) for c in cases]
    table.append(["depletion time", "s", *depletion])
    return table


DIMENSIONLESS_MEANING: dict[str, str] = {
    "wagner": "Wa = kappa R_ct / l: kinetic over ohmic resistance across the feature size l; "
    "Wa >> 1 gives a uniform (kinetically controlled) current, Wa << 1 the primary "
    "(geometry-controlled) distribution with tip focusing.",
    "wagner_with_interphase": "Wa with the interphase resistance sum(h/sigma) and the "
    "ion-transfer resistance R_it added to R_ct: a resistive interphase evens out the current "
    "like slower kinetics.",
    "i_over_ilim": "Applied over diffusion-limited current density: towards 1 the surface "
    "depletes and the current focuses on the parts closest to the bulk (tips), whatever Wa.",
    "t_over_sand": "Time over Sand's time of a flat electrode: beyond 1 a flat surface would "
    "have depleted at this current.",
}
"""How the report explains each dimensionless number it shows."""


DIMENSIONLESS_LABEL: dict[str, str] = {
    "wagner": "Wagner number Wa",
    "wagner_with_interphase": "Wagner number with the interphase",
    "i_over_ilim": "applied / limiting current i/i_lim",
    "t_over_sand": "time / Sand's time t/t_Sand",
}
"""Names shown for the dimensionless numbers (other keys are shown as they are)."""


def dimensionless_table(cases: list[CaseResult]) -> list[list[str]]:
    """Header and rows of the dimensionless numbers (last output time) per case."""
    keys = sorted({k for c in cases for k in c.summary.get("dimensionless", {})})
    table = [["dimensionless number", *[c.label for c in cases]]]
    for key in keys:
        table.append([DIMENSIONLESS_LABEL.get(key, key),
                      *[_format(c.summary.get("dimensionless", {}).get(key)) for c in cases]])
    return table


def comparison_statement(cases: list[CaseResult]) -> str:
    """Plain statement of which case has the lower hotspot factor (max/mean j, final time)."""
    scored = [
        (c.final["enhancement_max_over_mean"], c)
        for c in cases
        if math.isfinite(c.final.get("enhancement_max_over_mean", math.nan))
    ]
    if len(scored) < 2:
        return "Only one case has a hotspot factor, so there is nothing to compare."
    scored.sort(key=lambda item: item[0])
    (best_value, best), (worst_value, worst) = scored[0], scored[-1]
    reduction = 100.0 * (worst_value - best_value) / worst_value
    text = (
        f"At the final time the {best.label} interface has the lower hotspot factor: max/mean j "
        f"= {best_value:.3g} against {worst_value:.3g} for {worst.label} "
        f"({reduction:.1f} % lower)."
    )
    p_best = best.final.get("enhancement_percentile_over_mean", math.nan)
    p_worst = worst.final.get("enhancement_percentile_over_mean", math.nan)
    if math.isfinite(p_best) and math.isfinite(p_worst):
        text += (
            f" The mesh-robust percentile/mean ratio is {p_best:.3g} against {p_worst:.3g}."
        )
    h_best = best.final.get("hotspot_measure_fraction", math.nan)
    h_worst = worst.final.get("hotspot_measure_fraction", math.nan)
    if math.isfinite(h_best) and math.isfinite(h_worst):
        text += (
            f" The hotspot (j above k times the mean) covers {100 * h_best:.3g} % of the surface "
            f"against {100 * h_worst:.3g} %."
        )
    return text


def _tip_flat(case: CaseResult) -> tuple[float, float, float, float] | None:
    """Apex rise, flat rise, their ratio and the time span of a growing case (or None).

    Between its first and last output times with ``li_apex_height`` and ``li_flat_height``.
    """
    rows = [r for r in case.rows
            if _finite(r.get("li_apex_height")) and _finite(r.get("li_flat_height"))]
    if len(rows) < 2:
        return None
    first, last = rows[0], rows[-1]
    tip = last["li_apex_height"] - first["li_apex_height"]
    flat = last["li_flat_height"] - first["li_flat_height"]
    ratio = tip / flat if flat else math.nan
    return tip, flat, ratio, last["t"] - first["t"]


def growth_statement(cases: list[CaseResult]) -> str | None:
    """Which interface grows the tip faster than its flat surface, and by how much.

    From the apex and flat heights of the moving Li surface between the first and the last
    output time (``physics.growth``); None when no case grows.
    """
    measured = [(m, c) for c in cases if (m := _tip_flat(c)) is not None]
    if not measured:
        return None
    parts = [
        f"{c.label}: the apex rose {_format(tip * 1e9)} nm and the flat {_format(flat * 1e9)} nm "
        f"in {_format(span)} s (tip/flat growth ratio {_format(ratio)})"
        for (tip, flat, ratio, span), c in measured
    ]
    text = "With the moving Li surface, " + "; ".join(parts) + "."
    ranked = sorted((m[2], c) for m, c in measured if _finite(m[2]))
    if len(ranked) >= 2:
        (low, slow), (high, fast) = ranked[0], ranked[-1]
        text += (f" The {fast.label} interface grows the tip faster relative to its flat "
                 f"surface: {_format(high)} against {_format(low)} for {slow.label} "
                 f"({100.0 * (high - low) / low:.1f} % more).")
    longest = max(m[3] for m, _ in measured)
    for (*_, span), c in measured:
        if span < (1.0 - 1e-6) * longest:
            stops = [e for e in c.summary.get("events", []) if e.startswith("mesh quality")]
            why = f" ({stops[0]})" if stops else ""
            text += (f" The spans differ: {c.label} grew for {_format(span)} s only{why}, so "
                     "its numbers are not over the same plating.")
    return text


def contact_statement(cases: list[CaseResult]) -> str | None:
    """Where and when a rigid electrolyte lost contact with the receding Li surface.

    From the ``contact_*`` metrics of the last output time (``physics.growth`` with a rigid
    electrolyte, solver.growth.contact); None when no case tracks contact.
    """
    parts = []
    for c in cases:
        last = c.final
        if not _finite(last.get("contact_lost_fraction")):
            continue
        gap = f"largest gap {_format(last.get('contact_gap_max'), 1e9)} nm"
        if _finite(last.get("contact_lost_time")):
            parts.append(
                f"{c.label}: contact first lost at t = {_format(last['contact_lost_time'])} s at "
                f"x = {_format(last.get('contact_lost_position'), 1e6)} um, lost on "
                f"{100.0 * last['contact_lost_fraction']:.1f} % of the Li surface at "
                f"t = {_format(last.get('t'))} s ({gap})"
            )
        else:
            parts.append(f"{c.label}: contact kept everywhere ({gap})")
    if not parts:
        return None
    return "With a rigid electrolyte that cannot follow the receding Li, " + "; ".join(parts) + "."


def evolution_statement(case: CaseResult) -> str:
    """How the hotspot factor of a case changes from its first to its last output time."""
    if len(case.rows) < 2:
        return f"{case.label}: one output time (t = {_format(case.final.get('t'))} s)."
    first, last = case.rows[0], case.rows[-1]
    a, b = first["enhancement_max_over_mean"], last["enhancement_max_over_mean"]
    span = f"t = {_format(first['t'])} s to {_format(last['t'])} s"
    if math.isclose(a, b, rel_tol=1e-3):
        text = f"{case.label}: the hotspot factor stays at {_format(b)} from {span}"
    else:
        trend = "rises" if b > a else "falls"
        text = f"{case.label}: the hotspot factor {trend} from {_format(a)} to {_format(b)}"
        text += f" ({span})"
    depletion = case.summary.get("depletion_time")
    if isinstance(depletion, int | float) and math.isfinite(depletion):
        text += f"; the surface is depleted from t = {_format(depletion)} s"
    return text + "."


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def regime_statement(case: CaseResult) -> str | None:
    """Which regime the dimensionless numbers of a case (last output time) put it in.

    The statements are checked against the case's own numbers: Wa >= 1 says that kinetics and
    interphase outweigh the ohmic resistance over the feature, but the current is called even
    only when the hotspot factor max/mean j is below the uniformity threshold; otherwise the
    text says that the non-uniformity has another cause. i/i_lim > 0.5 is strong concentration
    polarisation, which focuses the current on the tip once the diffusion layer has grown
    (t/t_Sand >= 0.1). t/t_Sand > 1 without depletion is explained by i < i_lim: a finite cell
    reaches a steady concentration profile, Sand's time assumes a semi-infinite electrolyte.
    """
    numbers = case.summary.get("dimensionless", {})
    wagner = numbers.get("wagner_with_interphase", numbers.get("wagner"))
    ratio, sand = numbers.get("i_over_ilim"), numbers.get("t_over_sand")
    final = case.final
    factor = final.get("enhancement_max_over_mean", math.nan)
    reference = case.summary.get("output", {}).get("reference") or {}
    threshold = reference.get("uniform_below", UNIFORM_BELOW)
    parts = []
    if _finite(wagner):
        if wagner < 1.0:
            parts.append(
                f"Wa = {wagner:.3g} < 1, so the ohmic resistance dominates and the current "
                "concentrates at the tip as in a primary distribution"
            )
        elif not _finite(factor) or factor < threshold:
            parts.append(
                f"Wa = {wagner:.3g} >= 1: kinetic and interphase resistances outweigh the ohmic "
                f"one across the feature, and the current is even (max/mean j = {_format(factor)})"
            )
        else:
            area = final.get("hotspot_measure_fraction", math.nan)
            where = f" with j above k times the mean over {100 * area:.3g} % of the surface" if (
                _finite(area) and area > 0.0) else ""
            parts.append(
                f"Wa = {wagner:.3g} >= 1 would even out the ohmic (secondary) distribution, yet "
                f"max/mean j = {_format(factor)}{where}: the non-uniformity has another cause "
                "(concentration polarisation, corners or void edges; see the edge-band and "
                "concentration numbers)"
            )
    if _finite(ratio):
        if ratio > 0.5:
            text = (f"i/i_lim = {ratio:.3g}: strong concentration polarisation, which focuses the "
                    "current where the diffusion path to the bulk is shortest (the tip)")
            if _finite(sand) and sand < 0.1:
                text += f", not yet developed at t/t_Sand = {sand:.3g}"
            parts.append(text)
        elif ratio > 0.1:
            parts.append(f"i/i_lim = {ratio:.3g}: moderate concentration polarisation")
        else:
            parts.append(f"i/i_lim = {ratio:.3g}: concentration polarisation is negligible")
        if _finite(sand) and sand > 1.0 and ratio < 1.0 and not _finite(
                case.summary.get("depletion_time")):
            parts.append(
                f"t/t_Sand = {sand:.3g} > 1 without depletion, because i < i_lim: the finite "
                "cell reaches a steady concentration profile (Sand's time is that of a "
                "semi-infinite electrolyte)"
            )
    j_min = final.get("min_over_mean", math.nan)
    if _finite(j_min) and j_min < 0.9:
        parts.append(
            f"the lowest current density along the surface is {100 * j_min:.3g} % of the mean "
            "(min j in the table)"
        )
    if not parts:
        return None
    return f"{case.label}: " + "; ".join(parts) + "."


def _regime_at(row: dict) -> str:
    """The two focusing mechanisms at one output time, in terms of the dimensionless numbers."""
    wagner = row.get("wagner_with_interphase", row.get("wagner", math.nan))
    ratio, sand = row.get("i_over_ilim", math.nan), row.get("t_over_sand", math.nan)
    parts = []
    if isinstance(wagner, int | float) and math.isfinite(wagner):
        ohmic = "weak" if wagner >= 1.0 else "strong"
        parts.append(f"Wa = {wagner:.3g} (ohmic tip focusing {ohmic})")
    if isinstance(ratio, int | float) and math.isfinite(ratio):
        diffusive = "strong" if ratio > 0.5 else "moderate" if ratio > 0.1 else "negligible"
        sand_text = ""
        if isinstance(sand, int | float) and math.isfinite(sand):
            sand_text = f", t/t_Sand = {sand:.3g}"
            if sand < 0.1:  # the diffusion layer has not grown yet: no focusing so far
                diffusive = f"not yet developed, would become {diffusive}"
        parts.append(f"i/i_lim = {ratio:.3g}{sand_text} (diffusive tip focusing {diffusive})")
    return "; ".join(parts) if parts else "no dimensionless numbers recorded"


def reference_statements(case: CaseResult) -> list[str]:
    """Whether the case agrees with the observations of its ``output.reference``.

    Each observation ('early' = first output time, 'late' = last) says 'hotspot' or 'uniform';
    ours is 'uniform' when max/mean j is below ``reference.uniform_below``. The regime at that
    time (Wagner number, i/i_lim, t/t_Sand) says why.
    """
    reference = case.summary.get("output", {}).get("reference")
    if not reference or not case.rows:
        return []
    threshold = reference["uniform_below"]
    out = []
    for observation in reference["observations"]:
        row = case.rows[0] if observation["time"] == "early" else case.rows[-1]
        factor = row.get("enhancement_max_over_mean", math.nan)
        ours = "uniform" if factor < threshold else "hotspot"
        verdict = "agrees" if ours == observation["state"] else "DISAGREES"
        out.append(
            f"{case.label}, {observation['time']} (t = {_format(row.get('t'))} s): "
            f"{reference['source']} reports {observation['state']}; here max/mean j = "
            f"{_format(factor)} ({ours}, threshold {_format(threshold)}): {verdict}. "
            f"Regime: {_regime_at(row)}."
        )
    return out


def regime_map_statements(cases: list[CaseResult]) -> list[str]:
    """Where the model reproduces the reference: each ``reference.regime_map`` once.

    Text only: the sweep that maps the reference's observations over parameters (described in
    ``docs/scenarios.md``) and its finding as the config states it.
    """
    maps: list[dict] = []
    for case in cases:
        reference = case.summary.get("output", {}).get("reference") or {}
        regime_map = reference.get("regime_map")
        if regime_map and regime_map not in maps:
            maps.append(regime_map)
    out = []
    for regime_map in maps:
        sweep = regime_map["sweep"]
        out.append(
            f"The regime map `{sweep}` sweeps the parameters over which the reference's "
            f"observations are checked (docs/scenarios.md, Showcases; run it with "
            f"`lidep sweep {sweep}` and tabulate it with `lidep collect`). "
            f"{regime_map['finding']}"
        )
    return out


@dataclass
class _Document:
    """Blocks shared by the Markdown and the HTML renderings."""

    title: str
    blocks: list[tuple[str, object]]

    def markdown(self, relative_to: Path) -> str:
        out = [f"# {self.title}", ""]
        for kind, content in self.blocks:
            if kind == "heading":
                out += [f"## {content}", ""]
            elif kind == "text":
                out += [str(content), ""]
            elif kind == "table":
                header, *body = content
                out.append("| " + " | ".join(header) + " |")
                out.append("|" + "---|" * len(header))
                out += ["| " + " | ".join(r) + " |" for r in body]
                out.append("")
            elif kind == "figure":
                out += [f"![{Path(content).stem}]({Path(content).relative_to(relative_to)})", ""]
        return "\n".join(out)

    def html(self) -> str:
        import html  # here: 2 ms of import a run without a report skips

        out = [
            "<!DOCTYPE html><html><head><meta charset='utf-8'>",
            f"<title>{html.escape(self.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #999;padding:3px 8px}"
            "td{text-align:right}td:first-child{text-align:left}img{max-width:100%}</style>",
            f"</head><body><h1>{html.escape(self.title)}</h1>",
        ]
        for kind, content in self.blocks:
            if kind == "heading":
                out.append(f"<h2>{html.escape(str(content))}</h2>")
            elif kind == "text":
                out.append(f"<p>{html.escape(str(content))}</p>")
            elif kind == "table":
                header, *body = content
                out.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header))
                for r in body:
                    out.append("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>")
                out.append("</table>")
            elif kind == "figure":
                data = base64.b64encode(Path(content).read_bytes()).decode("ascii")
                alt = html.escape(Path(content).stem)
                out.append(f"<p><img alt='{alt}' src='data:image/png;base64,{data}'></p>")
        out.append("</body></html>")
        return "\n".join(out)


def _figures(cases: list[CaseResult], figure_dir: Path) -> list[Path]:
    figure_dir.mkdir(parents=True, exist_ok=True)
    wanted: list[tuple[str, Callable[[], Path | None]]] = [
        ("interface_current", lambda: plot_interface_current(
            [c for c in cases if c.figure_enabled("interface_current")],
            figure_dir / "interface_current.png",
        )),
        ("enhancement", lambda: plot_enhancement(
            [c for c in cases if c.figure_enabled("enhancement")], figure_dir / "enhancement.png"
        )),
        ("surface_profiles", lambda: plot_surface_profiles(
            cases, figure_dir / "surface_profiles.png"
        )),
    ]
    for toggle, field, label, scale in FIELD_MAPS:
        enabled = [c for c in cases if c.figure_enabled(toggle)]
        wanted.append((toggle, lambda e=enabled, f=field, lb=label, sc=scale: plot_field_map(
            e, f, lb, sc, figure_dir / f"{f}_maps.png"
        )))
    return [p for _, draw in wanted if (p := draw()) is not None]


def _write_report(
    cases: list[CaseResult], out_dir: Path, title: str, description: str
) -> Path:
    out_dir = Path(out_dir)
    figures = _figures(cases, out_dir / "figures")
    blocks: list[tuple[str, object]] = []
    if description:
        blocks.append(("text", description))
    blocks += [
        ("heading", "Which interface has the lower hotspot factor"),
        ("text", comparison_statement(cases)),
        *[("text", evolution_statement(c)) for c in cases],
        *[("text", text) for c in cases if (text := regime_statement(c)) is not None],
    ]
    if (growth := growth_statement(cases)) is not None:
        blocks += [("heading", "How the tip grows"), ("text", growth)]
    if (contact := contact_statement(cases)) is not None:
        blocks += [("heading", "Contact with a rigid electrolyte"), ("text", contact)]
    reference = [text for c in cases for text in reference_statements(c)]
    if reference:
        blocks += [("heading", "Comparison with the reference"), *[("text", t) for t in reference]]
    if regime_maps := regime_map_statements(cases):
        blocks += [("heading", "Where the model reproduces the reference"),
                   *[("text", t) for t in regime_maps]]
    blocks += [
        ("heading", "Metrics at the final output time"),
        ("text", "Hotspot: surface where j exceeds k times the mean surface current density "
                 f"(k = {_format(cases[0].summary.get('output', {}).get('hotspot_factor'))}). "
                 "Pointwise maxima at void edges and corners depend on the mesh; the percentile "
                 "and edge-band numbers do not (docs/outputs.md)."),
        ("table", metrics_table(cases)),
        ("heading", "Dimensionless numbers (final output time)"),
        ("table", dimensionless_table(cases)),
        *[
            ("text", f"{DIMENSIONLESS_LABEL.get(key, key)}: {meaning}")
            for key, meaning in DIMENSIONLESS_MEANING.items()
            if any(key in c.summary.get("dimensionless", {}) for c in cases)
        ],
    ]
    events = [f"{c.label}: {e}" for c in cases for e in c.summary.get("events", [])]
    if events:
        blocks += [("heading", "Events"), *[("text", e) for e in events]]
    blocks += [("heading", "Figures"), *[("figure", p) for p in figures]]
    document = _Document(title, blocks)
    md = out_dir / "report.md"
    md.write_text(document.markdown(out_dir))
    (out_dir / "report.html").write_text(document.html())
    return md


def build_report(run_dir: Path) -> Path:
    """Figures, ``report.md`` and ``report.html`` of a finished run, from its files only.

    Returns:
        The path of ``report.md``.

    Raises:
        FileNotFoundError: ``run_dir`` has no metrics.json.
    """
    run_dir = Path(run_dir)
    document, cases = load_run(run_dir)
    return _write_report(
        cases, run_dir, f"lidep report: {document['run']}", document.get("description", "")
    )


def compare_runs(run_dirs: list[Path], out_dir: Path) -> Path:
    """Report comparing the cases of several runs (labelled ``run/case``) in ``out_dir``.

    Returns:
        The path of ``report.md`` in ``out_dir``.

    Raises:
        ValueError: Fewer than one run directory given.
    """
    if not run_dirs:
        raise ValueError("compare_runs needs at least one run directory")
    cases: list[CaseResult] = []
    names = []
    for run_dir in run_dirs:
        document, run_cases = load_run(Path(run_dir), prefix=f"{Path(run_dir).name}/")
        cases += run_cases
        names.append(document["run"])
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return _write_report(cases, Path(out_dir), f"lidep comparison: {', '.join(names)}", "")


def _console_events(events: list[str], shown: int = 3) -> list[str]:
    """The events of a case for the console: all of a few, else the first and last ones.

    A remeshed run has several events per remesh; report.md lists them all.
    """
    if not events:
        return ["none"]
    if len(events) <= shown + 1:
        return events
    return [*events[: shown - 1], f"... {len(events) - shown} more (report.md) ...", events[-1]]


def run_summary(run_dir: Path) -> list[str]:
    """Console summary of a finished run from its files: one line per case, then the report.

    Each case line gives the hotspot factor max/mean j and the minimum of j over its mean at
    the last output time, the cell voltage and the events (depletion, failures).
    """
    run_dir = Path(run_dir)
    document, cases = load_run(run_dir)
    lines = [f"summary of run '{document['run']}':"]
    for case in cases:
        final = case.final
        hotspot = _format(final.get("enhancement_max_over_mean"))
        parts = [f"t = {_format(final.get('t'))} s", f"hotspot factor max/mean j = {hotspot}"]
        mean = final.get("j_mean", math.nan)
        if mean:
            parts.append(f"min/mean j = {_format(final.get('j_min', math.nan) / mean)}")
        parts.append(f"cell voltage = {_format(final.get('cell_voltage'), 1e3)} mV")
        parts.append(f"events: {'; '.join(_console_events(case.summary.get('events', [])))}")
        lines.append(f"  {case.label}: {', '.join(parts)}")
    report = run_dir / "report.html"
    lines.append(f"  report: {report}" if report.is_file() else f"  results: {run_dir}")
    return lines
