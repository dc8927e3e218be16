"""Every public module says exactly what it offers: `__all__` names every public name it defines, and only names it has.

Private modules (`_`-prefixed) are exempt; so are names a module imports and does not list.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import types
from pathlib import Path

import pytest

import otel_mcp


def _public_modules() -> list[str]:
    names = ["otel_mcp"]
    for info in pkgutil.walk_packages(otel_mcp.__path__, "otel_mcp."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            names.append(info.name)
    return sorted(names)


def _defined(path: Path) -> set[str]:
    """Public names the module itself defines at top level (functions, classes, assignments)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("name", _public_modules())
def test_all_names_every_public_definition_and_nothing_missing(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    exported = getattr(module, "__all__", None)
    defined = _defined(Path(module.__file__))
    assert exported is not None or not defined, f"{name} defines {sorted(defined)} but has no __all__"
    listed = set(exported or ())
    assert len(listed) == len(exported or ()), f"{name}.__all__ lists a name twice"
    assert not defined - listed, f"{name} defines public {sorted(defined - listed)} but __all__ leaves them out"
    absent = sorted(n for n in listed if not hasattr(module, n))
    assert not absent, f"{name}.__all__ lists {absent}, which it does not have"
    modules = sorted(n for n in listed if isinstance(getattr(module, n), types.ModuleType))
    assert not modules, f"{name}.__all__ lists modules {modules}; list what they define instead"


def _own_names(tree: ast.Module) -> set[str]:
    """Every name the module binds itself at top level (also inside `if` / `try`), imports left out."""
    names: set[str] = set()

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
            elif isinstance(node, ast.If | ast.Try):
                walk(node.body)
                walk(node.orelse)
                for handler in getattr(node, "handlers", []):
                    walk(handler.body)
                walk(getattr(node, "finalbody", []))

    walk(tree.body)
    return names


def _all_of(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return None


_MODULE_FILES = sorted(
    p for p in Path(otel_mcp.__file__).resolve().parent.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")
)


@pytest.mark.parametrize("path", _MODULE_FILES, ids=lambda p: str(p.relative_to(Path(otel_mcp.__file__).parent)))
def test_only_a_package_init_re_exports_every_other_all_lists_what_its_module_defines(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exported = _all_of(tree)
    borrowed = sorted(set(exported or ()) - _own_names(tree))
    assert not borrowed, f"{path.name} re-exports {borrowed}: import them from the module that defines them"
