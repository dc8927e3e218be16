"""What the README tells a new user to type is what CI runs."""

from __future__ import annotations

import re

from tests.conftest import REPO


def _set_up_commands() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the Set-up section has no bash block"
    return [line.split("  #")[0].rstrip() for line in block.group(1).splitlines() if line.strip()]


def _make_recipe(target: str) -> list[str]:
    lines = (REPO / "Makefile").read_text(encoding="utf-8").splitlines()
    start = lines.index(f"{target}:") + 1
    recipe = []
    for line in lines[start:]:
        if not line.startswith("\t"):
            break
        recipe.append(line[1:])
    return recipe


def test_the_readme_test_command_is_the_makefile_test_target_character_for_character() -> None:
    tests = [line for line in _set_up_commands() if "pytest" in line]
    assert tests == _make_recipe("test")


def test_ci_runs_make_check_which_includes_the_test_target() -> None:
    assert "make check" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
    check = next(
        line for line in (REPO / "Makefile").read_text(encoding="utf-8").splitlines() if line.startswith("check:")
    )
    assert "test" in check.split(":", 1)[1].split()


def test_the_set_up_uses_a_virtualenv_before_any_pip_install() -> None:
    # Debian's system Python refuses `pip install` (externally-managed-environment).
    commands = _set_up_commands()
    first_pip = next(i for i, line in enumerate(commands) if "pip install" in line)
    assert any("-m venv" in line and "activate" in line for line in commands[:first_pip])
