"""The library's shape: no modules importing each other in a circle, none
over 500 lines (STYLE.md).

Imports are read from the source with ``ast``, wherever they stand (at
the top, inside a function, under ``if TYPE_CHECKING``): each is an arrow
that can tie modules into a circle. ``from pkg import name`` is an arrow
to ``pkg`` itself (its ``__init__`` runs first), so a module of a package
that takes a sibling through the package (``from execo import fanout``)
is tied to everything the package's ``__init__`` imports. These are the
semantics of the project's stop hook.
"""

from __future__ import annotations

import ast
import os
from typing import Dict, List, Set

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("execo", "execo_g5k", "execo_engine")
MAX_LINES = 500


def _sources() -> Dict[str, str]:
    """module name -> path, for every library module."""
    found = {}
    for package in PACKAGES:
        for directory, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                    found[module.removesuffix(".__init__")] = path
    return found


def _imports(module: str, path: str) -> Set[str]:
    targets = set()
    with open(path) as source:
        tree = ast.parse(source.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            targets.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = module.split(".")[:-node.level]
            targets.add(".".join(base + ([node.module] if node.module else [])))
    return targets


def import_graph() -> Dict[str, Set[str]]:
    sources = _sources()
    return {module: _imports(module, path) & set(sources) for module, path in sources.items()}


def circles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected groups of more than one module (Tarjan's)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_circle_finder_sees_a_circle_through_a_package():
    # execo.a takes execo.b through the package, whose __init__ imports a
    graph = {"execo": {"execo.a"}, "execo.a": {"execo"}, "execo.b": set()}
    assert circles(graph) == [["execo", "execo.a"]]


def test_imports_inside_functions_are_arrows(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from execo import fanout\n")
    assert _imports("execo.m", str(path)) == {"execo"}


def test_no_modules_import_each_other_in_a_circle():
    assert circles(import_graph()) == []


def test_no_library_module_is_over_500_lines():
    long = {}
    for module, path in _sources().items():
        with open(path) as source:
            count = sum(1 for _ in source)
        if count > MAX_LINES:
            long[module] = count
    assert long == {}
