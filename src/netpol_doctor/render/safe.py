"""Text that is safe to print on a terminal: names come from input files and API
servers we do not trust, and a name carrying an ANSI escape or a bell must be shown
escaped (`\\x1b[31m`), never acted on by the terminal. Newlines and tabs are kept: the
renderers place them. JSON needs nothing (json.dumps escapes control characters)."""

from __future__ import annotations

import re

__all__ = ["printable"]

#: C0 controls but tab and newline, DEL, C1 controls (a bare 0x9b is CSI on some
#: terminals), and the bidi overrides that reorder what is shown (CVE-2021-42574).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(text: str) -> str:
    return _CONTROL.sub(_escape, text)
