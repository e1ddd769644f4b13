"""Command lines printed for the user to paste into bash (`kubectl label`, `kubectl
exec ... nc`, `kubectl patch --dry-run=server`): every word quoted, so a pod, namespace
or label value chosen by someone else can never run anything when pasted.

Names come from the input, which anyone who can create a pod controls: a pod named
`x;touch y` is legal in a manifest and in a dump. A leaf: imports nothing.
"""

from __future__ import annotations

import shlex

__all__ = ["command", "comment", "quote"]

# Bash ANSI-C quoting ($'...') keeps a command on one line, so an indented or
# copied-by-line command still pastes as exactly these words.
# `!` too: an interactive bash may expand history inside $'...'.
_ANSI_C = {"\\": "\\\\", "'": "\\'", "!": "\\x21", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def quote(word: str) -> str:
    """One shell word that bash reads back as exactly `word`.

    Printable text gets POSIX single quotes (`shlex.quote`: safe words stay bare).
    Anything with a control, format or separator character (a newline, an escape
    sequence, a bidi override) gets `$'...'` with escapes instead: a raw one would
    break the line, or make the terminal show something other than what is pasted.
    """
    if word.isprintable():
        return shlex.quote(word)
    out = []
    for ch in word:
        if ch in _ANSI_C:
            out.append(_ANSI_C[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "$'" + "".join(out) + "'"


def command(*words: str) -> str:
    """`words` as one pasteable command line."""
    return " ".join(quote(w) for w in words)


def comment(text: str) -> str:
    """`text` made safe after a `#` on a command line: a newline there would end the
    comment and start a command, and no quoting applies inside a comment."""
    return "".join(ch if ch.isprintable() else quote(ch)[2:-1] for ch in text)
