"""Code loaded at run time is examined too (issue 20), or the check examines every file it could be.

Production code hidden in a folder the bandit check excludes (`tests/support/`) and reached through
`importlib` instead of an import statement: with a constant name it is followed like an import;
with a name only run time knows, the check examines every file its globs match, excluded or not,
and the span says which import made it do so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_mcp.core.gates.checks.imports import imported_files
from tests.conftest import call
from tests.support.evidence import VULNERABLE_APP, make_workspace, reasons, serve, span_attributes, submit

pytestmark = pytest.mark.anyio

# Each way an app can load tests/support/evil.py at run time with constants only.
_LOADED_BY_CONSTANTS = {
    "import_module": 'import importlib\n\nimportlib.import_module("tests.support.evil").run("ls")\n',
    "relative": 'from importlib import import_module as load\n\nload(".evil", package="tests.support").run("ls")\n',
    "__import__": '__import__("tests.support", fromlist=["evil"]).evil.run("ls")\n',
    "spec_from_file_location": (
        'import importlib.util\n\nspec = importlib.util.spec_from_file_location("evil", "tests/support/evil.py")\n'
    ),
    "run_path": 'import runpy\n\nrunpy.run_path("tests/support/evil.py")\n',
    "sys.path": 'import sys\n\nsys.path.insert(0, "tests/support")\nimport evil\n\nevil.run("ls")\n',
    "exec": 'exec("from tests.support.evil import run")\n',
    "prefix": "import importlib\nimport os\n\nimportlib.import_module(f\"tests.support.{os.environ['M']}\")\n",
}


async def test_code_loaded_by_a_constant_name_from_an_excluded_folder_is_scanned_and_fails_security(
    tmp_path: Path,
) -> None:
    files = {"app.py": "print('clean')\n", "tests/support/evil.py": VULNERABLE_APP, ".gitignore": ".otel-mcp/\n"}
    ws = make_workspace(tmp_path / "ws", files)
    async with serve(ws, tmp_path / "store" / "telemetry.db") as client:
        clean = await call(client, "run_check", check="bandit", task_id="C")
        assert clean["attributes"]["vulnerabilities.high"] == 0  # tests/ excluded: nothing imports it yet
        for form, app in _LOADED_BY_CONSTANTS.items():
            (ws / "app.py").write_text(app)
            scan = await call(client, "run_check", check="bandit", task_id="C")
            assert scan["attributes"]["vulnerabilities.high"] >= 1, (form, scan)
            decision = await submit(client, "security", "C", scan["span_id"])
            assert decision["decision"] == "fail", (form, reasons(decision))


async def test_a_name_only_run_time_knows_makes_the_scan_examine_every_excluded_file_and_say_why(
    tmp_path: Path,
) -> None:
    app = 'import importlib\nimport os\n\nplugin = importlib.import_module(os.environ["PLUGIN"])\n'
    files = {
        "app.py": "import os\n\nprint(os.environ['PLUGIN'])\n",
        "tests/support/evil.py": VULNERABLE_APP,
        "build/lib/other.py": "import pickle\n",
        ".gitignore": ".otel-mcp/\n",
    }
    ws = make_workspace(tmp_path / "ws", files)
    db = tmp_path / "store" / "telemetry.db"
    async with serve(ws, db) as client:
        static = await call(client, "run_check", check="bandit", task_id="D")
        assert static["attributes"]["vulnerabilities.high"] == 0 and static["files_examined"] == 1
        assert "otel_mcp.check.dynamic_imports" not in span_attributes(db, static["span_id"])
        (ws / "app.py").write_text(app)
        scan = await call(client, "run_check", check="bandit", task_id="D")
        assert scan["attributes"]["vulnerabilities.high"] >= 1, scan
        assert scan["files_examined"] == 3  # app.py, tests/support/evil.py, build/lib/other.py
        assert span_attributes(db, scan["span_id"])["otel_mcp.check.dynamic_imports"] == ["app.py:4"]
        decision = await submit(client, "security", "D", scan["span_id"])
        assert decision["decision"] == "fail", reasons(decision)


def _state(root: Path, files: dict[str, str]) -> list[str]:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return sorted(files)


_HIDDEN = {"tests/__init__.py": "", "tests/support/__init__.py": "", "tests/support/evil.py": "x = 1\n"}


@pytest.mark.parametrize("form", sorted(_LOADED_BY_CONSTANTS))
def test_each_constant_way_to_load_a_module_is_followed_like_an_import(tmp_path: Path, form: str) -> None:
    state = _state(tmp_path, {"app.py": _LOADED_BY_CONSTANTS[form], **_HIDDEN})
    found = imported_files(str(tmp_path), ["app.py"], state)
    assert "tests/support/evil.py" in found.files and found.dynamic == []


@pytest.mark.parametrize(
    "app",
    [
        "import importlib\nimportlib.import_module(name)\n",
        "from importlib import import_module\nimport_module(f'{name}.evil')\n",
        "import importlib\nimportlib.import_module('.evil', package=pkg)\n",
        "__import__(name)\n",
        "import importlib\nload = importlib.import_module\n",
        "import importlib\ngetattr(importlib, 'import_module')('tests.support.evil')\n",
        "import importlib.util\nimportlib.util.spec_from_file_location('m', path)\n",
        "import runpy\nrunpy.run_module(name)\n",
        "import sys, os\nsys.path.append(os.path.dirname(__file__))\n",
        "import sys\nsys.path = folders\n",
        "import sys\nsys.meta_path.insert(0, finder)\n",
        "exec(source)\n",
        "m = __import__('importlib')\n",
        "__path__.append('tests/support')\n",
        "from importlib import *\nimport_module(name)\n",
        "import sys\nsys.modules['importlib'].import_module('tests.support.evil')\n",
        "import builtins\nbuiltins.__dict__['__import__']('tests.support.evil')\n",
    ],
)
def test_a_load_static_reading_cannot_follow_is_reported_with_its_line(tmp_path: Path, app: str) -> None:
    state = _state(tmp_path, {"app.py": "import os\n" + app, **_HIDDEN})
    found = imported_files(str(tmp_path), ["app.py"], state)
    assert found.dynamic and all(site.startswith("app.py:") and site != "app.py:1" for site in found.dynamic)


def test_reading_sys_path_or_importlib_metadata_loads_nothing(tmp_path: Path) -> None:
    app = (
        "import sys\nimport importlib.metadata\n\nif '.' in sys.path:\n    pass\n"
        "from importlib.abc import Traversable\n\n\ndef f(x: Traversable) -> None:\n    pass\n\n\n"
        "print(importlib.metadata.version('pip'))\nimport re\nre.compile('x')\nif 're' in sys.modules:\n    pass\n"
    )
    state = _state(tmp_path, {"app.py": app, **_HIDDEN})
    assert imported_files(str(tmp_path), ["app.py"], state).dynamic == []
