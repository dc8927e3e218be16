"""Reservation globs: strict validation, matching files, and overlap decided from the patterns alone."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from otel_mcp.core.claims.globs import MAX_GLOB, MAX_PATHS, check_glob, check_paths, covers, overlapping, overlaps
from otel_mcp.errors import InvalidArgument


@pytest.mark.parametrize(
    ("glob", "why"),
    [
        ("/etc/passwd", "is absolute"),
        ("C:/src/x.py", "is absolute"),
        ("~/notes.md", "is absolute"),
        ("../other/x.py", "'..' segment"),
        ("src/../../x", "'..' segment"),
        ("src//x.py", "empty or '.' segment"),
        ("./src/x.py", "empty or '.' segment"),
        ("src\\x.py", "backslash"),
        ("src/{a,b}.py", "braces"),
        ("!src/x.py", "negation"),
        ("src/a**/x", "'**' inside a name"),
        ("src/[ab.py", "not closed"),
        (" src/x.py", "whitespace"),
        ("src/x\n.py", "control character"),
        ("", "is empty"),
        ("x" * (MAX_GLOB + 1), f"the limit is {MAX_GLOB}"),
    ],
)
def test_a_glob_that_is_not_a_plain_relative_pattern_is_refused_with_why(glob: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(why)) as error:
        check_glob(glob, "paths[0]")
    message = str(error.value)
    assert message.startswith("paths[0] ") and "e.g. 'src/auth/**'" in message
    assert len(message) < 400  # a long glob is quoted by a prefix only


def test_paths_must_be_a_bounded_list_and_duplicates_collapse() -> None:
    assert check_paths(["src/auth/", "src/auth/**", "docs/*.md", "docs/*.md"]) == ("src/auth/**", "docs/*.md")
    assert check_paths([]) == ()
    with pytest.raises(InvalidArgument, match=r"paths must be a list of globs"):
        check_paths("src/**")
    with pytest.raises(InvalidArgument, match=rf"has {MAX_PATHS + 1} globs; the limit is {MAX_PATHS}"):
        check_paths([f"f{i}.py" for i in range(MAX_PATHS + 1)])
    with pytest.raises(InvalidArgument, match=r"paths\[1\] must be a string glob"):
        check_paths(["a.py", 7])
    with pytest.raises(InvalidArgument, match=r"paths\[2\] '\.\./x' has a '\.\.' segment"):
        check_paths(["a.py", "b.py", "../x"])


@pytest.mark.parametrize(
    ("glob", "path", "expected"),
    [
        ("src/auth/**", "src/auth/login.py", True),
        ("src/auth/**", "src/auth", True),  # '**' matches zero segments: the folder itself
        ("src/auth", "src/auth/deep/x.py", True),  # a folder name reserves its contents
        ("src/auth/", "src/auth/x.py", True),
        ("src/*", "src/auth/x.py", True),  # '*' may name a folder too
        ("docs/*.md", "docs/guide.md", True),
        ("docs/*.md", "docs/sub/guide.md", False),  # '*' stays within one name
        ("*.py", "setup.py", True),
        ("*.py", "src/setup.py", False),  # anchored at the root
        ("**/*.py", "src/deep/setup.py", True),
        ("src/main.py", "src/main.py", True),
        ("src/main.py", "src/main.pyc", False),
        ("src/main.py", "src/main.py/x", False),  # a name with an extension is a file
        ("conf.d/", "conf.d/x.conf", True),  # ... unless it ends with '/'
        ("src/?.py", "src/a.py", True),
        ("src/?.py", "src/ab.py", False),
        ("app/[id].tsx", "app/[id].tsx", True),  # Next.js: the literal name is held too
        ("app/[ab].tsx", "app/b.tsx", True),
        ("app/[!ab].tsx", "app/b.tsx", False),
        ("README.md", "readme.md", True),  # case is ignored: one file on macOS and Windows
    ],
)
def test_a_glob_covers_the_files_it_names_and_what_lies_beneath_a_folder(glob: str, path: str, expected: bool) -> None:
    assert covers(check_glob(glob), path) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("src/**", "src/auth/login.py", True),
        ("src/auth/**", "src/billing/**", False),
        ("src/*/login.py", "src/auth/*.py", True),
        ("src/**/test_*.py", "src/app/main.py", False),
        ("src/**/test_*.py", "src/**/*_x.py", True),  # test_x.py
        ("docs/*.md", "docs/*.rst", False),
        ("a*b", "*c*", True),  # acb
        ("a*", "b*", False),
        ("**", "anything/at/all.txt", True),
        ("src/auth", "src/auth/x.py", True),
        ("README.md", "readme.MD", True),
        ("app/[ab].tsx", "app/c.tsx", True),  # a class counts as '*': conservative
        ("src/?", "src/??", False),
    ],
)
def test_overlap_is_decided_from_the_patterns_in_both_directions(a: str, b: str, expected: bool) -> None:
    assert overlaps(a, b) is expected
    assert overlaps(b, a) is expected


def test_overlapping_names_every_pair_of_globs_that_meet() -> None:
    mine = ["src/auth/**", "docs/a.md", "tests/x.py"]
    theirs = ["src/*/login.py", "docs/*.md"]
    assert overlapping(mine, theirs) == [("src/auth/**", "src/*/login.py"), ("docs/a.md", "docs/*.md")]


# -- property-style: overlap agrees with brute force over every path of a small universe ---------------

_SEGMENTS = ["a", "b", "?", "*", "a*", "*b", "?a", "ab", "b?", "*.b", "a.?", "**"]
_NAMES = [n for k in (1, 2, 3) for n in map("".join, itertools.product("ab.", repeat=k)) if n not in (".", "..")]
_UNIVERSE = "\n".join("/".join(p) for k in (1, 2, 3) for p in itertools.product(_NAMES, repeat=k))


def _oracle(glob: str) -> re.Pattern[str]:
    """The documented semantics as a regular expression, written independently of the module.

    '*' any run within a name, '?' one character, '**' whole names (zero or more); and what lies beneath
    a match, unless its last name has an extension ('x.py', '*.md').
    """
    names = glob.split("/")
    parts = []
    for i, name in enumerate(names):
        if name == "**":
            parts.append("(?:[^/\n]+/)*" if i < len(names) - 1 else "(?:[^/\n]+(?:/[^/\n]+)*)?")
        else:
            text = "".join("[^/\n]*" if c == "*" else "[^/\n]" if c == "?" else re.escape(c) for c in name)
            parts.append(text + ("/" if i < len(names) - 1 else ""))
    body = "".join(parts).replace("/(?:[^/\n]+(?:/[^/\n]+)*)?", "(?:/[^/\n]+)*")
    folder = names[-1] != "**" and not re.fullmatch(r".+\.[^.]+", names[-1])
    return re.compile("^" + body + ("(?:/[^\n]+)?" if folder else "") + "$", re.MULTILINE)


def _pool(seed: int, size: int) -> list[str]:
    rng = random.Random(seed)
    pool = {"/".join(rng.choice(_SEGMENTS) for _ in range(rng.choice((1, 2)))) for _ in range(size)}
    return sorted(g for g in pool if g != "**/**")


def test_covers_agrees_with_the_documented_semantics_on_every_path_of_the_universe() -> None:
    paths = _UNIVERSE.splitlines()[::7]  # a sample: covers is the slow side
    for glob in _pool(seed=2, size=40):
        expected = set(_oracle(glob).findall(_UNIVERSE))
        assert {p for p in paths if covers(glob, p)} == expected.intersection(paths), glob


def test_overlap_is_exactly_whether_some_path_is_covered_by_both_globs() -> None:
    """Every pair from a random pool, against all 52,059 paths of up to 3 names of up to 3 characters.

    Soundness: two globs that cover a common path must overlap (a missed overlap would let two agents
    edit one file). Exactness (for literals, '*', '?' and '**'): two globs said to overlap do share a
    path, and every witness fits this universe because the patterns are this short.
    """
    pool = _pool(seed=11, size=200)  # 40,000 ordered pairs
    covered = {g: frozenset(_oracle(g).findall(_UNIVERSE)) for g in pool}
    checked = overlapping_pairs = 0
    for a, b in itertools.product(pool, repeat=2):
        shared = bool(covered[a] & covered[b])
        assert overlaps(a, b) is shared, (a, b, shared)
        checked += 1
        overlapping_pairs += shared
    assert checked > 3000 and 0.1 < overlapping_pairs / checked < 0.9


def test_a_path_built_from_one_glob_makes_it_overlap_every_glob_covering_that_path() -> None:
    """Random deep instances (longer names, many segments) outside the brute-force universe."""
    rng = random.Random(5)
    pool = [*_pool(seed=3, size=50), "src/**/test_*.py", "src/*/x.py", "**/*.md", "docs/**", "a/**/b/**/c"]

    def instance(glob: str) -> str:
        out: list[str] = []
        for seg in glob.split("/"):
            if seg == "**":
                out += ["".join(rng.choices("abxyz.", k=rng.randint(1, 5))) for _ in range(rng.randint(0, 3))]
            else:
                text = "".join(
                    "".join(rng.choices("abz", k=rng.randint(0, 4)))
                    if c == "*"
                    else rng.choice("ab")
                    if c == "?"
                    else c
                    for c in seg
                )
                out.append(text or "q")
        return "/".join(out)

    hits = 0
    for _ in range(4000):
        a, b = rng.choice(pool), rng.choice(pool)
        path = instance(a)
        if covers(a, path) and covers(b, path):
            hits += 1
            assert overlaps(a, b), (a, b, path)
    assert hits > 300


def test_case_and_character_classes_err_towards_overlap() -> None:
    assert overlaps("Src/Auth/**", "src/auth/x.py")
    assert covers("Src/Auth/**", "SRC/auth/X.py")
    # '[ab]' as a class and as the literal '[ab]': both are held, so both overlap.
    assert overlaps("app/[ab]/page.tsx", "app/a/page.tsx")
    assert overlaps("app/[ab]/page.tsx", "app/[ab]/page.tsx")
    assert overlaps("app/[ab]/page.tsx", "app/zz/page.tsx")  # conservative: a class counts as '*'


def test_the_path_index_offers_every_reservation_a_glob_could_overlap_and_few_others() -> None:
    from otel_mcp.core.claims.path_index import PathIndex, literal_start

    rng = random.Random(9)
    names = ["src", "Src", "auth", "docs", "a.md", "x.py", "*", "?", "**", "*.py", "[ab]"]
    tops = ["src", "docs", "lib", "tests", "ui", "*", "**"]  # most globs start with a folder's name

    def random_glob() -> str:
        return "/".join([rng.choice(tops), *(rng.choice(names) for _ in range(rng.randint(0, 3)))])

    pool = sorted({random_glob() for _ in range(300)})
    index = PathIndex()
    for n, glob in enumerate(pool):
        index.add(f"t{n}", [glob])
    for n in range(0, len(pool), 3):  # removals leave the rest intact
        index.remove(f"t{n}", [pool[n]])
    live = {f"t{n}": glob for n, glob in enumerate(pool) if n % 3}
    offered = total = 0
    for query in pool:
        found = index.candidates([query])
        needed = {task for task, glob in live.items() if overlaps(query, glob)}
        assert needed <= found, (query, needed - found)
        assert found <= set(live)
        offered, total = offered + len(found), total + len(live)
    assert offered < total * 0.6  # it does narrow the search
    assert literal_start("Src/Auth/*.py") == ("src", "auth") and literal_start("**/x") == ()
