"""A fast, safe loader for YAML streams of Kubernetes manifests, with exact lines.

`load_stream(text)` returns one `YamlDocument` per document, as PyYAML's
`load_all(text, Loader=SafeLoader)` would, and never raises: a document that is not
valid YAML carries `error` ("line N: what") and the others are still loaded.

How. The text is cut into documents at the `---` and `...` lines (column 0, as the
spec says: no scalar can hold one), counting lines as it goes, in one pass. Each
document then takes one of two paths:

- fast: yaml-rs (a Rust YAML parser, PyPI `yaml-rs`) builds the Python data, many
  times faster than PyYAML's CSafeLoader (docs/yaml.md has the figures). It is
  taken only when a scan of the document's text (`_risky`: regexes the engine runs
  in C, at the positions a byte-class prefilter picks in large ASCII texts) finds
  nothing on which yaml-rs (YAML 1.2) and PyYAML (YAML 1.1) could disagree:
  `yes`/`no`/`on`/`off`, octal, hex, binary, sexagesimal and underscored
  numbers, exponents, `.inf`, `.nan`, `<<`, `=`, tags, anchors and aliases,
  directives, complex keys and collections as keys, tabs, characters YAML forbids,
  NEL/LS/PS, an empty block scalar at the end, and very deep nesting (`_DEEP`:
  yaml-rs would overflow the C stack). A duplicate key makes yaml-rs fail, and so
  does anything it cannot read; either sends the document to the slow path.
- slow: PyYAML's C parser with `_Constructor`, a `SafeConstructor` that records
  duplicate keys, refuses alias expansions past `MAX_ALIAS_NODES` (billion laughs)
  and recursive aliases, and returns plain data (below). Lines come from its marks.

In a `kind: List` dump a risky token inside one item sends only that item to the
slow path, not the whole list.

Deliberate differences from PyYAML's SafeLoader (the values are what kubectl, which
reads YAML as JSON through sigs.k8s.io/yaml, would see):

- timestamps stay strings: `2025-01-01T00:00:00Z` is not a `datetime`;
- `!!binary` stays its base64 text, not `bytes`;
- `!!set` is a mapping of its members to None, `!!omap` and `!!pairs` are lists of
  one-key mappings (PyYAML: `set`, list of tuples);
- an alias whose expansion would pass `MAX_ALIAS_NODES` nodes, or that refers to
  itself, is an error, not a shared (or cyclic) object;
- an integer past Python's digit limit is an error on its document, not a
  `ValueError` out of the loader.

Aliases that are accepted are shared objects, as PyYAML builds them.
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache, partial
from itertools import accumulate, pairwise
from typing import TYPE_CHECKING, Any, NamedTuple

import yaml
import yaml_rs
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .model import fast_constructor

if TYPE_CHECKING:
    import numpy as np  # imported by the prefilter when it runs (_prefilter_pays)

__all__ = [
    "MAX_ALIAS_NODES",
    "ListSplit",
    "YamlDocument",
    "documents_in",
    "expect_large_input",
    "load_chunks",
    "load_piece",
    "load_stream",
    "split_list",
    "stream_chunks",
]

#: Nodes that aliases may add to one document (each alias counts its whole subtree).
MAX_ALIAS_NODES = 1_000_000


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """One document of a stream. `value` is plain data (dict, list, str, int, float,
    bool, None); `line` is the 1-based line where its content starts (for an empty
    document, the line of its `---`); `item_lines` holds the line of each entry of
    `value["items"]` when `value` is a mapping whose `items` is a list."""

    value: Any
    line: int
    item_lines: tuple[int, ...] | None
    error: str | None = None
    duplicate_keys: tuple[tuple[int, str], ...] = ()


# The fast path builds one per document: `fast_constructor` sets the slots directly
# (a frozen dataclass's `__init__` goes through object.__setattr__ per field, about
# as costly as everything else done per document outside yaml-rs).
_document: Callable[[Any, int, tuple[int, ...] | None, None, tuple[()]], YamlDocument] = (
    fast_constructor(YamlDocument)
)


# --- cutting the stream into documents ------------------------------------------------

# Regexes here start with a literal (`\n`) where they can: the engine then skips to it
# in C, ten times faster than trying each position.
_MARKER = re.compile(r"\n(?:---|\.\.\.)(?=[ \t\r\n]|$)")
_MARKER_AT_START = re.compile(r"(?:---|\.\.\.)(?=[ \t\r\n]|$)")
# A line with something on it other than a comment.
_CONTENT = re.compile(r"^[ \t]*[^ \t\r\n#]", re.MULTILINE)
# The same, directives (`%YAML`, `%TAG`) aside: they belong to the next document.
_CONTENT_NOT_DIRECTIVE = re.compile(r"^(?!%)[ \t]*[^ \t\r\n#]", re.MULTILINE)
_DIRECTIVE = re.compile(r"^%", re.MULTILINE)
# The rest of a marker line that holds nothing (`---`, `--- # comment`).
_EMPTY_REST = re.compile(r"[ \t]*(?:#[^\n]*)?\r?(?:\n|$)")


@dataclass(slots=True)
class _Chunk:
    text: str  # the document, from its `---` (or the stream's start) to the next marker
    line: int  # 1-based line of text[0]
    content_line: int | None  # where its content starts; None: an empty document
    stray: bool = False  # content after `...` without a `---`
    offset: int = 0  # where text[0] is in the stream


def _line_counter(text: str) -> Callable[[int], int]:
    """`line(pos)`: the 1-based line of `pos`, for positions that never decrease;
    counts each newline once (linear in the text)."""
    state = [0, 1]  # last position, its line

    def line(pos: int) -> int:
        state[1] += text.count("\n", state[0], pos)
        state[0] = pos
        return state[1]

    return line


def _chunks(text: str) -> list[_Chunk]:
    out: list[_Chunk] = []
    # Each segment starts at a marker (`---` or `...`), or at the stream's start
    # without one; `lines[i]` is the line of `starts[i]`.
    starts, lines = _markers(text)
    first_marked = _MARKER_AT_START.match(text) is not None
    ends = starts[1:]
    ends.append(len(text))
    count = text.count
    pending: tuple[int, int] | None = None  # directive lines waiting for their `---`
    for i, (start, end, line) in enumerate(zip(starts, ends, lines, strict=True)):
        kind = text[start] if i or first_marked else ""  # "-", ".", or "": no marker
        if kind == "-":
            # `_EMPTY_REST` after the dashes (a bare `---\n` is most documents').
            if text.startswith("\n", start + 3):
                rest = start + 4
            else:
                m = _EMPTY_REST.match(text, start + 3)
                rest = m.end() if m else -1
            content: int | None = line
            if rest >= 0:  # nothing after the `---`: content starts below
                at = _content_below(text, rest, end)
                content = line + count("\n", start, at) if at >= 0 else None
            begin, begin_line = pending if pending else (start, line)
            out.append(_Chunk(text[begin:end], begin_line, content, False, begin))
            pending = None
            continue
        body = start + 3 if kind else start
        m = _CONTENT_NOT_DIRECTIVE.search(text, body, end)
        if m is not None:
            content = line + count("\n", start, m.start())
            out.append(_Chunk(text[body:end], line, content, kind == ".", body))
            pending = None
        else:
            d = _DIRECTIVE.search(text, body, end)
            pending = (d.start(), line + count("\n", start, d.start())) if d else None
    return out


def _content_below(text: str, pos: int, end: int) -> int:
    """Where `_CONTENT.search(text, pos, end)` matches (-1: nowhere), `pos` being a
    line's start. Comment lines (helm's `# Source: ...`) and a first character that
    starts content are settled here, without a regex call per document."""
    while pos < end:
        c = text[pos]
        if c == "#":
            pos = text.find("\n", pos, end) + 1
            if pos == 0:
                return -1
        elif c in " \t\r\n":
            m = _CONTENT.search(text, pos, end)
            return m.start() if m else -1
        else:
            return pos
    return -1


def _markers(text: str) -> tuple[list[int], list[int]]:
    """0 and the start of every `---`/`...` line after the first (`_MARKER`), and the
    line of each: each newline counted once, in C."""
    if _prefilter_pays(len(text)) and text.isascii():
        return _markers_ascii(text)
    starts = [0]
    starts += [m.start() + 1 for m in _MARKER.finditer(text)]
    count = text.count
    return starts, list(accumulate((count("\n", a, b) for a, b in pairwise(starts)), initial=1))


def _markers_ascii(text: str) -> tuple[list[int], list[int]]:
    """`_markers` in numpy for a large ASCII text. This runs in the parent before the
    work is shared out, so it is serial time: the regex stops at every newline (as
    costly as the rest of the cutting) and the lines were counted in another pass;
    here the newlines are found once, the few lines starting with `-` or `.` looked
    at, and a marker's line is its newline's index."""
    import numpy as np

    size = len(text)
    raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    nl = np.flatnonzero(raw == 10)
    c1 = raw.take(nl + 1, mode="clip")  # past the end: `nl + 3 < size` below
    at = np.flatnonzero((c1 == 45) | (c1 == 46))  # `-`, `.`
    q = nl[at]
    c1, c2, c3 = c1[at], raw.take(q + 2, mode="clip"), raw.take(q + 3, mode="clip")
    c4 = raw.take(q + 4, mode="clip")
    # `(?=[ \t\r\n]|$)`: `$` at the end, or before a last newline (a newline too).
    ends = (q + 4 >= size) | (c4 == 32) | (c4 == 9) | (c4 == 13) | (c4 == 10)
    marker = (q + 3 < size) & (c1 == c2) & (c2 == c3) & ends
    # The line after the i-th newline (0-based) is line i + 2.
    return [0, *(q[marker] + 1).tolist()], [1, *(at[marker] + 2).tolist()]


# --- the fast path ---------------------------------------------------------------------

# A token starts after whitespace, a flow indicator, a `:` (`{"a":yes}`) or the
# line's start, and ends before end of line, a comment, a flow indicator or a `: `.
_E = r"(?=[ \t\r]*(?:$|#|[,\]\}]|:(?:[\s,\[\]\{\}]|$)))"
_SAFE_NUMBER = r"-?(?:0|[1-9][0-9]{0,300})(?:\.[0-9]{1,300})?"
_NUMBER = (
    # PyYAML's YAML 1.1 floats and ints
    r"[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
    r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+"
    # YAML 1.2 core numbers (yaml-rs)
    r"|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?0o[0-7]+"
    r"|[-+]?0x[0-9a-fA-F]+|[-+]?0b[01]+|[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)"
    # yaml-rs drops underscores anywhere in a number (`_1`, `1e_3` and `-_1` are ints
    # or floats to it, strings to PyYAML)
    r"|[-+]?[._]*+[0-9][-+.0-9a-fA-FoOxX]*+_[-+._0-9a-fA-FoOxX]*+"
    r"|[-+]?(?=[._]*_)[._]*+[0-9][-+._0-9a-fA-FoOxX]*+"
)
# A risky token, after its preceding character (see `_risky`).
_TOKEN = (
    r"(?=[-+._0-9YyNnOo<=!&*?])"  # first characters, checked before the alternatives
    rf"(?:(?:[Yy]es|YES|[Nn]o|NO|[Oo]n|ON|[Oo]ff|OFF|<<|=){_E}"  # YAML 1.1 booleans, merge
    rf"|(?!(?:{_SAFE_NUMBER}){_E})(?:{_NUMBER}){_E}"  # numbers the two read differently
    r"|[!&*][^\s,\[\]\{\}]"  # tags, anchors, aliases
    r"|\?(?=\s|$))"  # complex keys
)
# Only a real token start may begin a match: were `:` itself a start, each `:` of
# `1:1:1:…` would rescan the rest of the token (quadratic). JSON-style `"a":yes` is
# a start after the quote.
# Each regex starts with a character class, not an alternation: the engine then
# skips to candidates in C (an alternation here makes the scan several times slower).
_RISKY_TOKEN = re.compile(r"[\s\[\{,]" + _TOKEN, re.MULTILINE)
_RISKY_AFTER_JSON_KEY = re.compile(r"[\x22\x27\]\}]:" + _TOKEN, re.MULTILINE)
_RISKY_AT_START = re.compile(_TOKEN, re.MULTILINE)
# Tabs (PyYAML refuses them as indentation), characters YAML forbids, and the line
# breaks of YAML 1.1 that yaml-rs reads as text (NEL, LS, PS).
_FORBIDDEN = re.compile(
    r"[\t\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u2028\u2029\uD800-\uDFFF\uFFFE\uFFFF]"
)
# A flow collection as a key (`[a]: x`, `{a: 1}: x`): a `]` or `}` followed by `: `,
# on a line where a `[` or `{` starts a token (managedFields' plain keys,
# `k:{"name":"web"}:`, do not count). An implicit key has at most 1,024 characters.
_COLLECTION_KEY_END = re.compile(r"[\]\}](?=[ \t]*:(?:[ \t\r\n]|$))")
_FLOW_START = re.compile(r"[ \t,\[\{][\[\{]")


def _collection_keys(text: str, ends: Iterable[int]) -> list[int]:
    """Of the `]`/`}` + `:` positions `ends`, those that close a collection used as a key."""
    found = []
    for pos in ends:
        start = text.rfind("\n", max(0, pos - 1100), pos) + 1
        if (
            (start == 0 and pos > 1100)
            or text[start] in "[{"
            or _FLOW_START.search(text, start, pos)
        ):
            found.append(pos)
    return found


# A line opening 400 levels or more (indentation, `- `, `? `): yaml-rs recurses per
# level and overflows the C stack on deep block nesting (20,000 `- ` crash the
# process), so such documents go to libyaml, which stops at 1,000 levels.
_DEEP = re.compile(r"\n[ \t\-?:]{400,}")
_DEEP_AT_START = re.compile(r"[ \t\-?:]{400,}")


def _risky(text: str, scanned: list[int] | None = None) -> list[int]:
    """Offsets of what yaml-rs and PyYAML could read differently (sorted). Each regex
    starts with a character class, which the regex engine skips to in C. `scanned`:
    the token scans' offsets in `text`, when the whole stream was scanned at once."""
    if text.startswith("%") or "\n%" in text:  # directives
        return [0]
    if _ends_risky(text):
        return [0]
    if scanned is not None:
        found = list(scanned)
    elif _prefilter_pays(len(text)) and text.isascii():
        found = _risky_ascii(text)
    else:
        found = [m.start() for m in _RISKY_TOKEN.finditer(text)]
        found += [m.start() for m in _FORBIDDEN.finditer(text)]
        found += [m.start() for m in _RISKY_AFTER_JSON_KEY.finditer(text)]
        found += _collection_keys(text, (m.start() for m in _COLLECTION_KEY_END.finditer(text)))
    if _RISKY_AT_START.match(text):
        found.append(0)
    return sorted(found)


_TAIL = 4096  # how far back from the end the last line is looked for


def _ends_risky(text: str) -> bool:
    """Whether the document's last line (trailing whitespace, as str.rstrip strips
    it, aside) holds `|` or `>`, which may open an empty block scalar (yaml-rs reads
    it as "\\n", PyYAML as ""), or the document's last `_TAIL` characters are all
    whitespace. Offsets into `text`, not a copy of its tail: this runs per document."""
    lo = max(0, len(text) - _TAIL)
    end = len(text)
    while end > lo and text[end - 1].isspace():  # what rstrip() strips
        end -= 1
        if len(text) - end > 16:  # a long run of whitespace: rstrip does the rest in C
            end = lo + len(text[lo:end].rstrip())
            break
    if end == lo:
        return True
    start = max(text.rfind("\n", lo, end) + 1, lo)
    return text.find("|", start, end) != -1 or text.find(">", start, end) != -1


# The ASCII fast path of `_risky`. Python's regex engine tries a pattern that starts
# with a character class at every position that passes the class, and `[\s...]` passes
# at every space of the indentation: the scan cost as much as yaml-rs' own parse. Here
# bytes.translate marks, in C, the characters of each class, numpy finds the pairs of
# neighbouring characters where a token can start (a character that may precede one,
# then one that may start one), block by block, then narrows those by the next two
# characters (exact for the token grammar above) and by `_plain_numbers`, and the same
# regexes run at the positions left only.
def _table(*classes: str) -> bytes:
    """A bytes.translate table: bit k set for the ASCII characters classes[k] matches."""
    rxs = [re.compile(c) for c in classes]
    return bytes(
        sum(1 << k for k, rx in enumerate(rxs) if i < 128 and rx.fullmatch(chr(i)))
        for i in range(256)
    )


_TABLE_A = _table(
    r"[\s\[\{,]",  # 1: may precede a token
    r"[-+._0-9YyNnOo<=!&*?]",  # 2: may start one
    r"[-+]",  # 4: a sign
    r"[0-9]",  # 8
    r"[YyNnOo]",  # 16: a YAML 1.1 boolean's first letter
    r"[eEoOnNfF]",  # 32: its second (yes YES no NO on ON off OFF)
    # 64: after two letters, the token's end (`_E`; \x00 pads the text's end) or yes/off's third
    r"[ \t\r\n#,\]\}:\x00sSfF]",
    r"[ \t\r\n#,\]\}\x00]",  # 128: after one digit, a safe number ends (not `1:20`)
)
_TABLE_B = _table(
    # 1: may follow a sign in `_NUMBER` (every alternative that takes a sign has
    # `[0-9]`, `.` or `[._]` next): `- ` opens an entry, `---` a document, `-x`, `+x`
    # are text, never numbers, and no other alternative of `_TOKEN` starts with a sign
    r"[0-9._]",
    r":",  # 2
    r"[\x22\x27\]\}]",  # 4: may end a JSON-style key
    r"[\]\}]",  # 8: may close a collection used as a key
    r"[\t\x00-\x08\x0B\x0C\x0E-\x1F\x7F]",  # 16: forbidden (tabs included)
    r"[ \t\-?:]",  # 32: may open a deep line (`_DEEP`)
    r"%",  # 64: may start a directive
    r"[|>]",  # 128: may open a block scalar (`_ends_risky`)
)
# The classes `_scan_ascii` needs at every character: `_TABLE_A`'s first two (a token
# starts between them), `_TABLE_B`'s others; the rest of both are looked up (numpy
# take) where a token can start.
_TABLE_W = bytes((a & 3) | (b & ~3) for a, b in zip(_TABLE_A, _TABLE_B, strict=True))
# Bit 32 of `_TABLE_B` in each byte of a uint64: eight characters that `_DEEP` runs over.
_DEEP_WORD = 0x2020202020202020
_DEEP_GROUP = 64  # characters per group tested whole; a `_DEEP` run covers one (400 > 2 * 64)
# A token that starts with a digit can only be one of `_TOKEN`'s numbers, and most
# such tokens in a dump are ports (`8080`), addresses (`10.244.0.5`, `10.0.0.0/8`),
# quantities (`100m`, `128Mi`) and uids (`c93647d4-84f9-40ae-aef2-6fa43dd357d0`):
# `_plain_numbers` proves from the token's first `_WINDOW` characters that `_TOKEN`
# cannot match them, and only the others meet the regexes. The proof: let the run be
# the token's longest prefix of characters a number alternative can hold
# (`[-+._0-9a-fA-FoOxX:]`, `_NUMBER`'s classes; `.inf` and `.nan` cannot start with a
# digit). Any number match is a prefix of the run, and `_E` holds only at the run's
# end or before a `:` that ends it (inside the run the next character is in the run:
# never a space, `#`, `,`, a bracket or the end), so a match is the run, or the run
# but its last `:`. Hence, for a run that ends inside the window, no match when:
#  (A) the run is digits, `0` or not starting with `0`, at most 301 of them (the
#      window is shorter): the one possible match is the run, which `_SAFE_NUMBER`
#      matches too (its lookahead then refuses it) or after which `_E` fails;
#  (B) the character ending the run is not whitespace, `#`, `,`, `[`, `]`, `{`, `}`
#      or the text's end (`\x00`, which pads it): `_E` holds neither at it nor at a
#      `:` before it;
#  (C) the run has no `_`, and two dots, or a `-`/`+` past its first character and
#      not after `e`/`E`: the alternatives that can match without a `_` (the last two
#      need one; `[._]*_` cannot start at a digit) hold one dot at most, and a sign
#      only first or after `e`/`E`.
# The run must end inside the window: a `_` past it could make (C) wrong.
_TABLE_C = _table(
    r"[^-+._0-9a-fA-FoOxX:]",  # 1: ends the run
    r"[^0-9]",  # 2: not a digit
    r"\.",  # 4
    r"_",  # 8
    r"[^-+._0-9a-fA-FoOxX:\s#,\[\]\{\}\x00]",  # 16: ends a run, and `_E` fails (B)
    r"0",  # 32
    r"[-+]",  # 64
    r"[^eE]",  # 128: a sign after it is no exponent's (bit 64 shifted)
)
_WINDOW = 40  # a uid and the character after it
_NARROW = 16  # an IPv4 address and the character after it
_BLOCK = 1 << 22
# Characters read past a block: the token prefilter's three, the window's.
_LOOK = max(3, _WINDOW)
# Below this the prefilter's fixed cost (a dozen numpy calls) exceeds the regex scan.
_PREFILTER_FROM = 1 << 15
# Below this, importing numpy for the prefilter (0.1-0.15 s) costs more than it saves
# (about 35 ms per MB over the regexes): a command that has not imported numpy for its
# own work (diagnose on a small cluster) does not import it here.
_NUMPY_PAYS_FROM = 1 << 22


def expect_large_input() -> None:
    """For a caller about to load several MB cut into pieces: each piece may be below
    the size where importing numpy pays for itself, the whole is not, so the
    prefilter is made ready for every piece (`_prefilter_pays`)."""
    import numpy  # noqa: F401


def _prefilter_pays(size: int) -> bool:
    """Whether `_risky_ascii` should scan a text of `size` characters."""
    return size >= max(_PREFILTER_FROM, 0 if "numpy" in sys.modules else _NUMPY_PAYS_FROM)


def _plain_numbers(
    w: np.ndarray[Any, Any], at: np.ndarray[Any, Any], width: int = _WINDOW
) -> np.ndarray[Any, Any]:
    """Which of the tokens starting at `at` (offsets in `w`, a block's bytes and
    `_LOOK` more) rules A, B and C above prove not risky from their first `width`
    characters (a multiple of 8, at most `_WINDOW`)."""
    import numpy as np

    raw = np.lib.stride_tricks.sliding_window_view(w, width)[at]
    win = np.frombuffer(raw.tobytes().translate(_TABLE_C), dtype=np.uint8)
    win = win.reshape(len(at), width)
    # 0/1 bytes viewed as bools: argmax is faster on bools.
    length = np.argmax((win & 1).view(bool), axis=1)  # 0: the run never ends
    end = win[np.arange(len(at)), length]
    run = win * (np.arange(width) < length[:, None])  # the run's classes, 0 past it
    # The bits set in any of the run's characters, eight characters at a time.
    some = np.bitwise_or.reduce(run.view(np.uint64), axis=1)
    some |= some >> 32
    some |= some >> 16
    some |= some >> 8
    rule_a = ((some & 2) == 0) & ((length == 1) | ((win[:, 0] & 32) == 0))
    rule_b = (end & 16) != 0
    dots = (run & 4).sum(axis=1, dtype=np.int32) >= 8
    signs = ((run[:, 1:] & (run[:, :-1] >> 1)) & 64).any(axis=1)
    rule_c = ((some & 8) == 0) & (dots | signs)
    return np.asarray(((end & 1) != 0) & (rule_a | rule_b | rule_c))


class _Scan(NamedTuple):
    """What `_scan_ascii` finds in a text (offsets in it)."""

    found: list[int]  # what `_risky`'s four regex scans would find
    deep: list[int]  # in every run of 400 `[ \t\-?:]` (`_DEEP`), one of these at least
    percents: list[int]  # every `%` (a directive starts with one)
    bars: list[int]  # every `|` and `>` (a block scalar starts with one)


def _risky_ascii(text: str) -> list[int]:
    """`_risky`'s four scans for an ASCII text: the offsets finditer would give."""
    return _scan_ascii(text).found


def _scan_ascii(text: str) -> _Scan:
    """`_risky_ascii`, and from the same bytes the places where `_DEEP` or a directive
    could match: a superset, for the caller to check exactly, so that the per-document
    regexes run only where they can match. A `_DEEP` run of 400 characters inside a
    block holds a whole aligned group of `_DEEP_GROUP` (its first aligned group starts
    within 63 characters and ends within 127); one across a block's end holds the
    block's last character."""
    import numpy as np  # here: only texts of _PREFILTER_FROM and more need it

    found: list[int] = []
    closes: list[int] = []
    deep: list[int] = []
    percents: list[int] = []
    bars: list[int] = []
    table_a = np.frombuffer(_TABLE_A, dtype=np.uint8)
    table_b = np.frombuffer(_TABLE_B, dtype=np.uint8)
    for base in range(0, len(text), _BLOCK):
        n = min(_BLOCK, len(text) - base)
        # The block and `_LOOK` characters past it, zero padded at the text's end;
        # encoded block by block, so a large file is never held twice.
        w = text[base : base + n + _LOOK].encode("ascii")
        w += bytes(n + _LOOK - len(w))
        raw = np.frombuffer(w, dtype=np.uint8)
        # One translate for the whole block (each costs about as much as the rest of
        # the block's work); the other classes only where a token can start.
        c = np.frombuffer(w.translate(_TABLE_W), dtype=np.uint8)
        # 0/1 bytes viewed as bools: nonzero is several times faster on bools.
        at = np.flatnonzero((c[:n] & (c[1 : n + 1] >> 1) & 1).view(bool))
        r2 = raw[at + 2]
        a1, a2, a3 = table_a[raw[at + 1]], table_a[r2], table_a[raw[at + 3]]
        keep = ((a1 & 4) == 0) | ((table_b[r2] & 1) != 0)  # `- `, `---`: no number
        keep &= ((a1 & 8) == 0) | ((a2 & 128) == 0)  # one digit: a safe number
        # A boolean's first letter counts only with its second and third.
        keep &= ((a1 & 16) == 0) | (((a2 & 32) != 0) & ((a3 & 64) != 0))
        number = keep & ((a1 & 8) != 0)
        if number.any():
            # Most runs are short: a narrow window first, the full one for the rest.
            starts = at[number] + 1
            plain = _plain_numbers(raw, starts, _NARROW)
            plain[~plain] = _plain_numbers(raw, starts[~plain])
            keep[number] = ~plain
        found += [base + i for i in at[keep].tolist() if _RISKY_TOKEN.match(text, base + i)]
        at = np.flatnonzero((c[:n] & (4 | 8 | 16 | 64 | 128)) != 0)
        marks = c[at]
        key = at[((marks & 4) != 0) & (raw[at + 1] == 58) & ((c[at + 2] & 2) != 0)]  # 58: `:`
        found += [base + i for i in key.tolist() if _RISKY_AFTER_JSON_KEY.match(text, base + i)]
        found += (at[(marks & 16) != 0] + base).tolist()
        closes += (at[(marks & 8) != 0] + base).tolist()
        percents += (at[(marks & 64) != 0] + base).tolist()
        bars += (at[(marks & 128) != 0] + base).tolist()
        whole = n // _DEEP_GROUP * _DEEP_GROUP
        words = c[:whole].view(np.uint64).reshape(-1, _DEEP_GROUP // 8)
        full = (np.bitwise_and.reduce(words, axis=1) & _DEEP_WORD) == _DEEP_WORD
        deep += (np.flatnonzero(full) * _DEEP_GROUP + base).tolist()
        if base + n < len(text) and c[n - 1] & 32:
            deep.append(base + n - 1)
    ends = (pos for pos in closes if _COLLECTION_KEY_END.match(text, pos))
    return _Scan(found + _collection_keys(text, ends), deep, percents, bars)


_ITEMS_KEY = re.compile(r"\nitems:[ \t]*(?:#[^\n]*)?\r?(?=\n|$)")
_ITEMS_KEY_AT_START = re.compile(r"items:[ \t]*(?:#[^\n]*)?\r?(?=\n|$)")
_FIRST_ENTRY = re.compile(r"^( *)-(?=[ \t\r\n]|$)", re.MULTILINE)


# The yaml-rs call every document makes; a partial, not a wrapper function: one
# Python frame less per document.
_fast: Callable[[str], Any] = partial(
    yaml_rs.loads,
    parse_datetime=False,
    duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.Error,
)
"""yaml-rs on one document; raises on anything it does not take."""


@lru_cache(maxsize=64)
def _entry_patterns(indent: int) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """An entry's dash at `indent`; the first line that ends a sequence there (indented
    no more than its dashes, and neither an entry, a comment nor blank)."""
    entry = re.compile(rf"\n {{{indent}}}-(?=[ \t\r\n]|$)")
    stop = re.compile(rf"\n {{0,{indent}}}(?:[^ \-#\r\n]|-[^ \t\r\n])")
    return entry, stop


@dataclass(frozen=True, slots=True)
class _Spans:
    """The entries of a List's `items` sequence, entry k at index k of each list."""

    starts: list[int]  # offset of the entry's dash in the document's text
    ends: list[int]  # offset where the next entry (or the sequence's end) is
    dash_lines: list[int]  # absolute line of the dash
    lines: list[int]  # absolute line where the entry's content starts


def _first_entry(text: str, unique: bool = True) -> re.Match[str] | None:
    """The first entry's dash (its indent in group 1) of the block sequence under the
    document's one top-level `items:` key; None when there is no such key, or two,
    or its value is not a block sequence. `unique=False`: the first key is taken and
    the caller checks that none follows (one would be at a line start past the dash:
    only blank and comment lines lie between the key and its first entry)."""
    at_start = _ITEMS_KEY_AT_START.match(text)
    found = [at_start.end()] if at_start else []
    for at in () if found and not unique else _finds(text, "\nitems:"):
        if m := _ITEMS_KEY.match(text, at):
            found.append(m.end())
            if not unique:
                break
    if len(found) != 1:
        return None
    first = _CONTENT.search(text, found[0])
    return _FIRST_ENTRY.match(text, first.start()) if first else None


def _item_spans(chunk: _Chunk) -> _Spans | None:
    """The entries of a block `items:` sequence at the top of the document; None when
    it is not found plainly (flow style, indented document, `items` given twice)."""
    text = chunk.text
    numpy_pays = _prefilter_pays(len(text)) and text.isascii()
    head = _first_entry(text, unique=not numpy_pays)
    if head is None:
        return None
    indent = len(head.group(1))
    found = (_entries_ascii if numpy_pays else _entries)(text, head.start(), indent)
    if found is None:
        return None
    starts, lines, end, maybe_alone = found
    ends = starts[1:]
    ends.append(end)
    base = chunk.line - 1
    dash_lines = [base + line for line in lines]
    content = dash_lines.copy()
    for k in [k for k, maybe in enumerate(maybe_alone) if maybe]:
        rest = _EMPTY_REST.match(text, starts[k] + indent + 1)
        if rest is None:
            continue
        nxt = _CONTENT.search(text, rest.end(), ends[k])  # `-` alone: content is below
        if nxt is None:
            return None
        content[k] += text.count("\n", starts[k], nxt.start())
    return _Spans(starts, ends, dash_lines, content)


# What `_entries` and `_entries_ascii` find of a sequence: each entry's dash (the
# first at the `head` given), its 1-based line in the text, where the sequence ends,
# and for each entry whether the rest of its line may be empty (`_EMPTY_REST`, to
# be checked; False: certainly not).
_Entries = tuple[list[int], list[int], int, list[bool]]


def _entries(text: str, head: int, indent: int) -> _Entries:
    """The sequence's entries by regex: the first stop line ends it."""
    entry, stop = _entry_patterns(indent)
    m = stop.search(text, head)
    end = m.start() + 1 if m else len(text)
    starts = [head]  # `\n` before each later dash: the first has it at -1
    starts += [e.start() + 1 for e in entry.finditer(text, head, end)]
    # Each dash's line: the newlines before it, each counted once.
    count = text.count
    lines = list(accumulate(count("\n", a, b) for a, b in pairwise([0, *starts])))
    return starts, [n + 1 for n in lines], end, [True] * len(starts)


def _entries_ascii(text: str, head: int, indent: int) -> _Entries | None:
    """`_entries` in numpy for a large ASCII text: each line after `head` classified
    at once from its first characters, as `_entry_patterns`' regexes would (the
    regexes visited every newline twice, and the lines were counted a third time).
    None when another top-level `items:` key follows (`_first_entry(unique=False)`)."""
    import numpy as np

    size = len(text)
    raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    nl = np.flatnonzero(raw[head:] == 10) + head

    def char(pos: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        # Past the end reads the last character: `has*` below, or a line cut short
        # by the end (neither an entry nor a stop either way), make up for it.
        return raw.take(pos, mode="clip")

    # Lines with more than `indent` leading spaces are neither entries nor stops:
    # only the others (in a pod list, about one line in seventy) are looked at.
    deeper = np.ones(len(nl), dtype=bool)
    for j in range(1, indent + 2):
        deeper &= char(nl + j) == 32
    at = np.flatnonzero(~deeper)  # indices into nl: the line after nl[at[i]]
    q = nl[at]
    lead = np.zeros(len(q), dtype=np.intp)  # leading spaces, at most `indent`
    spaces = np.ones(len(q), dtype=bool)
    for j in range(1, indent + 1):
        spaces &= char(q + j) == 32
        lead += spaces
    first = q + 1 + lead  # the first character after those spaces
    c0, c1, c2 = char(first), char(first + 1), char(first + 2)
    has0, has1, has2 = first < size, first + 1 < size, first + 2 < size
    keys = q[(lead == 0) & has0 & (c0 == ord("i"))].tolist()
    if any(_ITEMS_KEY.match(text, p) for p in keys):
        return None
    dash = has0 & (c0 == 45)
    # `-(?=[ \t\r\n]|$)`: `$` is the end, or a last newline (which is a newline).
    blank1 = ~has1 | (c1 == 32) | (c1 == 9) | (c1 == 13) | (c1 == 10)
    # The stop regex: `\n {0,indent}(?:[^ \-#\r\n]|-[^ \t\r\n])`; c0 is no space.
    other = has0 & (c0 != 45) & (c0 != 35) & (c0 != 13) & (c0 != 10)
    stops = np.flatnonzero(other | (dash & ~blank1))
    last = int(stops[0]) if len(stops) else len(q)
    end = int(q[last]) + 1 if len(stops) else size
    entry = np.flatnonzero((lead[:last] == indent) & dash[:last] & blank1[:last])
    # After `- ` a character that is neither blank nor `#`: the line holds content.
    sure = has2 & ((c1 == 32) | (c1 == 9))
    sure &= (c2 != 32) & (c2 != 9) & (c2 != 35) & (c2 != 13) & (c2 != 10)
    before = text.count("\n", 0, head)
    starts = [head, *(q[entry] + 1).tolist()]
    # The dash after the i-th newline past `head` is on line before + i + 2.
    lines = [before + 1, *(at[entry] + before + 2).tolist()]
    maybe = [True, *(~sure[entry]).tolist()]
    return starts, lines, end, maybe


def _deep(text: str) -> bool:
    """Whether a line of `text` opens 400 levels or more (`_DEEP`)."""
    return _DEEP.search(text) is not None or _DEEP_AT_START.match(text) is not None


def _load_fast(chunk: _Chunk, scanned: list[int] | None = None) -> YamlDocument | None:
    """The document by the fast path, or None for the slow one. `scanned`: the token
    scans' offsets in chunk.text, when a larger text was scanned at once."""
    assert chunk.content_line is not None
    text = chunk.text
    if scanned is None and _prefilter_pays(len(text)) and text.isascii():
        # One pass gives the token offsets and where `_DEEP` may match (a List cut
        # into pieces: `_DEEP.search` over each piece cost as much as the scan).
        scan = _scan_ascii(text)
        if scan.deep and _deep(text):
            return None
        scanned = scan.found
    elif _deep(text):
        return None
    return _fast_document(chunk, _risky(text, scanned))


def _fast_document(chunk: _Chunk, risky: list[int]) -> YamlDocument | None:
    """The document by the fast path, given what `_risky` found in it (not deep)."""
    assert chunk.content_line is not None
    spans: _Spans | None = None
    if risky:
        # Inside a List, only the entries holding a risky token are read slowly.
        spans = _item_spans(chunk)
        if not spans or not spans.starts[0] <= risky[0] <= risky[-1] < spans.ends[-1]:
            return None
    try:
        value = _fast(chunk.text)
    except Exception:
        return None
    items = value.get("items") if isinstance(value, dict) else None
    if not isinstance(items, list):
        return None if risky else _document(value, chunk.content_line, None, None, ())
    if not items and not risky:
        return _document(value, chunk.content_line, (), None, ())
    if spans is None:
        spans = _item_spans(chunk)
    if spans is None or len(spans.starts) != len(items):
        return None
    if risky:
        for k in sorted({bisect_right(spans.starts, pos) - 1 for pos in risky}):
            text = chunk.text[spans.starts[k] : spans.ends[k]]
            doc = _load_slow(_Chunk(text, spans.dash_lines[k], spans.dash_lines[k]), False)
            if doc.error is not None or doc.duplicate_keys:
                return None
            if not isinstance(doc.value, list) or len(doc.value) != 1:
                return None
            items[k] = doc.value[0]
    return _document(value, chunk.content_line, tuple(spans.lines), None, ())


# --- the slow path ---------------------------------------------------------------------


class _Constructor(yaml.constructor.SafeConstructor):
    """SafeConstructor with plain data only, and duplicate keys recorded."""

    duplicates: list[tuple[int, str]]

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if key_node.tag == "tag:yaml.org,2002:value":  # `=`: a string as a key
                key: Any = key_node.value
            else:
                key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    self.duplicates.append((key_node.start_mark.line + 1, str(key)))
                seen.add(key)
            except TypeError:  # unhashable: the base class says so
                break
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: ScalarNode) -> int:
        try:
            return super().construct_yaml_int(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"integer not read: {exc}", node.start_mark
            ) from None

    def construct_str(self, node: ScalarNode) -> str:
        return str(self.construct_scalar(node))

    def construct_yaml_set(self, node: MappingNode) -> Any:
        data: dict[Any, Any] = {}
        yield data
        data.update(self.construct_mapping(node))

    def construct_yaml_pairs(self, node: SequenceNode) -> Any:
        data: list[dict[Any, Any]] = []
        yield data
        for entry in node.value:
            if not isinstance(entry, MappingNode):
                raise yaml.constructor.ConstructorError(
                    "while reading pairs", node.start_mark, "expected a mapping", entry.start_mark
                )
            data.append(self.construct_mapping(entry))


_OWN: dict[str, Any] = {
    "timestamp": _Constructor.construct_str,
    "binary": _Constructor.construct_str,
    "set": _Constructor.construct_yaml_set,
    "omap": _Constructor.construct_yaml_pairs,
    "pairs": _Constructor.construct_yaml_pairs,
    "int": _Constructor.construct_yaml_int,
}
for _tag, _construct in _OWN.items():
    _Constructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _construct)


class _PurePythonParser(
    yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer
):
    """For a PyYAML built without libyaml."""

    def __init__(self, text: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)

    def dispose(self) -> None:
        yaml.parser.Parser.dispose(self)


_Parser: Any = getattr(yaml, "cyaml", None) and getattr(yaml.cyaml, "CParser", None)
if _Parser is None:  # pragma: no cover - PyYAML wheels ship libyaml
    _Parser = _PurePythonParser


class _SlowLoader(_Parser, _Constructor, yaml.resolver.Resolver):  # type: ignore[misc]
    def __init__(self, text: str) -> None:
        _Parser.__init__(self, text)
        _Constructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self.duplicates = []


def _expanded_size(root: Node) -> int:
    """Nodes in the tree that `root` stands for, aliases expanded; raises
    ComposerError for an alias inside itself. Iterative: no recursion limit."""
    size: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            if size[key] > MAX_ALIAS_NODES * 2:
                return size[key]
            continue
        if key in size:
            continue
        if key in open_:
            raise yaml.composer.ComposerError(
                None, None, "an alias refers to a node that contains it", node.start_mark
            )
        open_.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)
    return size[id(root)]


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _distinct(root: Node) -> int:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(_children(node))
    return len(seen)


def _error_line(exc: BaseException, base: int) -> int | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return base - 1 + mark.line + 1 if mark is not None else None


def _load_slow(chunk: _Chunk, want_items: bool = True) -> YamlDocument:
    doc_line = chunk.content_line if chunk.content_line else chunk.line
    bad = _not_printable().search(chunk.text)
    if bad is not None:
        line = chunk.line + chunk.text.count("\n", 0, bad.start())
        what = f"U+{ord(bad.group()):04X}"
        return YamlDocument(None, doc_line, None, f"line {line}: character {what} is not allowed")
    if chunk.stray:
        return YamlDocument(
            None, doc_line, None, f"line {doc_line}: a document after '...' must start with '---'"
        )
    loader = _SlowLoader(chunk.text)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node) - _distinct(node) > MAX_ALIAS_NODES:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"aliases expand past {MAX_ALIAS_NODES:,} nodes (an alias bomb?)",
                node.start_mark,
            )
        value = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        line = _error_line(exc, chunk.line) or doc_line
        what = exc.problem or exc.context or str(exc).splitlines()[0]
        return YamlDocument(None, doc_line, None, f"line {line}: {what}")
    except yaml.YAMLError as exc:
        return YamlDocument(None, doc_line, None, f"line {doc_line}: {str(exc).splitlines()[0]}")
    except (ValueError, RecursionError, UnicodeError, OverflowError) as exc:
        return YamlDocument(None, doc_line, None, f"line {doc_line}: {type(exc).__name__}: {exc}")
    finally:
        loader.dispose()
    offset = chunk.line - 1
    dups = tuple(sorted((offset + line, key) for line, key in loader.duplicates))
    item_lines: tuple[int, ...] | None = None
    if want_items and isinstance(value, dict) and isinstance(value.get("items"), list):
        item_lines = _node_item_lines(node, offset)
    return YamlDocument(value, doc_line, item_lines, None, dups)


def _node_item_lines(node: Node, offset: int) -> tuple[int, ...] | None:
    seq: Node | None = None
    if isinstance(node, MappingNode):
        for key, val in node.value:
            if isinstance(key, ScalarNode) and key.value == "items":
                seq = val
    if not isinstance(seq, SequenceNode):
        return None
    return tuple(offset + n.start_mark.line + 1 for n in seq.value)


@cache
def _not_printable() -> re.Pattern[str]:
    # Compiled on the first slow-path document, not at import: the astral range costs
    # the regex compiler 30 ms.
    return re.compile(r"[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


# --- the stream ------------------------------------------------------------------------


def load_stream(text: str) -> list[YamlDocument]:
    """Every document of `text`, in order, as PyYAML's `load_all` finds them (an
    explicit empty document is a None value); never raises."""
    text = _without_bom(text)
    return load_chunks(text, stream_chunks(text))


def _without_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text  # lines count newlines: none lost


def stream_chunks(text: str) -> list[_Chunk]:
    """`text` (without its byte-order mark) cut into documents: one pass, cheap. A run
    of them can be loaded apart (`load_chunks`), e.g. in another process."""
    return _chunks(text)


def documents_in(chunks: Iterable[_Chunk]) -> int:
    """How many documents `load_chunks` makes of these chunks (stray empty ones are
    not documents)."""
    return sum(1 for c in chunks if c.content_line is not None or not c.stray)


def load_chunks(text: str, chunks: list[_Chunk]) -> list[YamlDocument]:
    """The documents of a run of consecutive `chunks` of `text`, as `load_stream`
    makes them."""
    region = _region_scan(text, chunks) if len(chunks) > 1 else None
    out: list[YamlDocument] = []
    for k, chunk in enumerate(chunks):
        if chunk.content_line is None:
            if chunk.stray:
                continue
            out.append(YamlDocument(None, chunk.line, None))
            continue
        doc = None
        if chunk.stray:
            pass
        elif region is None:
            doc = _load_fast(chunk)
        elif k in region.doubtful:
            doc = _load_fast(chunk, region.scanned.get(k, []))
        elif _plain_ends(chunk.text, k not in region.bars):
            # What `_risky` checks per document besides the region's scans: then it
            # would find nothing, and `_load_fast` would go straight to this.
            doc = _fast_document(chunk, [])
        else:
            doc = _load_fast(chunk, [])
        out.append(doc if doc is not None else _load_slow(chunk))
    return out


_SIGN_FOLLOWS = frozenset("0123456789._")  # what may follow a sign in `_NUMBER`
_TOKEN_FIRST = frozenset("-+._0123456789YyNnOo<=!&*?")  # `_TOKEN`'s lookahead


def _plain_ends(text: str, no_bar: bool) -> bool:
    """Neither `_ends_risky(text)` nor `_RISKY_AT_START.match(text)`, settled from a
    character or two in the common case: a document (or its last `_TAIL` characters:
    the region's scan says, `no_bar`) without `|` or `>`, ending in a newline after
    something else than whitespace, and starting with no character a token can
    start with, or with a sign not followed by `[0-9._]` (`---`). Otherwise the two
    checks run."""
    plain_tail = no_bar and len(text) > 1 and text[-1] == "\n" and not text[-2].isspace()
    if not plain_tail and _ends_risky(text):
        return False
    c = text[:1]
    if c in _TOKEN_FIRST and not (c in "-+" and text[1:2] not in _SIGN_FOLLOWS):
        return _RISKY_AT_START.match(text) is None
    return True


@dataclass(frozen=True, slots=True)
class _RegionScan:
    """The scans of a run of documents done once for all of them (chunk indices)."""

    scanned: dict[int, list[int]]  # the token scans' offsets in each chunk's text
    # Chunks where `_DEEP` or a directive may match, or the scans found something.
    doubtful: set[int]
    bars: set[int]  # chunks holding a `|` or `>`


def _region_scan(text: str, chunks: list[_Chunk]) -> _RegionScan | None:
    """A stream of many small documents (helm template, one object per document) is
    scanned once, as a whole: the prefilter's fixed cost per call exceeds its gain on
    a small document, and so do the per-document regexes. Slicing the whole scan
    gives each document a superset of its own scan's offsets (a token right after a
    document's end counts for it, and only sends it to the slow path). The same pass
    finds where `_DEEP` and a directive could match; only those documents, and the
    ones with tokens, go through `_load_fast`'s checks one by one. None when the run
    is not scanned whole (small, or not ASCII)."""
    lo = chunks[0].offset
    region = text[lo : chunks[-1].offset + len(chunks[-1].text)]
    if not (_prefilter_pays(len(region)) and region.isascii()):
        return None
    scan = _scan_ascii(region)
    starts = [c.offset - lo for c in chunks]
    ends = [s + len(c.text) for s, c in zip(starts, chunks, strict=True)]

    def owner(pos: int) -> int | None:
        k = bisect_right(starts, pos) - 1
        return k if k >= 0 and pos < ends[k] else None  # between chunks: nobody's

    scanned: dict[int, list[int]] = {}
    for pos in scan.found:
        if (k := owner(pos)) is not None:
            scanned.setdefault(k, []).append(pos - starts[k])
    doubtful = set(scanned)
    for pos in scan.deep:
        if (k := owner(pos)) is not None:
            doubtful.add(k)
    for pos in scan.percents:
        # A directive: `%` at a chunk's start or after a newline inside it.
        k = owner(pos)
        if k is not None and (pos == starts[k] or region[pos - 1] == "\n"):
            doubtful.add(k)
    bars = {k for pos in scan.bars if (k := owner(pos)) is not None}
    return _RegionScan(scanned, doubtful, bars)


# --- a kind: List cut into pieces --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListSplit:
    """A one-document `kind: List` cut so that its parts load apart: `head` is the
    document with the entries of its block `items:` sequence taken out (so `items` is
    null), each piece (`piece(k)`) an `items:` key over a run of those entries, at
    their own lines. Loaded with `load_piece`, each piece gives `{"items": [...]}` and
    the entries' lines; concatenated, the pieces' items are the List's."""

    head: _Chunk
    text: str
    spans: tuple[tuple[int, int, int], ...]  # each piece's text[a:b] and line(a)
    counts: tuple[int, ...]  # entries in each piece, as the text shows them

    def piece(self, k: int) -> _Chunk:
        """Piece k's text, copied where it is loaded (in a loading child, not in the
        parent before the work is shared out)."""
        a, b, line = self.spans[k]
        return _Chunk("items:\n" + self.text[a:b], line - 1, line - 1)


def split_list(text: str, chunk: _Chunk, parts: int) -> ListSplit | None:
    """`text`, whose one document is `chunk` (`stream_chunks`), cut into `parts`
    pieces of about the same size, or None when it does not hold a plain block
    `items:` sequence (then load it whole)."""
    if chunk.stray or chunk.content_line is None:
        return None
    head = _first_entry(text)
    if head is None:
        return None
    entry, stop = _entry_patterns(len(head.group(1)))
    dash = "\n" + head.group(1) + "-"
    # The sequence ends at the first stop line after its last entry: a stop before
    # it (another key's sequence after `items`) leaves entries that `load_piece`'s
    # caller finds miscounted, and the List is then read whole.
    m = stop.search(text, max(head.start(), text.rfind(dash)))
    end = m.start() + 1 if m else len(text)
    cuts = [head.start()]
    for k in range(1, parts):
        at = entry.search(
            text, max(cuts[-1] + 1, head.start() + (end - head.start()) * k // parts), end
        )
        if at is None:
            break
        cuts.append(at.start() + 1)
    cuts.append(end)
    line = _line_counter(text)
    spans = tuple((a, b, line(a)) for a, b in pairwise(cuts))
    # Inside the sequence a line indented as its dashes is an entry, so str.count
    # (in C) counts them; a miscount only sends the List to be read whole.
    counts = tuple(1 + text.count(dash, a, b) for a, b in pairwise(cuts))
    rest = text[: head.start()] + text[end:]
    return ListSplit(_Chunk(rest, chunk.line, chunk.content_line), text, spans, counts)


def _finds(text: str, needle: str) -> Iterator[int]:
    """Every offset of `needle` in `text` (str.find: C speed on a literal)."""
    at = text.find(needle)
    while at != -1:
        yield at
        at = text.find(needle, at + 1)


def load_piece(piece: _Chunk) -> YamlDocument:
    """One part of a `ListSplit`, as `load_chunks` would load a document."""
    return _load_fast(piece) or _load_slow(piece)
