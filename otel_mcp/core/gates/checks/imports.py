"""The files an examined Python file imports, found in the code state, however a check excludes them.

`exclude:` keeps a check off folders that hold no production code (`tests/`, a virtualenv, build
output). Code placed there and imported by examined code would run in production unexamined, so an
excluded file is examined as soon as an examined file imports it, directly or through another
imported file. Imports are read statically (`import a.b`, `from a import b`, relative imports),
resolved against the workspace root and the importing file's folder, as `python app.py` and
`python -m pkg` resolve them; a dynamic import (`importlib.import_module(name)`) is not followed.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Sequence

__all__ = ["imported_files"]

_MAX_SOURCE_BYTES = 2 * 1024 * 1024
_MAX_FILES = 50_000


def imported_files(root: str, selected: Sequence[str], state: Iterable[str]) -> list[str]:
    """The `state` files (root-relative POSIX paths) that `selected` import, transitively, not in `selected`."""
    known = set(state)
    chosen = set(selected)
    queue = [f for f in selected if f.endswith(".py")]
    seen = set(queue)
    found: set[str] = set()
    while queue and len(seen) < _MAX_FILES:
        current = queue.pop()
        for target in _targets(root, current, known):
            if target not in seen:
                seen.add(target)
                if target not in chosen:
                    found.add(target)
                if target.endswith(".py"):
                    queue.append(target)
    return sorted(found)


def _targets(root: str, relative: str, known: set[str]) -> list[str]:
    try:
        with open(os.path.join(root, relative), "rb") as handle:
            source = handle.read(_MAX_SOURCE_BYTES + 1)
        if len(source) > _MAX_SOURCE_BYTES:
            return []
        tree = ast.parse(source, filename=relative)
    except (OSError, SyntaxError, ValueError):
        return []  # unreadable or not Python: the check itself reports what it makes of it
    folder = relative.rpartition("/")[0]
    bases = ["", folder] if folder else [""]
    out: list[str] = []
    for node in ast.walk(tree):
        names: list[tuple[str, list[str]]] = []  # (module path "a/b", base folders to resolve it from)
        if isinstance(node, ast.Import):
            names = [(alias.name.replace(".", "/"), bases) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = folder.split("/") if folder else []
                if node.level - 1 > len(parts):
                    continue
                base = "/".join(parts[: len(parts) - (node.level - 1)])
                module_bases = [base]
            else:
                module_bases = bases
            module = (node.module or "").replace(".", "/")
            names = [(module, module_bases)] if module else []
            names += [(f"{module}/{a.name}" if module else a.name, module_bases) for a in node.names if a.name != "*"]
        for module, from_bases in names:
            for base in from_bases:
                stem = f"{base}/{module}" if base else module
                parts = stem.split("/")
                # The packages on the way are imported too (their __init__.py runs).
                candidates = ["/".join(parts[:i]) + "/__init__.py" for i in range(1, len(parts))]
                candidates += [f"{stem}.py", f"{stem}/__init__.py"]
                out += [c for c in candidates if c in known]
    return out
