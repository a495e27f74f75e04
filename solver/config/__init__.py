"""Run configuration: YAML loading, ``--set`` overrides, case merging, validation and messages.

A run file holds a ``name``, a ``description``, a complete ``base`` case and optional ``cases``,
each a partial case deep-merged onto the base (mappings merge, lists and scalars replace; a
mapping whose discriminator, e.g. ``shape``, changes replaces the base mapping instead of
merging into it). A file without ``cases`` has one case, ``main``::

    name: lif_vs_bare
    base: {geometry: {...}, physics: {...}, time: {...}, numerics: {...}, output: {...}}
    cases:
      bare: {physics: {...}}
      lif_rich: {physics: {...}}

``null`` in a case removes the key from the base (its default applies), e.g.
``physics: {interphase: {sei: null}}``.

Every problem found is reported at once as a :class:`ConfigError`, one line per problem::

    <key path>: <what is wrong> (got <value>); allowed: <what is allowed>

where the key path is ``base.<path>`` for the base, ``cases.<name>.<path>`` for a merged case
and the top-level key otherwise.

The package is split by concern: :mod:`~solver.config.models` (the schema of a run file),
:mod:`~solver.config.loading` (safe YAML reading and its limits),
:mod:`~solver.config.overrides` (``--set``, deep merge and merge patch),
:mod:`~solver.config.messages` (pydantic errors as message lines),
:mod:`~solver.config.resolve` (loading, validating and merging a run) and
:mod:`~solver.config.reference` (the markdown reference); they share
:mod:`~solver.config.introspection` (reading the schema's annotations) and
:class:`~solver.config.errors.ConfigError`.
"""

from solver.config.errors import ConfigError
from solver.config.loading import (
    MAX_YAML_ALIASES,
    MAX_YAML_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    read_yaml,
)
from solver.config.messages import validate
from solver.config.models import (
    DEFAULT_CASE,
    RESERVED_CASE_NAMES,
    CaseConfig,
    CaseName,
    RunConfig,
    SafeName,
)
from solver.config.overrides import apply_overrides, deep_merge, merge_patch
from solver.config.reference import markdown_reference
from solver.config.resolve import load_config, resolved_cases, resolved_tree

__all__ = [
    "DEFAULT_CASE",
    "MAX_YAML_ALIASES",
    "MAX_YAML_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "RESERVED_CASE_NAMES",
    "CaseConfig",
    "CaseName",
    "ConfigError",
    "RunConfig",
    "SafeName",
    "apply_overrides",
    "deep_merge",
    "load_config",
    "markdown_reference",
    "merge_patch",
    "read_yaml",
    "resolved_cases",
    "resolved_tree",
    "validate",
]
