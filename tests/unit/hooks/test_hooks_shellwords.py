"""Host hooks see a shell command as one string: which of them commit or push, read as a shell reads them."""

from __future__ import annotations

import pytest

from otel_mcp.hooks.shellwords import git_progress

PROGRESS = [
    ("git commit -m 'wip'", ["commit"]),
    ("git push", ["push"]),
    ("git push origin HEAD:main --force", ["push"]),
    ("git -C sub/dir commit -am fix", ["commit"]),
    ("git -c user.name=bot -c user.email=b@x commit -m x", ["commit"]),
    ("git --git-dir=.git --work-tree . push", ["push"]),
    ("git --no-pager -P push", ["push"]),
    ("/usr/bin/git push", ["push"]),
    ('"git" push', ["push"]),
    ("FOO=1 GIT_TRACE=0 git push", ["push"]),
    ("npm test && git commit -am done && git push", ["commit", "push"]),
    ("npm test || git push", ["push"]),
    ("git add -A; git commit -m x | cat", ["commit"]),
    ("echo start\ngit push", ["push"]),
    ("git status # then push\ngit push", ["push"]),
    ("(cd sub && git push)", ["push"]),
    ("{ git commit -m x; }", ["commit"]),
    ("if true; then git push; fi", ["push"]),
    ("echo $(git push)", ["push"]),
    ('echo "$(git commit -m x)"', ["commit"]),
    ("echo `git push`", ["push"]),
    ("bash -c 'git push'", ["push"]),
    ('bash -lc "cd sub && git commit -am x"', ["commit"]),
    ("sh -ec 'git push origin main'", ["push"]),
    ("eval git push", ["push"]),
    ("env -i PATH=/bin git push", ["push"]),
    ("sudo -u deploy git push", ["push"]),
    ("timeout 60 git push", ["push"]),
    ("nohup git push &", ["push"]),
    ("nice -n 5 git commit -m x", ["commit"]),
    ("exec git push", ["push"]),
    ("git push 2>&1 | tee push.log", ["push"]),
    ("git push > out.txt 2> err.txt", ["push"]),
    ("git commit -F - <<'EOF'\nmessage\nEOF", ["commit"]),
    # A dry run or a value that looks like one still counts: `git push -o -n` is a real push.
    ("git push -n", ["push"]),
    ("git commit -m --dry-run", ["commit"]),
    # Unbalanced quotes cannot be tokenised: the plain pattern errs towards "it pushes".
    ('git commit -m "unbalanced', ["commit"]),
]

NOT_PROGRESS = [
    "npm test",
    "git status",
    "git diff --stat",
    "git log --grep push",
    "git show HEAD:commit.txt",
    "git stash push -m wip",
    "git branch push",
    "git config --get push.default",
    "git help commit",
    "echo 'git push'",
    'echo "git commit -m x"',
    "grep -rn 'git push' docs",
    "grep -r commit .",
    "cat push.sh",
    "pytest -k commit",
    "# git push",
    "python -m otel_mcp gates status --task T",
    "",
]


@pytest.mark.parametrize(("command", "actions"), PROGRESS)
def test_a_command_that_commits_or_pushes_is_seen_however_it_is_spelled(command: str, actions: list[str]) -> None:
    assert git_progress(command) == actions


@pytest.mark.parametrize("command", NOT_PROGRESS)
def test_commands_that_neither_commit_nor_push_are_not_mistaken_for_it(command: str) -> None:
    assert git_progress(command) == []


def test_a_deeply_nested_shell_string_is_read_to_a_bounded_depth() -> None:
    assert git_progress("eval " * 5000 + "git push") == []  # past the depth bound: not read, no recursion error
    assert git_progress("eval eval git push") == ["push"]
    assert git_progress("bash -c \"bash -c 'git push'\"") == ["push"]
