"""Package structure: no import cycles between the modules of ``solver``.

The import graph is read from the sources with :mod:`ast` (nothing is imported): a module
depends on every module of the package it imports, at module level or inside a function (a
deferred import hides a cycle but does not remove it). Not counted:

* imports under ``if TYPE_CHECKING:``, which never run;
* imports of a module's own ancestor packages (``import solver`` in ``solver.rundir``): Python
  initialises ``solver`` before any of its submodules in any case, so such an edge adds no
  ordering of its own.

``from package import name`` depends on the submodule ``package.name`` when there is one, else
on ``package`` (its ``__init__``).
"""

from __future__ import annotations

import ast
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "solver"


def _modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the package."""
    modules = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """Ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    return {id(inner) for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for inner in ast.walk(node)}


def _imported(module: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(module of the package, line) for every import that runs in ``module``."""

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if target := known(alias.name):
                    yield target, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                if target := known(f"{base}.{alias.name}") or known(base):
                    yield target, node.lineno


def import_graph() -> dict[str, dict[str, int]]:
    """Module -> {imported module of the package: line of the (last) import}."""
    modules = _modules()
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, {})
        for target, line in _imported(module, path, modules):
            if target != module and not module.startswith(target + "."):
                edges[target] = line
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(frozenset(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def _describe(graph: dict[str, dict[str, int]], component: frozenset[str]) -> str:
    edges = [f"{a} -> {b} (line {graph[a][b]})" for a in sorted(component)
             for b in sorted(graph[a]) if b in component]
    return "; ".join(edges)


def test_graph_sees_the_package():
    """The graph is not vacuous: known edges of each kind are found."""
    graph = import_graph()
    assert "solver.config" in graph and "solver.geometry.spec" in graph
    assert "solver.config.models" in graph["solver.config"]  # package __init__ re-exports
    assert "solver.geometry.spec" in graph["solver.geometry.profiles"]  # module level
    assert "solver.api" in graph["solver"]  # deferred, inside a function
    assert "solver.config" not in graph["solver.case_checks"]  # only under TYPE_CHECKING
    assert "solver" not in graph["solver.rundir"]  # an ancestor package


def test_cycle_detection_finds_a_planted_cycle():
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1, "d": 1}, "d": {}}
    assert cycles(graph) == [frozenset({"a", "b", "c"})]


def test_no_import_cycles():
    graph = import_graph()
    new = cycles(graph)
    assert not new, "import cycles: " + " | ".join(_describe(graph, c) for c in new)


def _variants(alias: object) -> list[type]:
    """The classes of a tagged union such as ``spec.Surface`` (Annotated and Union unwrapped)."""
    args = typing.get_args(alias)
    if typing.get_origin(alias) is typing.Annotated:
        return _variants(args[0])
    if args:
        return [cls for arg in args for cls in _variants(arg)]
    return [alias]


#: What each kind of geometric feature provides, so that a new shape is one class: the
#: builders, the validation and the cell estimate call these methods and never test the class.
FEATURE_PROTOCOLS = {
    "Surface": ("curved", "max_height", "area_factor", "radius_estimate", "profile",
                "height_field", "spline_samples", "check_periodic"),
    "Protrusion": ("top", "base_half_width", "refined_radii", "feature"),
    "Voids": ("height", "shapes", "gap_boxes", "features", "cover", "refined_radii",
              "wall_length", "size_key"),
    "Layer": ("region_names", "cell_count", "check_fits"),
}


@pytest.mark.parametrize("union", sorted(FEATURE_PROTOCOLS))
def test_every_geometric_feature_class_implements_its_protocol(union: str):
    from solver.geometry import spec

    classes = _variants(getattr(spec, union))
    assert len(classes) >= 2, classes
    missing = [f"{cls.__name__}.{name}" for cls in classes for name in FEATURE_PROTOCOLS[union]
               if not hasattr(cls, name)]
    assert not missing


def test_geometry_builders_do_not_test_feature_classes():
    """No ``isinstance`` on a surface, protrusion or void class in the geometry package."""
    from solver.geometry import spec

    names = {cls.__name__ for union in ("Surface", "Protrusion", "Voids")
             for cls in _variants(getattr(spec, union))}
    found = []
    for path in sorted((ROOT / PACKAGE / "geometry").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "isinstance":
                tested = {n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", "")
                          for n in ast.walk(node.args[1])}
                found += [f"{path.name}:{node.lineno}" for _ in tested & names]
    assert not found
