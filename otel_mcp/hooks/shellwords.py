"""Which git progress (`commit`, `push`) a shell command line would run, read the way a shell reads it.

Agent hosts hand a hook the command as one string. This reads it conservatively: every simple
command in `&&` / `||` / `;` / `|` / `&` / newline chains, subshells and `$( )` / backquote
substitutions is looked at; leading `NAME=value` assignments and wrappers (`env`, `sudo`, `nohup`,
`timeout` ...) are skipped; `bash -c '...'` and `eval` are read recursively; git's global options
(`-C dir`, `-c k=v`, `--git-dir=...`) are skipped to find the subcommand. A quoted argument is
data, not a command (`echo "git push"` pushes nothing). Options after the subcommand are not
interpreted: `git push -n` counts too, because `git push -o -n` is a real push and telling the two
apart means re-implementing git's option parser. A line that cannot be tokenised (unbalanced
quotes) is judged by a plain pattern, erring towards "it pushes". Git aliases (`git ci`) are not
expanded.
"""

from __future__ import annotations

import re
import shlex

__all__ = ["GIT_ACTIONS", "git_progress"]

GIT_ACTIONS = ("commit", "push")

_PUNCTUATION = "();<>|&\n"
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_FALLBACK = re.compile(r"\bgit\b[^;&|\n]*?\b(commit|push)\b")
# Words a shell reads before the command itself.
_KEYWORDS = frozenset({"!", "{", "}", "if", "then", "else", "elif", "do", "while", "until", "time"})
# Wrappers that run the rest of their words as a command, with their options that take a value.
_WRAPPERS: dict[str, frozenset[str]] = {
    "env": frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}),
    "command": frozenset(),
    "builtin": frozenset(),
    "exec": frozenset({"-a"}),
    "nohup": frozenset(),
    "time": frozenset({"-f", "--format", "-o", "--output"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "sudo": frozenset({"-u", "--user", "-g", "--group", "-C", "-D", "--chdir", "-h", "--host", "-p", "-r", "-t", "-U"}),
    "doas": frozenset({"-u", "-C"}),
    "xargs": frozenset({"-a", "-d", "-E", "-e", "-I", "-i", "-L", "-l", "-n", "-P", "-s", "--delimiter"}),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "timeout": frozenset({"-k", "--kill-after", "-s", "--signal"}),
}
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh"})
# git's global options that take a separate value (`-C dir`); `--opt=value` needs no special case.
_GIT_VALUED = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env", "--super-prefix"})
_MAX_DEPTH = 4


def git_progress(command: str) -> list[str]:
    """The git progress actions ('commit', 'push') the command line would run, in order, without repeats."""
    found: list[str] = []
    for action in _scan(command, 0):
        if action not in found:
            found.append(action)
    return found


def _scan(command: str, depth: int) -> list[str]:
    if depth > _MAX_DEPTH:
        return []
    try:
        tokens = _tokens(command.replace("`", " ; "))  # a backquoted part is a command of its own
    except ValueError:  # unbalanced quotes: no shell would run it as written; err towards progress
        return [m.group(1) for m in _FALLBACK.finditer(command)]
    actions: list[str] = []
    for words in _simple_commands(tokens):
        actions += _command_actions(words, depth)
        for word in words:  # "$( ... )" inside a quoted word still runs
            if "$(" in word:
                actions += _scan(word.split("$(", 1)[1], depth + 1)
    return actions


def _tokens(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=_PUNCTUATION)
    lexer.whitespace = " \t\r"  # a newline separates commands
    lexer.whitespace_split = True
    lexer.commenters = ""  # a comment's words become arguments: harmless, never hides a command
    return list(lexer)


def _simple_commands(tokens: list[str]) -> list[list[str]]:
    commands: list[list[str]] = [[]]
    skip_next = False
    for token in tokens:
        if skip_next:
            skip_next = False
            continue
        if token and all(c in _PUNCTUATION for c in token):
            if "<" in token or ">" in token:  # a redirection: drop its fd number and its target
                if commands[-1] and commands[-1][-1].isdigit():
                    commands[-1].pop()
                skip_next = True
                continue
            commands.append([])
            continue
        commands[-1].append(token)
    return [c for c in commands if c]


def _command_actions(words: list[str], depth: int) -> list[str]:
    i = 0
    while i < len(words):
        word = words[i]
        name = word.rsplit("/", 1)[-1]
        if word in _KEYWORDS or _ASSIGNMENT.match(word):
            i += 1
        elif name in _WRAPPERS:
            i = _skip_options(words, i + 1, _WRAPPERS[name])
        elif name in _SHELLS:
            return _shell_string(words[i + 1 :], depth)
        elif name == "eval":
            return _scan(" ".join(words[i + 1 :]), depth + 1)
        elif name in ("git", "git.exe"):
            return _git_action(words[i + 1 :])
        else:
            return []
    return []


def _skip_options(words: list[str], i: int, valued: frozenset[str]) -> int:
    while i < len(words) and (words[i].startswith("-") or _ASSIGNMENT.match(words[i])):
        if words[i] == "--":
            return i + 1
        i += 2 if words[i] in valued else 1
    if i < len(words) and re.fullmatch(r"[0-9.]+[smhd]?", words[i]):  # timeout's DURATION
        i += 1
    return i


def _shell_string(args: list[str], depth: int) -> list[str]:
    """`bash -c 'CMD'` (options may be combined: `-lc`, `-ec`) runs CMD."""
    for i, arg in enumerate(args):
        if arg.startswith("-") and not arg.startswith("--") and "c" in arg[1:]:
            return _scan(args[i + 1], depth + 1) if i + 1 < len(args) else []
        if not arg.startswith("-"):
            return []  # a script file: not ours to read
    return []


def _git_action(args: list[str]) -> list[str]:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in _GIT_VALUED else 1
    return [args[i]] if i < len(args) and args[i] in GIT_ACTIONS else []
