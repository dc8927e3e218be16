"""Text for a person at a terminal: counts with the right plural, paragraphs wrapped to the window."""

from __future__ import annotations

import shutil
import textwrap

__all__ = ["hang", "plural", "terminal_width", "wrap"]

# Past this, lines are hard to read even on a wide window.
_MAX_WIDTH = 100


def plural(count: int, noun: str, many: str | None = None) -> str:
    """'1 task', '2 tasks', '0 tasks'; `many` for irregular nouns."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"


def terminal_width() -> int:
    """The window's width (COLUMNS, then the terminal, else 80), at most 100 columns."""
    return min(shutil.get_terminal_size((80, 24)).columns, _MAX_WIDTH)


def wrap(text: str, width: int | None = None, indent: str = "") -> str:
    """Each paragraph (blank-line separated) filled to `width`, never breaking a word or a hyphen."""
    width = width or terminal_width()
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
    return "\n\n".join(
        textwrap.fill(
            p,
            width=width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        for p in paragraphs
        if p
    )


def hang(text: str, width: int, head: str, indent: int | None = None) -> str:
    """`head` + `text` filled to `width`, later lines indented under the text (or by `indent`)."""
    return textwrap.fill(
        text,
        width=width,
        initial_indent=head,
        subsequent_indent=" " * (len(head) if indent is None else indent),
        break_long_words=False,
        break_on_hyphens=False,
    )
