"""The layers hold: a module imports only its own layer and the layers below it.

Bottom to top (CONTRIBUTING.md, Layers): the utilities every layer may use, `model`, `store`,
`telemetry`, `core`, the assembly that wires them from settings (`resolve`, `runtime`, `oneshot`),
then `server/` and `hooks/` side by side (neither imports the other), `commands/`, and `cli`. Every
import counts wherever it is written: at the top, inside a function, under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import otel_mcp

PACKAGE = Path(otel_mcp.__file__).resolve().parent

# (layer, rank, the modules it holds: a name stands for the module and everything under it).
# Same rank, other layer: siblings, which may not import each other.
LAYERS = (
    ("utilities", 0, ("otel_mcp.errors", "otel_mcp.config", "otel_mcp._resources",
                      "otel_mcp.install_hint")),
    ("model", 1, ("otel_mcp.model",)),
    ("store", 2, ("otel_mcp.store",)),
    ("telemetry", 3, ("otel_mcp.telemetry",)),
    ("core", 4, ("otel_mcp.core",)),
    ("assembly", 5, ("otel_mcp.resolve", "otel_mcp.runtime", "otel_mcp.oneshot")),
    ("server", 6, ("otel_mcp.server",)),
    ("hooks", 6, ("otel_mcp.hooks",)),
    ("commands", 7, ("otel_mcp.commands",)),
    ("cli", 8, ("otel_mcp.cli", "otel_mcp.__main__")),
)  # fmt: skip
# The package itself only says its version: anything may import it.
_ROOT = "otel_mcp"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> tuple[str, int] | None:
    best: tuple[int, str, int] | None = None
    for name, rank, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), name, rank)
    return None if best is None else (best[1], best[2])


def _imports(path: Path) -> set[str]:
    """Every otel_mcp module the file imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == _ROOT)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != _ROOT:
                continue
            for alias in node.names:  # `from otel_mcp.core import gates` imports the module otel_mcp.core.gates
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: a relative import; write the absolute module name")
    return found


def test_every_module_belongs_to_a_layer() -> None:
    assert len(MODULES) > 100
    assert [m for m in MODULES if m != _ROOT and _layer(m) is None] == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != _ROOT))
def test_a_module_imports_only_its_own_layer_and_those_below(module: str) -> None:
    layer = _layer(module)
    assert layer is not None
    upward = []
    for target in sorted(_imports(MODULES[module])):
        if target == _ROOT:
            continue
        other = _layer(target)
        assert other is not None, f"{module} imports {target}, which is no module of the package"
        if other[0] != layer[0] and other[1] >= layer[1]:
            upward.append(f"{target} ({other[0]})")
    assert upward == [], f"{module} ({layer[0]}) imports upward or sideways: {', '.join(upward)}"


def test_the_layer_test_sees_function_local_and_type_checking_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from otel_mcp.runtime import Runtime\n"
        "def f():\n    import otel_mcp.server\n    from otel_mcp.core import gates\n"
    )
    assert _imports(source) == {"otel_mcp.runtime", "otel_mcp.server", "otel_mcp.core.gates"}
