"""The repository's packages import each other without a cycle.

What is checked: the graph of every ``import`` statement in ``edrnet_tf/``, ``tuning/`` and ``tfds_ave/``
(one graph: a cycle may run through two packages), module-level *and* function-level, is acyclic. A
function-level (lazy) import still makes two modules depend on each other; it only hides the cycle from
the interpreter. The sole exception is a package's ``__init__``: importing ``a.b.c`` runs ``a/__init__`` and
``a/b/__init__`` first, which is not an edge here (else every package that re-exports a submodule would be
a cycle); an ``import`` written in an ``__init__`` is an edge like any other. The graph is read with ``ast``
from the source files: nothing is imported.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("edrnet_tf", "tuning", "tfds_ave")


def modules(root=ROOT, packages=PACKAGES):
    """``{"edrnet_tf.data.sources": path, ...}``: every module of ``packages`` (a package by its own name)."""
    found = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph(found):
    """``{module: {module it imports, ...}}`` over ``found``, from every import statement at any depth."""
    graph = {}
    for name, path in found.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name in found)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x, from ..y import z
                    parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([node.module] if node.module else []))
                for alias in node.names:  # from a.b import c: the module a.b.c when there is one, else a.b
                    target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in found else base
                    if target in found:
                        edges.add(target)
        graph[name] = edges - {name}
    return graph


def cycles(graph):
    """Every cycle a depth-first walk of ``graph`` closes, each as ``[a, b, ..., a]``."""
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_the_packages_have_no_import_cycle_at_module_or_function_level():
    found = modules()
    assert "edrnet_tf.data.sources" in found and "edrnet_tf.data.data_source" in found
    assert cycles(import_graph(found)) == []


def test_the_cycle_check_finds_a_cycle_through_a_function_level_import(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg import base\n")  # an __init__ edge, no cycle
    (package / "base.py").write_text("import os\n")
    (package / "factory.py").write_text("from pkg.base import Base\n\ndef make():\n    from pkg import impl\n")
    (package / "impl.py").write_text("from pkg.factory import make\n")
    graph = import_graph(modules(tmp_path, ("pkg",)))
    assert graph == {"pkg": {"pkg.base"}, "pkg.base": set(), "pkg.factory": {"pkg.base", "pkg.impl"},
                     "pkg.impl": {"pkg.factory"}}
    assert cycles(graph) == [["pkg.factory", "pkg.impl", "pkg.factory"]]
