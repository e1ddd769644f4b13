"""Oracles for yamlload's per-region and numpy paths: the code they replaced (commit
887a175) is kept here verbatim as the reference, and the new code must give exactly
what it gave (chunks, List spans, which documents take the slow path, the documents)
on generated texts full of traps at the edges: directives, deep nesting at the first
and last document of a run, an empty block scalar at a document's end, `...`
markers, stray content after them, CRLF, a byte-order mark, blocks of the prefilter
ending inside a document."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from netpol_doctor import yamlload
from netpol_doctor.yamlload import YamlDocument, _Chunk

# --- the reference: 887a175's code ------------------------------------------------------


def _line_counter(text: str) -> Callable[[int], int]:
    state = [0, 1]

    def line(pos: int) -> int:
        state[1] += text.count("\n", state[0], pos)
        state[0] = pos
        return state[1]

    return line


def ref_chunks(text: str) -> list[_Chunk]:
    y = yamlload
    line = _line_counter(text)
    out: list[_Chunk] = []
    bounds: list[tuple[int, str]] = [(0, "")]
    first_marker = y._MARKER_AT_START.match(text)
    if first_marker:
        bounds = [(0, first_marker.group())]
    bounds += [(m.start() + 1, m.group()[1:]) for m in y._MARKER.finditer(text)]
    pending: tuple[int, int] | None = None
    for i, (start, marker) in enumerate(bounds):
        end = bounds[i + 1][0] if i + 1 < len(bounds) else len(text)
        first = line(start)
        if marker == "---":
            rest = y._EMPTY_REST.match(text, start + 3)
            content: int | None = first
            if rest is not None:
                m = y._CONTENT.search(text, rest.end(), end)
                content = line(m.start()) if m else None
            begin, begin_line = pending if pending else (start, first)
            out.append(_Chunk(text[begin:end], begin_line, content, offset=begin))
            pending = None
            continue
        body = start + len(marker)
        m = y._CONTENT_NOT_DIRECTIVE.search(text, body, end)
        if m is not None:
            out.append(_Chunk(text[body:end], first, line(m.start()), marker == "...", offset=body))
            pending = None
        else:
            d = y._DIRECTIVE.search(text, body, end)
            pending = (d.start(), line(d.start())) if d else None
    return out


def _ref_first_entry(text: str) -> re.Match[str] | None:
    y = yamlload
    found = [m.end() for at in y._finds(text, "\nitems:") if (m := y._ITEMS_KEY.match(text, at))]
    at_start = y._ITEMS_KEY_AT_START.match(text)
    if at_start:
        found.append(at_start.end())
    if len(found) != 1:
        return None
    first = y._CONTENT.search(text, found[0])
    return y._FIRST_ENTRY.match(text, first.start()) if first else None


Span = tuple[int, int, int, int]  # start, end, dash line, content line


def ref_item_spans(chunk: _Chunk) -> list[Span] | None:
    y = yamlload
    text = chunk.text
    head = _ref_first_entry(text)
    if head is None:
        return None
    entry, stop = y._entry_patterns(len(head.group(1)))
    m = stop.search(text, head.start())
    end = m.start() + 1 if m else len(text)
    starts = [head.start()]
    starts += [e.start() + 1 for e in entry.finditer(text, head.start(), end)]
    line = _line_counter(text)
    spans = []
    for i, s in enumerate(starts):
        limit = starts[i + 1] if i + 1 < len(starts) else end
        dash = chunk.line - 1 + line(s)
        rest = y._EMPTY_REST.match(text, head.end() - head.start() + s)
        if rest is None:
            spans.append((s, limit, dash, dash))
            continue
        nxt = y._CONTENT.search(text, rest.end(), limit)
        if nxt is None:
            return None
        spans.append((s, limit, dash, chunk.line - 1 + line(nxt.start())))
    return spans


def _ref_risky(text: str, scanned: list[int] | None) -> list[int]:
    y = yamlload
    if text.startswith("%") or "\n%" in text:
        return [0]
    tail = text[-4096:].rstrip()
    if "|" in tail[tail.rfind("\n") + 1 :] or ">" in tail[tail.rfind("\n") + 1 :] or not tail:
        return [0]
    if scanned is not None:
        found = list(scanned)
    elif y._prefilter_pays(len(text)) and text.isascii():
        found = y._risky_ascii(text)
    else:
        found = [m.start() for m in y._RISKY_TOKEN.finditer(text)]
        found += [m.start() for m in y._FORBIDDEN.finditer(text)]
        found += [m.start() for m in y._RISKY_AFTER_JSON_KEY.finditer(text)]
        ends = (m.start() for m in y._COLLECTION_KEY_END.finditer(text))
        found += y._collection_keys(text, ends)
    if y._RISKY_AT_START.match(text):
        found.append(0)
    return sorted(found)


def _ref_load_fast(chunk: _Chunk, scanned: list[int] | None = None) -> YamlDocument | None:
    y = yamlload
    if y._DEEP.search(chunk.text) or y._DEEP_AT_START.match(chunk.text):
        return None
    # From here on 887a175's `_load_fast` is today's `_fast_document`, spans aside
    # (compared on their own below).
    return y._fast_document(chunk, _ref_risky(chunk.text, scanned))


def ref_load_chunks(text: str, chunks: list[_Chunk]) -> list[YamlDocument]:
    from bisect import bisect_left

    y = yamlload
    out: list[YamlDocument] = []
    whole = None
    if len(chunks) > 1:
        lo = chunks[0].offset
        region = text[lo : chunks[-1].offset + len(chunks[-1].text)]
        if y._prefilter_pays(len(region)) and region.isascii():
            whole = sorted(lo + pos for pos in y._risky_ascii(region))
    for chunk in chunks:
        if chunk.content_line is None:
            if chunk.stray:
                continue
            out.append(YamlDocument(None, chunk.line, None))
            continue
        scanned = None
        if whole is not None:
            first = bisect_left(whole, chunk.offset)
            last = bisect_left(whole, chunk.offset + len(chunk.text), first)
            scanned = [pos - chunk.offset for pos in whole[first:last]]
        doc = None if chunk.stray else _ref_load_fast(chunk, scanned)
        out.append(doc if doc is not None else y._load_slow(chunk))
    return out


# --- generated texts ----------------------------------------------------------------------

_DOCS = [
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  uid: 1e3e-84f9\nspec:\n  port: 8080\n",
    "a: 1\nb: yes\n",
    "a: 0755\n",
    "k: v\n",
    "# only a comment\n",
    "",
    "\n\n",
    "text: |\n",  # an empty block scalar at the document's end
    "text: >-\n\n",
    "text: |\n  body\n",
    "a: |  \n   \n",
    "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n",
    "a: 50%\nb: '%x'\n%c: 1\n",
    "- " * 450 + "x\n",  # deep nesting
    "a:\n" + " " * 420 + "b: 1\n",
    " " * 401 + "a: 1\n",
    "a: [b, c]\n? d\n: e\n",
    "a: &x 1\nb: *x\n",
    "a: 1\n...\nstray: 2\n",
    "a: 1\r\nb: 2\r\n",
    "a: \t1\n",
    "items:\n- a: 1\n- b: 2\n  c: on\nkind: List\n",
    "items:\n  -\n    a: 1\n  - # c\n    b: 2\n",
    "-1: x\n+x: -y\n--: +.5\n",
]
_MARKERS = ["---\n", "--- \n", "--- # c\n", "---\r\n", "...\n---\n", "...\n", "", "--- |\n"]
_MARKERS += ["---\n# Source: x.yaml\n", "---\n\n# c\n  \n", "---\n%YAML 1.1\n---\n", "--- a: 1\n"]
_MARKERS += ["---\n\r  x: 1\n", "---\t\n"]


def _streams(seed: int, count: int, docs: int) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(count):
        parts = [rng.choice(_MARKERS) + rng.choice(_DOCS) for _ in range(rng.randint(1, docs))]
        text = "".join(parts)
        if rng.random() < 0.2:
            text = text.rstrip("\n")  # no newline at the end
        if rng.random() < 0.1:
            text = text.replace("\n", "\r\n")
        yield text


def _chunk_key(c: _Chunk) -> tuple[Any, ...]:
    return (c.text, c.line, c.content_line, c.stray, c.offset)


def _doc_key(d: YamlDocument) -> tuple[Any, ...]:
    return (repr(d.value), d.line, d.item_lines, d.error, d.duplicate_keys)


@pytest.mark.parametrize("numpy_path", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_chunks_are_the_reference_chunks(
    monkeypatch: pytest.MonkeyPatch, seed: int, numpy_path: bool
) -> None:
    _numpy_or_regex(monkeypatch, numpy_path)
    for text in _streams(seed, 400, 12):
        got = [_chunk_key(c) for c in yamlload._chunks(text)]
        assert got == [_chunk_key(c) for c in ref_chunks(text)], repr(text)


@pytest.mark.parametrize("numpy_path", [False, True])
def test_chunks_of_the_line_tables(monkeypatch: pytest.MonkeyPatch, numpy_path: bool) -> None:
    _numpy_or_regex(monkeypatch, numpy_path)
    edges = ["", "---", "...", "--- ", "a", "---\n---", "#c\n---\n#", "%Y\n", "\n---\n..."]
    edges += ["\n--", "\n---x", "\n-- -", "\n..-", "\n---\r", "\n...\t", "\n\n---"]
    for text in edges:
        got = [_chunk_key(c) for c in yamlload._chunks(text)]
        assert got == [_chunk_key(c) for c in ref_chunks(text)], repr(text)


def _numpy_or_regex(monkeypatch: pytest.MonkeyPatch, numpy_path: bool) -> None:
    if numpy_path:
        _prefilter_everywhere(monkeypatch, 1 << 22)
    else:
        monkeypatch.setattr(yamlload, "_PREFILTER_FROM", 1 << 40)


def _prefilter_everywhere(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    monkeypatch.setattr(yamlload, "_PREFILTER_FROM", 0)
    monkeypatch.setattr(yamlload, "_NUMPY_PAYS_FROM", 0)
    monkeypatch.setattr(yamlload, "_BLOCK", block)


def _slow_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    calls: list[tuple[str, int]] = []
    real = yamlload._load_slow

    def spy(chunk: _Chunk, want_items: bool = True) -> YamlDocument:
        calls.append((chunk.text, chunk.line))
        return real(chunk, want_items)

    monkeypatch.setattr(yamlload, "_load_slow", spy)
    return calls


@pytest.mark.parametrize(
    ("block", "prefilter"), [(7, True), (64, True), (1 << 22, True), (0, False)]
)
def test_a_run_reads_and_chooses_paths_as_the_reference(
    monkeypatch: pytest.MonkeyPatch, block: int, prefilter: bool
) -> None:
    """Per-region checks (deep lines, directives, tokens) against 887a175's per-document
    ones: the same documents, and the same documents (and List entries) read slowly."""
    if prefilter:
        _prefilter_everywhere(monkeypatch, block)
    calls = _slow_calls(monkeypatch)
    for text in _streams(block, 150, 10):
        chunks = yamlload.stream_chunks(text)
        for a, b in [(0, len(chunks)), (1, len(chunks)), (0, len(chunks) - 1)]:
            calls.clear()
            want = [_doc_key(d) for d in ref_load_chunks(text, chunks[a:b])]
            want_slow = list(calls)
            calls.clear()
            got = [_doc_key(d) for d in yamlload.load_chunks(text, chunks[a:b])]
            assert got == want, repr(text)
            assert calls == want_slow, repr(text)


@pytest.mark.parametrize(
    "first",
    [
        "yes: 1\n",
        "0755: a\n",
        "-1: x\n",
        "+5: x\n",
        "-.5: x\n",
        "-_1: x\n",
        "-x: 1\n",
        "--: 1\n",
        "? a\n: b\n",
        "&a x: 1\n",
        "!!str a: b\n",
        "*a\n",
        ".inf: 1\n",
        "on: [a]\n",
        "No\n",
        "<<: {}\n",
        "=: 1\n",
        "a: 1\n",
    ],
)
def test_a_token_at_the_stream_start(monkeypatch: pytest.MonkeyPatch, first: str) -> None:
    """The region's scan finds a token after the character before it; the stream's
    first document has none, so its first token is checked on its own."""
    _prefilter_everywhere(monkeypatch, 64)
    calls = _slow_calls(monkeypatch)
    for text in (first + "---\nk: v\n" * 3, first.replace(":", ": |") + "---\nk: v\n"):
        chunks = yamlload.stream_chunks(text)
        calls.clear()
        want = [_doc_key(d) for d in ref_load_chunks(text, chunks)]
        want_slow = list(calls)
        calls.clear()
        assert [_doc_key(d) for d in yamlload.load_chunks(text, chunks)] == want
        assert calls == want_slow


def test_a_byte_order_mark_and_crlf_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    _prefilter_everywhere(monkeypatch, 64)
    for text in _streams(99, 100, 8):
        text = "\ufeff" + text.replace("\n", "\r\n")
        body = text[1:]
        want = [_doc_key(d) for d in ref_load_chunks(body, ref_chunks(body))]
        assert [_doc_key(d) for d in yamlload.load_stream(text)] == want


def test_deep_and_directive_candidates_cover_every_match(monkeypatch: pytest.MonkeyPatch) -> None:
    """`_scan_ascii` names a position inside every `_DEEP` run and every `%`, whatever
    the block edges."""
    rng = random.Random(7)
    for block in (7, 64, 100, 1 << 22):
        monkeypatch.setattr(yamlload, "_BLOCK", block)
        for _ in range(200):
            run = "".join(rng.choice(" \t-?:") for _ in range(rng.choice([399, 400, 401, 700])))
            text = rng.choice(["", "a\n", "x" * rng.randint(0, 300) + "\n"]) + run
            text += rng.choice(["", "\n", "x\n", "%"])
            scan = yamlload._scan_ascii(text)
            if yamlload._deep(text):
                m = yamlload._DEEP.search(text) or yamlload._DEEP_AT_START.match(text)
                assert m is not None
                assert any(m.start() <= p < m.end() for p in scan.deep), (block, repr(text))
            assert scan.percents == [i for i, c in enumerate(text) if c == "%"]


# --- List spans ---------------------------------------------------------------------------

_ENTRY_LINES = [
    "- a: 1\n",
    "  b: 2\n",
    "-\n",
    "-\n  c: 3\n",
    "- # note\n  d: 4\n",
    "-   \n\n  e: 5\n",
    "-\t\n  f: 6\n",
    "- |\n  text\n",
    "-x: 1\n",
    "# comment\n",
    "\n",
    "  # indented comment\n",
    "kind: List\n",
    "items:\n",
    "itemsx: 1\n",
    " - less: 1\n",
    "   - deeper: 1\n",
    "-\r\n  g: 1\r\n",
    "- \r\n",
    "--- \n",
    "-",
    "- ",
    " ",
]


def _lists(seed: int, count: int) -> Iterator[tuple[str, int]]:
    rng = random.Random(seed)
    for _ in range(count):
        indent = rng.choice([0, 0, 2, 4])
        pad = " " * indent
        lines = [
            ln
            for _ in range(rng.randint(1, 25))
            for ln in rng.choice(_ENTRY_LINES).splitlines(True)
        ]
        body = "".join(pad + ln if ln.strip() else ln for ln in lines)
        head = rng.choice(["items:\n", "apiVersion: v1\nitems:\n", "items:\n# c\n\n"])
        head = rng.choice([head, "items: # c\n"])
        text = head + pad + "- first: 1\n" + body
        if rng.random() < 0.2:
            text += rng.choice(["", "\n", "items:\n- z\n", "kind: List\n", "x"])
        yield text, rng.randint(1, 5)


def _spans(chunk: _Chunk) -> list[Span] | None:
    got = yamlload._item_spans(chunk)
    if got is None:
        return None
    return list(zip(got.starts, got.ends, got.dash_lines, got.lines, strict=True))


@pytest.mark.parametrize("numpy_path", [False, True])
def test_item_spans_are_the_reference_spans(
    monkeypatch: pytest.MonkeyPatch, numpy_path: bool
) -> None:
    _numpy_or_regex(monkeypatch, numpy_path)
    for seed in range(3):
        for text, line in _lists(seed, 500):
            chunk = _Chunk(text, line, line)
            assert _spans(chunk) == ref_item_spans(chunk), repr(text)


def test_list_pieces_load_as_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """`load_piece` (the List cut into pieces) with spans, the deep check and the tokens
    from one scan, against 887a175's `_load_fast`."""
    _prefilter_everywhere(monkeypatch, 64)
    calls = _slow_calls(monkeypatch)
    rng = random.Random(5)
    entries = [
        "- a: 1\n  b: x\n",
        "- a: yes\n",
        "- a:\n" + "  " * 210 + "b: 1\n",
        "- " * 420 + "x\n",
        "- t: |\n",
        "-\n  a: 1\n",
        "- a: 1\n  a: 2\n",
        "- a: 0755\n  b: 10.0.0.1\n",
    ]
    for _ in range(300):
        text = "items:\n" + "".join(rng.choice(entries) for _ in range(rng.randint(1, 12)))
        piece = _Chunk(text, 10, 10)
        calls.clear()
        ref = _ref_load_fast(piece)
        want = _doc_key(ref if ref is not None else yamlload._load_slow(piece))
        want_slow = list(calls)
        calls.clear()
        assert _doc_key(yamlload.load_piece(piece)) == want, repr(text)
        assert calls == want_slow, repr(text)


def test_the_tail_check_is_the_reference_one() -> None:
    rng = random.Random(3)
    pieces = ["a", "|", ">", " ", "\n", "\t", "\x1c", "\x85", "\u3000", "x: |", "#"]
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        if rng.random() < 0.1:
            text = "a: |\n" + " " * rng.randint(4000, 4200) + rng.choice(["", "x", "\n"])
        tail = text[-4096:].rstrip()
        last = tail[tail.rfind("\n") + 1 :]
        assert yamlload._ends_risky(text) == ("|" in last or ">" in last or not tail), repr(text)
