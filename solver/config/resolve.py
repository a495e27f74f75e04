"""Loading a run: read, override, validate, merge the cases and check them across sections."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from solver.case_checks import case_problems
from solver.config.errors import ConfigError
from solver.config.loading import read_yaml
from solver.config.messages import validate
from solver.config.models import DEFAULT_CASE, CaseConfig, RunConfig
from solver.config.overrides import apply_overrides, deep_merge, merge_patch

__all__ = ["load_config", "resolved_cases", "resolved_tree"]


def _interphase_problems(case: CaseConfig, prefix: str) -> list[str]:
    """Every interphase region of the geometry needs a material, and no other material exists."""
    regions = list(case.geometry.region_names())
    materials = list(case.physics.interphase)
    missing = [r for r in regions if r not in materials]
    extra = [m for m in materials if m not in regions]
    key = f"{prefix}.physics.interphase"
    allowed = f"one material per interphase region of the geometry: {regions or 'none'}"
    lines = [f"{key}: no material for interphase region '{r}' (got {materials}); allowed: "
             f"{allowed}" for r in missing]
    lines += [f"{key}.{m}: material for a region the geometry does not have (got '{m}'); "
              f"allowed: {allowed}" for m in extra]
    return lines


def _raw_cases(raw: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """Case name -> (key prefix for messages, merged raw tree)."""
    base = raw.get("base") or {}
    cases = raw.get("cases") or {}
    if not cases:
        return {DEFAULT_CASE: ("base", base)}
    return {name: (f"cases.{name}", deep_merge(base, override or {}, (CaseConfig,)))
            for name, override in cases.items()}


def _resolve(raw: Mapping[str, Any]) -> dict[str, CaseConfig]:
    cases: dict[str, CaseConfig] = {}
    problems: list[str] = []
    for name, (prefix, tree) in _raw_cases(raw).items():
        try:
            cases[name] = validate(CaseConfig, tree, prefix.split("."))
        except ConfigError as err:
            problems += err.problems
            continue
        problems += _interphase_problems(cases[name], prefix)
        problems += case_problems(cases[name], prefix)
    if problems:
        raise ConfigError(problems)
    return cases


def load_config(source: str | Path | Mapping[str, Any], overrides: Iterable[str] = ()) -> RunConfig:
    """Read, override and validate a run configuration.

    Args:
        source: A YAML file path or an already-parsed tree.
        overrides: ``KEY=VALUE`` strings as given to ``--set`` (see :func:`apply_overrides`).

    Returns:
        The validated run; :func:`resolved_cases` gives its merged cases.

    Raises:
        ConfigError: Every problem found, one line each, naming the key path, the value and
            what is allowed.
    """
    raw = read_yaml(source) if isinstance(source, str | Path) else copy.deepcopy(dict(source))
    raw = apply_overrides(raw, overrides)
    run = validate(RunConfig, raw, ())
    _resolve(raw)
    return run


def resolved_cases(run: RunConfig) -> dict[str, CaseConfig]:
    """The cases of a run, each the base with the case's overrides merged in and validated.

    Args:
        run: A validated run.

    Returns:
        Case name -> case (``{"main": base}`` when the run has no cases), in file order.

    Raises:
        ConfigError: A merged case is invalid (messages name ``cases.<name>.<key path>``).
    """
    return _resolve({"base": run.base.model_dump(mode="json", exclude_unset=True),
                     "cases": run.cases})


def resolved_tree(run: RunConfig) -> dict[str, Any]:
    """The run with all defaults filled in and every number in SI units.

    This is what ``config.resolved.yaml`` holds: ``base`` complete, and for each case only
    what it changes (a merge patch onto ``base``). :func:`load_config` reads it back to the
    same cases.
    """
    base = run.base.model_dump(mode="json")
    cases = {name: merge_patch(base, case.model_dump(mode="json"), (CaseConfig,))
             for name, case in resolved_cases(run).items()} if run.cases else {}
    return {"name": run.name, "description": run.description, "base": base, "cases": cases}
