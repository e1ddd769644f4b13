"""yamlload: the values PyYAML's SafeLoader gives (or the documented differences),
exact lines, errors that never escape, duplicate keys, alias bombs."""

from __future__ import annotations

import math
import os
import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from netpol_doctor import yamlload
from netpol_doctor.yamlload import MAX_ALIAS_NODES, YamlDocument, load_stream

ROOT = Path(__file__).resolve().parent.parent


class _Reference(yaml.CSafeLoader):
    """PyYAML's SafeLoader (libyaml) with the differences yamlload documents: timestamps and
    !!binary stay text."""


def _text(loader: yaml.CSafeLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_Reference.add_constructor("tag:yaml.org,2002:timestamp", _text)
_Reference.add_constructor("tag:yaml.org,2002:binary", _text)


def reference(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=_Reference))


def values(text: str) -> list[Any]:
    docs = load_stream(text)
    for d in docs:
        assert d.error is None, d.error
    return [d.value for d in docs]


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types (1 is not 1.0 nor True); nan equals nan."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# --- values: the same as PyYAML ---------------------------------------------------------

SEMANTICS: dict[str, str] = {
    "yaml 1.1 booleans": "a: yes\nb: no\nc: on\nd: off\ne: Yes\nf: NO\ng: On\nh: OFF\n",
    "booleans": "a: true\nb: false\nc: True\nd: FALSE\n",
    "y and n stay strings": "a: y\nb: n\nc: Y\n",
    "octal 0755 (YAML 1.1)": "mode: 0755\nzero: 0\nmore: 0644\n",
    "0o17 is a string in YAML 1.1": "a: 0o17\n",
    "hex": "a: 0x1F\nb: -0x1f\n",
    "underscores": "a: 1_000\nb: 1_000.5\n",
    "binary ints": "a: 0b101\n",
    "sexagesimal": "a: 1:20\nb: 190:20:30\n",
    "infinity and nan": "a: .inf\nb: -.Inf\nc: +.INF\nd: .nan\ne: .NaN\n",
    "exponents": "a: 1e3\nb: 1.0e+3\nc: 1.5e3\nd: 6.8523015e+5\ne: 1E-3\n",
    "plain numbers": "a: 8080\nb: -5\nc: 1.5\nd: -0\ne: -0.0\nf: 0.50\ng: 99999999999999999999\n",
    "signed and dotted": "a: +1\nb: 1.\nc: .5\nd: +.5\n",
    "nulls": "a: ~\nb: null\nc: Null\nd: NULL\ne:\nf: ''\n",
    "quoted stay strings": "a: \"8080\"\nb: 'yes'\nc: \"true\"\nd: '0755'\ne: \"null\"\nf: '1e3'\n",
    "anchors and aliases": "a: &x {p: 1}\nb: *x\nc: [&y 2, *y]\n",
    "merge keys": "base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n",
    "literal and folded": "a: |\n  line1\n  line2\nb: >\n  folded\n  text\nc: |-\n  strip\n"
    "d: |+\n  keep\n\ne: plain\n  continued\n",
    "double-quoted escapes": 'a: "\\x41\\u263A\\U0001F600\\t\\\\ \\"q\\""\nb: "\\N\\_\\e\\0"\n',
    "multi-line quoted": "a: \"one\n  two\n\n  three\"\nb: 'x\n  y'\n",
    "tags": 'a: !!str 123\nb: !!int "7"\nc: !!float 1\nd: !!bool yes\ne: !!str yes\n',
    "non-string keys": "1: a\ntrue: b\n1.5: c\n~: d\non: push\n",
    "flow collections": "a: {b: [1, {c: d}], e: []}\nf: [yes, 'no', 0755]\n",
    "unicode": "name: café ☕ 😀\n",
    "comments": "# head\na: 1 # trailing\n# between\nb: 2\n",
    "CRLF": "a: 1\r\nb: yes\r\nc:\r\n- x\r\n",
    "YAML 1.1 line breaks": "a: x\u2029\nb: 'p\x85q'\n",
    "empty block scalar at the end": "a: |\n\n",
    "empty block scalars": "a: |\nb: >-\n\nc: |+\n\nd: 1\n",
    "scalar document": "--- hello\n",
    "sequence document": "- a\n- 1\n",
    "timestamps quoted": "t: '2025-01-01T00:00:00Z'\n",
    "empty documents": "---\n---\na: 1\n---\n",
    "document end markers": "a: 1\n...\n---\nb: 2\n...\n",
    "directives": "%YAML 1.1\n---\na: 0755\n",
    "kubectl pod": (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-0\n  labels:\n    app: web\n"
        '    version: "2"\n  annotations:\n    enabled: "true"\nspec:\n  containers:\n'
        "  - name: web\n    image: nginx:1.25\n    ports:\n    - containerPort: 8080\n"
        "      protocol: TCP\n    resources: {}\n  securityContext:\n    runAsUser: 1000\n"
        "  volumes:\n  - name: cfg\n    configMap:\n      defaultMode: 0644\n"
        "status:\n  podIP: 10.244.0.5\n  phase: Running\n"
    ),
}


@pytest.mark.parametrize("name", list(SEMANTICS))
def test_values_match_pyyaml(name: str) -> None:
    text = SEMANTICS[name]
    got, want = values(text), reference(text)
    assert same(got, want), f"{name}: {got!r} != {want!r}"


DIFFERENCES: dict[str, tuple[str, list[Any]]] = {
    # kubectl (sigs.k8s.io/yaml, via JSON) sees text where PyYAML makes datetimes
    "timestamps stay strings": (
        "a: 2025-01-01T00:00:00Z\nb: 2025-01-01\nc: !!timestamp 2001-12-14\n",
        [{"a": "2025-01-01T00:00:00Z", "b": "2025-01-01", "c": "2001-12-14"}],
    ),
    "binary stays base64 text": ("a: !!binary aGVsbG8=\n", [{"a": "aGVsbG8="}]),
    "set is a mapping to None": ("a: !!set {x, y}\n", [{"a": {"x": None, "y": None}}]),
    "omap is a list of mappings": ("a: !!omap [x: 1, y: 2]\n", [{"a": [{"x": 1}, {"y": 2}]}]),
}


@pytest.mark.parametrize("name", list(DIFFERENCES))
def test_documented_differences(name: str) -> None:
    text, want = DIFFERENCES[name]
    assert same(values(text), want)


def _repo_yaml_files() -> list[Path]:
    found = [*ROOT.joinpath("tests").rglob("*.y*ml"), *ROOT.joinpath("examples").rglob("*.y*ml")]
    return sorted(p for p in found if p.suffix in (".yaml", ".yml"))


def test_every_yaml_file_in_the_repo_reads_as_pyyaml_does() -> None:
    files = _repo_yaml_files()
    assert len(files) > 50
    for path in files:
        text = path.read_text(encoding="utf-8")
        docs = load_stream(text)
        try:
            want = reference(text)
        except yaml.YAMLError:
            assert any(d.error for d in docs), path
            continue
        assert [d.error for d in docs] == [None] * len(docs), path
        assert same([d.value for d in docs], want), path


# --- the fast path is taken where it should be ------------------------------------------


def _pod(i: int, extra: str = "") -> str:
    return (
        f"- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p{i}\n    namespace: ns\n"
        f"    labels:\n      app: a{i}\n{extra}  status:\n    podIP: 10.0.0.{i}\n"
    )


def _list(pods: list[str]) -> str:
    return (
        "apiVersion: v1\nitems:\n"
        + "".join(pods)
        + "kind: List\nmetadata:\n  resourceVersion: ''\n"
    )


def test_a_plain_list_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> YamlDocument:
        raise AssertionError("slow path taken")

    monkeypatch.setattr(yamlload, "_load_slow", refuse)
    (doc,) = load_stream(_list([_pod(i) for i in range(5)]))
    assert doc.item_lines == (3, 12, 21, 30, 39)


def test_a_risky_entry_is_read_alone() -> None:
    pods = [_pod(i) for i in range(4)]
    pods[2] = _pod(2, "  spec:\n    hostNetwork: yes\n    mode: 0755\n")
    text = _list(pods)
    (doc,) = load_stream(text)
    assert same(doc.value, reference(text)[0])
    assert doc.value["items"][2]["spec"] == {"hostNetwork": True, "mode": 493}
    assert doc.item_lines == (3, 12, 21, 33)
    assert yamlload._load_fast(yamlload._chunks(text)[0]) is not None


# --- lines ------------------------------------------------------------------------------

LINES: list[tuple[str, str, list[int]]] = [
    ("one document", "a: 1\n", [1]),
    ("leading ---", "---\na: 1\n", [2]),
    ("comments first", "# one\n# two\n\na: 1\n", [4]),
    ("comments then ---", "# c\n---\n# d\na: 1\n---\nb: 2\n", [4, 6]),
    ("empty documents", "---\n---\na: 1\n---\n", [1, 3, 4]),
    ("end markers", "a: 1\n...\n# after\n---\nb: 2\n...\n", [1, 5]),
    ("only a comment", "a: 1\n---\n# nothing here\n", [1, 2]),
    ("content on the marker line", "--- |\n  text\n--- !!map\nb: 2\n", [1, 3]),
    ("marker with comment", "--- # first\na: 1\n", [2]),
    ("CRLF", "---\r\na: 1\r\n---\r\n\r\nb: 2\r\n", [2, 5]),
    ("blank lines", "\n\n\na: 1\n\n---\n\n\nb: 2\n", [4, 9]),
]


@pytest.mark.parametrize(("name", "text", "lines"), LINES, ids=[c[0] for c in LINES])
def test_document_lines(name: str, text: str, lines: list[int]) -> None:
    docs = load_stream(text)
    assert [d.line for d in docs] == lines
    assert len(docs) == len(reference(text))


ITEMS: list[tuple[str, str, tuple[int, ...]]] = [
    ("kubectl list", "apiVersion: v1\nitems:\n- a: 1\n  b: 2\n- a: 3\nkind: List\n", (3, 5)),
    ("indented dashes", "items:\n  - a: 1\n  - b: 2\n    c: 3\n  - x\nkind: List\n", (2, 3, 5)),
    ("dash alone", "items:\n-\n  a: 1\n- # note\n  b: 2\nkind: List\n", (3, 5)),
    ("comments between", "items:\n# one\n- a\n\n# two\n- b\n", (3, 6)),
    ("block scalar inside", "items:\n- a: |\n    - not an item\n    x\n- b\n", (2, 5)),
    ("flow items", "items: [a, {b: 1},\n  c]\n", (1, 1, 2)),
    ("empty items", "items: []\nkind: List\n", ()),
    ("after a document", "a: 1\n---\n# c\nitems:\n- a\n- b\n", (5, 6)),
]


@pytest.mark.parametrize(("name", "text", "lines"), ITEMS, ids=[c[0] for c in ITEMS])
def test_item_lines(name: str, text: str, lines: tuple[int, ...]) -> None:
    docs = load_stream(text)
    assert docs[-1].item_lines == lines
    assert same([d.value for d in docs], reference(text))


def test_item_lines_agree_with_pyyaml_marks() -> None:
    """The text scan and PyYAML's own marks (the slow path) agree."""
    for _, text, _ in ITEMS:
        for chunk in yamlload._chunks(text):
            if chunk.content_line is None:
                continue
            fast = yamlload._load_fast(chunk)
            slow = yamlload._load_slow(chunk)
            if fast is not None:
                assert (fast.line, fast.item_lines) == (slow.line, slow.item_lines), text


def test_no_item_lines_without_items_list() -> None:
    assert load_stream("items: 3\n")[0].item_lines is None
    assert load_stream("- items\n")[0].item_lines is None


# --- errors never escape ----------------------------------------------------------------


def _one_error(text: str) -> str:
    docs = load_stream(text)
    errors = [d.error for d in docs if d.error]
    assert len(errors) == 1, docs
    assert errors[0].startswith("line ")
    return errors[0]


def test_a_bad_document_spoils_only_itself() -> None:
    docs = load_stream("a: 1\n---\nb: [1,\nc: 2\n---\nd: 4\n")
    assert [d.value for d in docs] == [{"a": 1}, None, {"d": 4}]
    assert docs[1].error is not None and docs[1].error.startswith("line 5:")
    assert docs[1].line == 3


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep flow nesting", "a: " + "[" * 100_000),
        ("deep block nesting", "- " * 20_000 + "x\n"),
        ("5000-digit integer", "a: " + "9" * 5000 + "\n"),
        ("lone surrogate", "a: b\udc80c\n"),
        ("NUL byte", "a: \x00\n"),
        ("tab indentation", "a:\n\tb: 1\n"),
        ("unclosed quote", 'a: "open\n'),
        ("bad indentation", "a:\n  b: 1\n c: 2\n"),
        ("undefined alias", "a: *nowhere\n"),
        ("recursive alias", "a: &a [*a]\n"),
        ("unknown tag", "a: !foo x\n"),
        ("stray content after ...", "a: 1\n...\nb: 2\n"),
    ],
)
def test_hostile_input_is_an_error(name: str, text: str) -> None:
    _one_error(text)


def test_billion_laughs_is_refused() -> None:
    levels = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        levels.append(f"a{i}: &a{i} [{refs}]")
    error = _one_error("\n".join(levels) + "\n")
    assert "alias" in error


def test_aliases_within_the_cap_are_kept() -> None:
    text = "a: &a [" + ",".join(["x"] * 100) + "]\nb: [" + ",".join(["*a"] * 100) + "]\n"
    (doc,) = load_stream(text)
    assert doc.error is None and len(doc.value["b"]) == 100
    assert MAX_ALIAS_NODES > 100 * 100


def test_python_tags_execute_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any) -> int:
        raise AssertionError("executed")

    monkeypatch.setattr(os, "system", boom)
    for text in (
        "a: !!python/object/apply:os.system ['echo PWNED']\n",
        "!!python/object/new:os.system [echo PWNED]\n",
        "items:\n- !!python/object/apply:os.system ['echo PWNED']\n",
    ):
        assert "line 1" in _one_error(text) or "line 2" in _one_error(text)


# --- duplicate keys ---------------------------------------------------------------------


def test_duplicate_keys_are_reported_last_wins() -> None:
    text = "a: 1\nb:\n  c: 1\n  c: 2\na: 3\n---\nx: {k: 1, k: 2}\n"
    docs = load_stream(text)
    assert [d.value for d in docs] == [{"a": 3, "b": {"c": 2}}, {"x": {"k": 2}}]
    assert docs[0].duplicate_keys == ((4, "c"), (5, "a"))
    assert docs[1].duplicate_keys == ((7, "k"),)


def test_duplicate_key_in_a_list_entry() -> None:
    pods = [_pod(i) for i in range(3)]
    pods[1] = pods[1].replace("    namespace: ns\n", "    namespace: ns\n    name: again\n")
    (doc,) = load_stream(_list(pods))
    assert doc.duplicate_keys == ((17, "name"),)
    assert doc.value["items"][1]["metadata"]["name"] == "again"
    assert doc.item_lines == (3, 12, 22)


def test_merge_keys_are_not_duplicates() -> None:
    (doc,) = load_stream("b: &b {x: 1}\nd:\n  <<: *b\n  x: 2\n")
    assert doc.duplicate_keys == ()
    assert doc.value["d"] == {"x": 2}


def test_a_byte_order_mark_is_skipped() -> None:
    (doc,) = load_stream("\ufeffa: 1\n")
    assert (doc.value, doc.line) == ({"a": 1}, 1)


def test_empty_stream() -> None:
    assert load_stream("") == []
    assert load_stream("# only a comment\n") == []


# --- a differential sweep: tricky plain scalars in every position -------------------------

_TOKENS = (
    "yes No ON off y n true True FALSE null Null NULL ~ 0 00 0755 0o17 0x1F 0b11 1_0 1:20 "
    "1:20.5 .inf -.inf .NaN 1e3 1E3 1.5e3 1.0e+3 1.0e-3 +1 -1 1. .5 -0 -0.0 +.5 1.2.3 "
    "10.0.0.1 2025-01-01 12:30:45 8080 3.14 -7 abc = << 12e 0x 0b2 1__0 _1 1_ 0. -.5 +0 "
    "0o8 0xG 1:60 1:5:7 . - + .e3 1e+3 1e-3 1.5E+3 0e0 0.0e0 __1 _.5 _1.5 _1e3 -_1 +_1 "
    "_0755 _0 0o_7 ._1 1e_3 1e3_ 1_e3 -0o7 +0o7 -0b1 +0x1F 0x1_F 1_.5 1.5_ Infinity nan "
    "99999999999999999999999 cafe_1 a_1 v1.2 1.0.0-rc1 100m 128Mi 0.5Gi"
)
TOKENS = _TOKENS.split(" ")


def test_tricky_plain_scalars_read_as_pyyaml_does() -> None:
    forms = (
        "k: {}\n",
        "- {}\n",
        "k: [{}, x]\n",
        "k: {{a: {}}}\n",
        "{}: v\n",
        "k: '{}'\n",
        '{{"a":{}}}\n',
        "k: [x,{}]\n",
        "k:  {}  # c\n",
    )
    for token in TOKENS:
        for form in forms:
            text = form.format(token)
            try:
                want = reference(text)
            except yaml.YAMLError:
                assert any(d.error for d in load_stream(text)), text
                continue
            assert same(values(text), want), text


def test_a_risky_entry_under_indented_dashes() -> None:
    text = "kind: List\nitems:\n  - a: 1\n  - b: on\n    c: 0x10\n  -\n    d: x\nx: 1\n"
    (doc,) = load_stream(text)
    assert same(doc.value, reference(text)[0])
    assert doc.item_lines == (3, 4, 7)


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "1:" * 50_000 + "x\n",
        "a: " + "[" * 50_000 + "\n",
        "a: " + "{" * 50_000 + "}: \n",
        "a: " + "_" * 100_000 + "1x\n",
        "a: " + ":1" * 50_000 + "\n",
        "a: [" + "1," * 50_000 + "x\n",
    ],
    ids=["sexagesimal", "brackets", "braces", "underscores", "colons", "commas"],
)
def test_scans_are_linear(text: str) -> None:
    """Inputs that made a backtracking regex quadratic (minutes) read in well under a
    second each on a quiet machine; 20 s leaves room for a loaded one."""
    start = time.perf_counter()
    yamlload._risky(text)
    yamlload._chunks(text)
    assert time.perf_counter() - start < 20


def _risky_by_regex(text: str) -> set[int]:
    """`_risky`'s scans as plain finditer calls: the oracle for its ASCII fast path."""
    found = {m.start() for m in yamlload._RISKY_TOKEN.finditer(text)}
    found |= {m.start() for m in yamlload._FORBIDDEN.finditer(text)}
    found |= {m.start() for m in yamlload._RISKY_AFTER_JSON_KEY.finditer(text)}
    ends = (m.start() for m in yamlload._COLLECTION_KEY_END.finditer(text))
    return found | set(yamlload._collection_keys(text, ends))


def _scan_corpus() -> list[str]:
    root = Path(__file__).resolve().parent.parent
    texts = [
        p.read_text(encoding="utf-8", errors="replace")
        for folder in ("tests", "examples", "docs")
        for p in sorted((root / folder).rglob("*.y*ml"))
    ]
    texts += list(SEMANTICS.values())
    pieces = [*TOKENS, " ", "  ", "\n", "\t", "-", "- ", ":", ": ", "'", '"', "[", "]", "{", "}"]
    pieces += [",", "#", "?", "!", "&", "*", "<<", "=", "yes", "No", "ON", "off", "\x0b", "\x1c"]
    pieces += ["10.244.0.1", "1.2.3.4_5", "1.2.3.4:5", "0.0.0.0", "1.2.3.4e5", "999.1.1.1"]
    rng = random.Random(20261204)
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 60))) for _ in range(3000)]
    return [t for t in texts if t.isascii()]


def test_ascii_scan_finds_what_the_regexes_find(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlload, "_BLOCK", 64)  # block edges inside the texts, too
    for text in _scan_corpus():
        assert set(yamlload._risky_ascii(text)) == _risky_by_regex(text), repr(text)


def test_a_stream_scanned_whole_reads_as_scanned_per_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A large stream is scanned once and the offsets sliced per document; the documents
    must come out exactly as when each is scanned alone."""
    texts = _scan_corpus()
    rng = random.Random(4)
    markers = ["---\n", "--- \n", "...\n---\n", "--- # c\n", "---\n\n", "...\n"]
    streams = [
        "".join(rng.choice(markers) + rng.choice(texts).rstrip("\n") + "\n" for _ in range(8))
        for _ in range(300)
    ]

    def read(text: str) -> list[tuple[Any, ...]]:
        return [
            (d.value, d.line, d.item_lines, d.error, d.duplicate_keys) for d in load_stream(text)
        ]

    for text in streams:
        monkeypatch.setattr(yamlload, "_PREFILTER_FROM", 1 << 40)
        alone = read(text)
        monkeypatch.setattr(yamlload, "_PREFILTER_FROM", 0)
        monkeypatch.setattr(yamlload, "_NUMPY_PAYS_FROM", 0)
        whole = read(text)
        assert len(alone) == len(whole), text
        for a, w in zip(alone, whole, strict=True):
            assert same(a[0], w[0]) and a[1:] == w[1:], text


# --- the prefilter's plain numbers (rules A-C of `_plain_numbers`) ------------------------

# Tokens a dump is full of, and their near misses: each rule's edge on either side.
_NUMBERISH = (
    "8080 9090 30 0 7 10.244.83.2 10.0.0.0/8 10.244.83.2/32 100m 250Mi 128Mi 0.5Gi 1Gi 2 "
    "c93647d4-84f9-40ae-aef2-6fa43dd357d0 a3130e9f-ae8e-4d55-9f25-0a331893b41a "
    "1e3e-84f9-40ae-aef2-6fa43dd357d0 2025-03-01T16:36:01Z 2025-03-01 6882251 "
    "0017 00 01 0755 1e3 1E3 1e+3 1e-3 1.5e3 1.5e-3 1_000 1_0.5 1.2._3 1.2.3_ 12:30 1:20 "
    "1:20.5 190:20:30 1:60 10.0.0.1:80 10.0.0.1: 1.5: 8080: 12:30: -1 +5 -1.5 +0x1F 0x1F "
    "0x1f 0o17 0b101 0b2 .5 1. 1.2.3 1..2 1.2e3.4 1.2-3 1-2 1+2 1e-2-3 1E+2+3 1ee-2 "
    "9cb99x99d9 1x 0x 0xG 1o7 1.2.3.4.5.6.7.8.9.0 5e 5e- 1_ _1 1__0 1.0.0-rc1 3.14 -0.0 "
    "12a 12f 12F 12abc 1:2:3:4 1:a 1.2:3.4 1-2:3 1.1.1.1111111111_1 1.2.3.4e5 999.1.1.1"
)
_AFTER = (" ", "\n", "", "#", " # c", ",", "]", "}", ": x", ":", ":\n", ":[", ":{", ": ", "\r\n")
_AFTER += ("[", "{", "\t", "\x0b", "\x1c", " x", "'", '"', "/", "m", "_", "=", ":x", "\x00")


def _long_runs() -> list[str]:
    """Runs that end on either side of the narrow and the full window, with a `_` or a
    risky shape past it, and digit runs on either side of `_SAFE_NUMBER`'s 301."""
    runs = ["1" * k for k in (299, 300, 301, 302, 303)]
    runs += ["0" + "1" * k for k in (299, 300, 301)]
    for width in (yamlload._NARROW, yamlload._WINDOW):
        for k in range(width - 6, width + 3):
            for head in ("1.1.", "1-", "2", "1e", "10.0.0."):
                runs += [head + "1" * (k - len(head)) + tail for tail in ("", "_", "_1", ":")]
                runs += [head + "1" * (k - len(head)) + "_" + "1" * 50]
    return runs


def _number_texts(seed: int, count: int) -> list[str]:
    tokens = [*_NUMBERISH.split(" "), *_long_runs()]
    before = (" ", "\n", "[", "{", ",", '"key":', "'k':", "- ", "k: ", "[x,", "{a: ")
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts = [
            rng.choice(before) + rng.choice(tokens) + rng.choice(_AFTER)
            for _ in range(rng.randint(1, 30))
        ]
        texts.append("".join(parts))
    return texts


@pytest.mark.parametrize(("block", "count"), [(7, 40), (64, 200), (1 << 22, 400)])
def test_plain_numbers_keep_every_risky_token(
    monkeypatch: pytest.MonkeyPatch, block: int, count: int
) -> None:
    """Texts full of ports, addresses, quantities, uids and their near misses, tokens
    across block edges and at the text's end: the ASCII scan gives exactly the offsets
    of the plain regex scans (none lost: a superset would be enough; none added)."""
    monkeypatch.setattr(yamlload, "_BLOCK", block)
    for text in _number_texts(block, count):
        assert set(yamlload._risky_ascii(text)) == _risky_by_regex(text), repr(text)


def test_each_plain_number_is_refused_by_the_regex() -> None:
    """Token by token: whatever `_plain_numbers` proves harmless, with either window,
    `_RISKY_TOKEN` does not match; and the rules do prove the common shapes."""
    tokens = [t for t in [*_NUMBERISH.split(" "), *_long_runs()] if t[0].isdigit()]
    rng = random.Random(12)
    alphabet = "0123456789" * 3 + "..__--++eeEE::xXoObbaf" + "mMiZ/ "
    tokens += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 45))) for _ in range(3000)
    ]
    tokens = [rng.choice("0123456789") + t if not t[:1].isdigit() else t for t in tokens]
    texts = [" " + t + after for t in tokens for after in _AFTER]
    # All at once: each text and its zero padding (the text's end) in a slot of its own.
    slot = max(map(len, texts)) + yamlload._LOOK
    raw = np.frombuffer(b"".join(t.encode("ascii").ljust(slot, b"\0") for t in texts), np.uint8)
    at = np.arange(len(texts)) * slot + 1
    plain = set()
    for width in (yamlload._NARROW, yamlload._WINDOW):
        for k in np.flatnonzero(yamlload._plain_numbers(raw, at, width)).tolist():
            assert yamlload._RISKY_TOKEN.match(texts[k]) is None, repr(texts[k])
            plain.add(texts[k])
    common = ["8080", "10.244.83.2", "10.0.0.0/8", "100m", "250Mi", "10.0.0.1:80"]
    common += ["1e3e-84f9-40ae-aef2-6fa43dd357d0", "2025-03-01T16:36:01Z"]
    assert {f" {shape}\n" for shape in common} <= plain


def test_a_pod_dump_meets_the_regex_only_where_it_is_risky(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ports, addresses, quantities and uids are decided in numpy: the token regex runs
    at the one risky token only."""
    pod = (
        "- metadata:\n    uid: c93647d4-84f9-40ae-aef2-6fa43dd357d0\n"
        "    annotations:\n      podIP: 10.244.83.2/32\n    resourceVersion: '6882251'\n"
        "  spec:\n    containers:\n    - ports:\n      - containerPort: 8080\n"
        "      resources:\n        requests: {cpu: 100m, memory: 128Mi}\n"
        "    terminationGracePeriodSeconds: 30\n  status:\n    podIP: 10.244.83.2\n"
        "    podIPs:\n    - ip: 10.244.83.2\n    hostIP: 192.168.1.20\n    restartCount: 0\n"
    )
    text = "items:\n" + pod * 200 + "- spec:\n    mode: 0755\n"
    calls = []
    real = yamlload._RISKY_TOKEN

    class Spy:
        def match(self, s: str, pos: int) -> re.Match[str] | None:
            calls.append(pos)
            return real.match(s, pos)

    monkeypatch.setattr(yamlload, "_RISKY_TOKEN", Spy())
    found = yamlload._risky_ascii(text)
    assert found == [text.index(" 0755")]
    assert calls == found
