"""``lidep collect SWEEP_DIR``: one table of a sweep's inputs and metrics, its plots and ensembles.

Written to ``<sweep dir>/collected/``:

- ``table.csv`` (and ``table.parquet`` when pyarrow is installed): one row per point, case and
  output time with the point's axis settings as written, each also in SI units as the run
  resolved it for that case (``<key> [SI]``, from its ``config.resolved.yaml``), and every
  metric of ``metrics.json``; a point that did not finish has one row with its ``state`` and
  ``error`` and empty metrics.
- ``hotspot_vs_wagner.png``: the metric (default the hotspot factor max/mean j) at the final
  time against the Wagner number with the interphase and against i/i_lim, one colour per case.
- ``map.png``: the metric over two axes (``--map KEY KEY``, default the first key of each of the
  first two axes that are not the ensemble axis), per case, at the first and at the final
  output time (ensemble means where the sweep has a seeds axis).
- ``ensemble.csv``, ``ensemble_tests.csv``, ``ensemble.png`` (sweeps with a seeds axis): per
  case and setting of the other axes the number of members n, the mean, the sample standard
  deviation and the 95 % confidence interval of the mean, mean ± t(0.975, n-1) s / sqrt(n)
  (Student t); and for every pair of cases Welch's t-test of the difference of their means.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from solver.config import CaseConfig, ConfigError, deep_merge, read_yaml
from solver.sweep import PointState, SweepLayout

__all__ = ["collect", "confidence_interval", "read_table"]

#: The columns that describe a row; the axis keys and the metrics follow.
ID_COLUMNS = ("point", "index", "state", "error", "case")


def _case_trees(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Every case of a finished run as it ran: all defaults filled in, SI units.

    From ``config.resolved.yaml``: the base, and each case as a merge patch onto it.
    """
    resolved = read_yaml(run_dir / "config.resolved.yaml")
    base = resolved["base"]
    return {name: deep_merge(base, patch, (CaseConfig,))
            for name, patch in (resolved.get("cases") or {"main": {}}).items()}


def _si_setting(case: str, tree: dict[str, Any], key: str) -> float | None:
    """The value an axis key took in a case, in SI units.

    None where the value is not a number or the key sets another case.
    """
    parts = key.split(".")
    if parts[0] == "cases":
        if len(parts) < 3 or parts[1] != case:
            return None
        parts = parts[2:]
    elif parts[0] == "base":
        parts = parts[1:]
    node: Any = tree
    for part in parts:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    is_number = isinstance(node, int | float) and not isinstance(node, bool)
    return float(node) if is_number else None


def _rows(layout: SweepLayout) -> list[dict[str, Any]]:
    rows = []
    for point in layout.points():
        state = layout.state(point.name)
        status = layout.status(point.name)
        head = {"point": point.name, "index": point.index, "state": state.value,
                "error": status.get("error", "") if state is not PointState.FINISHED else ""}
        if state is not PointState.FINISHED:
            rows.append(head | point.settings)
            continue
        run_dir = layout.runs / point.name
        document = json.loads((run_dir / "metrics.json").read_text())
        trees = _case_trees(run_dir)
        for case, data in document["cases"].items():
            si = {f"{key} [SI]": _si_setting(case, trees[case], key) for key in point.settings}
            rows += [head | {"case": case} | point.settings | si | time_row
                     for time_row in data["times"]]
    return rows


def _columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys([*ID_COLUMNS, *(key for row in rows for key in row)]))


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)


def _write_tables(rows: list[dict[str, Any]], folder: Path) -> list[Path]:
    columns = _columns(rows)
    path = folder / "table.csv"
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        return [path]
    table = pyarrow.Table.from_pydict({c: _one_type([row.get(c) for row in rows])
                                       for c in columns})
    pyarrow.parquet.write_table(table, folder / "table.parquet")
    return [path, folder / "table.parquet"]


def _one_type(values: list[Any]) -> list[Any]:
    """A column for Parquet: as text when it mixes text with other values (e.g. 1e-6, '2 um')."""
    kinds = {type(v) for v in values if v is not None}
    if str in kinds and len(kinds) > 1:
        return [None if v is None else str(v) for v in values]
    return values


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Read ``table.csv``: numbers as floats, empty cells as None, other cells as text."""
    def value(text: str) -> Any:
        if text == "":
            return None
        try:
            return float(text)
        except ValueError:
            return text

    with Path(path).open(newline="", encoding="utf-8") as stream:
        return [{k: value(v) for k, v in row.items()} for row in csv.DictReader(stream)]


def confidence_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, sample standard deviation, half width of the ``level`` CI of the mean), Student t.

    The half width is ``t((1 + level)/2, n - 1) s / sqrt(n)``; NaN for fewer than two values.
    """
    data = np.asarray(values, dtype=float)
    n = data.size
    if n < 2:
        return (float(data.mean()) if n else math.nan), math.nan, math.nan
    s = float(data.std(ddof=1))
    return float(data.mean()), s, float(stats.t.ppf(0.5 + level / 2, n - 1) * s / math.sqrt(n))


def _finals(rows: list[dict[str, Any]], when: str) -> list[dict[str, Any]]:
    """The first or last output time's row of every finished point and case."""
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if row["state"] != PointState.FINISHED.value:
            continue
        key = (row["point"], row["case"])
        later = key not in chosen or row["t"] > chosen[key]["t"]
        earlier = key not in chosen or row["t"] < chosen[key]["t"]
        if (later if when == "final" else earlier):
            chosen[key] = row
    return list(chosen.values())


def _number(value: Any) -> float:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if is_number else math.nan


def _group_key(row: dict[str, Any], keys: Sequence[str]) -> tuple[str, ...]:
    return tuple(json.dumps(row.get(k)) for k in keys)


def _ensemble(finals: list[dict[str, Any]], others: Sequence[str], metric: str
              ) -> list[dict[str, Any]]:
    groups: dict[tuple[str, ...], list[float]] = {}
    for row in finals:
        groups.setdefault((row["case"], *_group_key(row, others)), []).append(
            _number(row.get(metric)))
    table = []
    for (case, *setting), values in groups.items():
        values = [v for v in values if math.isfinite(v)]
        mean, std, half = confidence_interval(values)
        table.append({"case": case, **{k: json.loads(v) for k, v in zip(others, setting,
                                                                          strict=True)},
                      "metric": metric, "n": len(values), "mean": mean, "std": std,
                      "ci95_low": mean - half, "ci95_high": mean + half, "_values": values})
    return table


def _welch(ensemble: list[dict[str, Any]], others: Sequence[str]) -> list[dict[str, Any]]:
    tests = []
    by_setting: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for entry in ensemble:
        by_setting.setdefault(_group_key(entry, others), []).append(entry)
    for entries in by_setting.values():
        for a, b in itertools.combinations(entries, 2):
            if min(len(a["_values"]), len(b["_values"])) < 2:
                continue
            result = stats.ttest_ind(a["_values"], b["_values"], equal_var=False)
            tests.append({**{k: a.get(k) for k in others}, "case_a": a["case"],
                          "case_b": b["case"], "mean_a": a["mean"], "mean_b": b["mean"],
                          "difference": a["mean"] - b["mean"],
                          "welch_t": float(result.statistic), "p_value": float(result.pvalue),
                          "significant_5pct": bool(result.pvalue < 0.05)})
    return tests


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    rows = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        writer.writerows([_cell(row.get(c)) if not isinstance(row.get(c), bool)
                          else str(row[c]) for c in columns] for row in rows)
    return path


def _log_if_wide(axis: Any, values: Sequence[float], which: str) -> None:
    positive = [v for v in values if math.isfinite(v) and v > 0]
    if positive and len(positive) == len(values) and max(positive) >= 10 * min(positive):
        getattr(axis, f"set_{which}scale")("log")


def _plot_regimes(finals: list[dict[str, Any]], metric: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for x_key, axis in zip(("wagner_with_interphase", "i_over_ilim"), axes, strict=True):
        for case in dict.fromkeys(r["case"] for r in finals):
            rows = [r for r in finals if r["case"] == case]
            axis.plot([_number(r.get(x_key)) for r in rows],
                      [_number(r.get(metric)) for r in rows], "o", label=case, alpha=0.8)
        _log_if_wide(axis, [_number(r.get(x_key)) for r in finals], "x")
        axis.set_xlabel({"wagner_with_interphase": "Wagner number with interphase, Wa_int",
                         "i_over_ilim": "i / i_lim"}[x_key])
        axis.set_ylabel(f"{metric} (final time)")
        axis.axhline(1.0, color="0.6", lw=0.8)
        axis.ticklabel_format(axis="y", useOffset=False)
        axis.legend()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _plot_map(rows: list[dict[str, Any]], keys: Sequence[str], metric: str, ensemble: str | None,
              path: Path) -> Path:
    import matplotlib.pyplot as plt

    cases = list(dict.fromkeys(r["case"] for r in _finals(rows, "final")))
    figure, axes = plt.subplots(2, len(cases), figsize=(4.5 * len(cases), 7.5), squeeze=False,
                                layout="constrained")
    for row_axes, when in zip(axes, ("first", "final"), strict=True):
        finals = _finals(rows, when)
        for axis, case in zip(row_axes, cases, strict=True):
            mine = [r for r in finals if r["case"] == case]
            si = [f"{k} [SI]" for k in keys]
            means = _ensemble(mine, si, metric) if ensemble else [
                {**{k: r.get(k) for k in si}, "mean": _number(r.get(metric))} for r in mine]
            x = [_number(m[si[0]]) for m in means]
            y = [_number(m[si[1]]) for m in means]
            c = [m["mean"] for m in means]
            shown = axis.scatter(x, y, c=c, s=250, marker="s", cmap="viridis")
            for xi, yi, ci in zip(x, y, c, strict=True):
                axis.annotate(f"{ci:.3g}", (xi, yi), ha="center", va="center", fontsize=7,
                              color="w")
            _log_if_wide(axis, x, "x")
            _log_if_wide(axis, y, "y")
            axis.set_xlabel(f"{keys[0]} (SI units)")
            axis.set_ylabel(f"{keys[1]} (SI units)")
            axis.set_title(f"{case}, {when} output time" + (" (ensemble mean)" if ensemble
                                                             else ""))
            figure.colorbar(shown, ax=axis, label=metric)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _plot_ensemble(ensemble: list[dict[str, Any]], others: Sequence[str], metric: str,
                   path: Path) -> Path:
    import matplotlib.pyplot as plt

    settings = list(dict.fromkeys(_group_key(e, others) for e in ensemble))
    cases = list(dict.fromkeys(e["case"] for e in ensemble))
    figure, axis = plt.subplots(figsize=(max(5.0, 1.2 * len(settings) * len(cases)), 4),
                                layout="constrained")
    width = 0.8 / len(cases)
    for k, case in enumerate(cases):
        entries = {_group_key(e, others): e for e in ensemble if e["case"] == case}
        x = [i + k * width for i, s in enumerate(settings) if s in entries]
        chosen = [entries[s] for s in settings if s in entries]
        axis.errorbar(x, [e["mean"] for e in chosen],
                      yerr=[[e["mean"] - e["ci95_low"] for e in chosen],
                            [e["ci95_high"] - e["mean"] for e in chosen]],
                      fmt="o", capsize=4, label=f"{case} (mean, 95 % CI)")
        for xi, e in zip(x, chosen, strict=True):
            axis.plot([xi] * len(e["_values"]), e["_values"], ".", color="0.6", ms=3)
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(settings))],
                    [", ".join(f"{k}={json.loads(v)}" for k, v in zip(others, s, strict=True))
                     or "all" for s in settings], rotation=20, fontsize=7)
    axis.set_ylabel(f"{metric} (final time)")
    axis.legend()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def collect(sweep_dir: str | Path, *, metric: str = "enhancement_max_over_mean",
            map_keys: Sequence[str] | None = None) -> list[Path]:
    """Tabulate and plot a sweep (see the module docstring); returns the files written.

    Args:
        sweep_dir: The sweep directory.
        metric: The metric of the plots and the ensemble statistics.
        map_keys: Two axis keys for the map (default: the first two non-ensemble axes).

    Raises:
        ConfigError: Not a sweep directory, or ``map_keys`` / ``metric`` not in the sweep.
    """
    layout = SweepLayout(Path(sweep_dir))
    if not layout.plan.is_file():
        raise ConfigError([f"{layout.root}: not a sweep directory (got no sweep.json); "
                           "allowed: a directory written by lidep sweep"])
    plan = layout.read_plan()
    ensemble, axis_keys = plan["ensemble_key"], plan["axis_keys"]
    others = [k for k in axis_keys if k != ensemble]
    if map_keys is not None and not set(map_keys) <= set(others):
        raise ConfigError([f"--map: not two axis keys of the sweep (got {' '.join(map_keys)}); "
                           f"allowed: {', '.join(others) or 'none (the sweep has no such axes)'}"])
    rows = _rows(layout)
    finals = _finals(rows, "final")
    known = {k for r in finals for k in r}
    if finals and metric not in known:
        raise ConfigError([f"--metric: not a metric of the runs (got {metric!r}); allowed: "
                           "a column of metrics.json, e.g. enhancement_max_over_mean"])
    folder = layout.root / "collected"
    folder.mkdir(exist_ok=True)
    written = _write_tables(rows, folder)
    if not finals:
        return written
    written.append(_plot_regimes(finals, metric, folder / "hotspot_vs_wagner.png"))
    # by default the first key of each of the first two axes (not two keys of one zip axis)
    keys = list(map_keys) if map_keys is not None else [k[0] for k in plan["axes_keys"][:2]]
    if len(keys) == 2:
        written.append(_plot_map(rows, keys, metric, ensemble, folder / "map.png"))
    if ensemble:
        table = _ensemble(finals, others, metric)
        written += [_write_csv(folder / "ensemble.csv", table),
                    _write_csv(folder / "ensemble_tests.csv", _welch(table, others)),
                    _plot_ensemble(table, others, metric, folder / "ensemble.png")]
    return written
