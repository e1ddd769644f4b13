"""The Snapshot: every object the analysis sees, the problems met reading them, and
the reads that were impossible. Reads files and directories (YAML, JSON, kubectl
`List` dumps). Imports `model`, `findings`, `parse`.
"""

from __future__ import annotations

import copyreg
import gc
import json
import os
import re
import stat
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import yaml

from .compact import COMPACT_MAGIC, is_compact, load_compact
from .findings import Finding, Severity
from .inputs.forked import cpus, pickle_by_constructor, run_shared
from .model import (
    NAMESPACE_NAME_LABEL,
    Endpoints,
    IPAddress,
    Namespace,
    NetworkPolicy,
    Node,
    ObjectRef,
    Pod,
    Service,
    Workload,
)
from .parse import Event, ExtendedObject, Origin, ParseResult, parse_object
from .yamlload import (
    ListSplit,
    YamlDocument,
    documents_in,
    expect_large_input,
    load_chunks,
    load_piece,
    load_stream,
    split_list,
    stream_chunks,
)

__all__ = [
    "META_API_VERSION",
    "META_KIND",
    "Snapshot",
    "build_snapshot",
    "load_snapshot",
    "read_documents",
]

_YAML_SUFFIXES = {".yaml", ".yml"}
_JSON_SUFFIXES = {".json"}


@dataclass
class Snapshot:
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    pods: list[Pod] = field(default_factory=list)
    services: dict[str, Service] = field(default_factory=dict)
    endpoints: list[Endpoints] = field(default_factory=list)
    policies: list[NetworkPolicy] = field(default_factory=list)
    rejected_policies: list[ObjectRef] = field(default_factory=list)
    nodes: dict[str, Node] = field(default_factory=dict)
    workloads: list[Workload] = field(default_factory=list)
    extended: list[ExtendedObject] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    unknown_kinds: Counter[str] = field(default_factory=Counter)
    #: (resource, namespace or None for all) that could not be read (HTTP 403 live).
    unreadable: set[tuple[str, str | None]] = field(default_factory=set)
    #: why each of `unreadable` could not be read (a 403, a server that kept failing)
    unreadable_why: dict[tuple[str, str | None], str] = field(default_factory=dict)

    # -- indexes, built on first use ---------------------------------------------

    @cached_property
    def policies_by_namespace(self) -> dict[str, list[NetworkPolicy]]:
        out: dict[str, list[NetworkPolicy]] = defaultdict(list)
        for p in self.policies:
            out[p.namespace].append(p)
        return out

    @cached_property
    def memo(self) -> dict[Any, Any]:
        """Values derived from the objects once per snapshot by other modules (DNS
        pods, the policies selecting a label set); the objects never change after load."""
        return {}

    @cached_property
    def pods_by_key(self) -> dict[str, Pod]:
        return {p.key: p for p in self.pods}

    @cached_property
    def pods_by_namespace(self) -> dict[str, list[Pod]]:
        out: dict[str, list[Pod]] = defaultdict(list)
        for p in self.pods:
            out[p.namespace].append(p)
        return out

    @cached_property
    def pods_by_ip(self) -> dict[IPAddress, Pod]:
        return {ip: p for p in self.pods if not p.host_network for ip in p.ips}

    @cached_property
    def node_by_ip(self) -> dict[IPAddress, Node]:
        return {ip: n for n in self.nodes.values() for ip in n.addresses}

    def namespace(self, name: str) -> Namespace:
        ns = self.namespaces.get(name)
        if ns is None:  # NP-81: only the name label is certain
            ref = ObjectRef("Namespace", None, name)
            ns = Namespace(ref, ((NAMESPACE_NAME_LABEL, name),), synthesized=True)
            self.namespaces[name] = ns
        return ns

    def is_unreadable(self, resource: str, namespace: str | None) -> bool:
        return (resource, None) in self.unreadable or (resource, namespace) in self.unreadable

    def unreadable_reason(self, resource: str, namespace: str | None) -> str:
        why = self.unreadable_why.get((resource, namespace))
        return why or self.unreadable_why.get((resource, None)) or "not readable"

    def unreadable_extended(self, namespaces: set[str]) -> list[ObjectRef]:
        """Policy lists of other families that could not be read, and could apply."""
        return [
            ObjectRef(resource, ns, "*")
            for resource, ns in sorted(self.unreadable, key=lambda g: (g[0], g[1] or ""))
            if resource not in CORE_RESOURCES and (ns is None or ns in namespaces)
        ]

    def summary(self) -> dict[str, int]:
        live = sum(1 for p in self.pods if not p.is_template)
        return {
            "namespaces": sum(1 for n in self.namespaces.values() if not n.synthesized),
            "pods": live,
            "template_pods": len(self.pods) - live,
            "services": len(self.services),
            "networkpolicies": len(self.policies),
            "rejected_networkpolicies": len(self.rejected_policies),
            "nodes": len(self.nodes),
            "extended_policies": len(self.extended),
            "events": len(self.events),
            "ignored_objects": sum(self.unknown_kinds.values()),
        }


# --- reading files -----------------------------------------------------------------


def _problem(fid: str, message: str, origin: Origin) -> Finding:
    ref = ObjectRef("file", None, origin.file or "?", origin.file, origin.document, origin.line)
    return Finding(fid, Severity.ERROR, message, (ref,))


@dataclass(frozen=True, slots=True)
class InputGap:
    """Part of the input could not be read: what it held may be missing, so answers
    that depend on it are unknown (as after a forbidden live read)."""

    resource: str
    namespace: str | None
    reason: str


Problem = Finding | InputGap
Item = tuple[Any, Origin] | Problem


@dataclass(frozen=True, slots=True)
class ParsedItem:
    """An object parsed ahead (by a loading child: `_read_parallel`): `build_snapshot`
    takes its result as it is."""

    result: ParseResult
    origin: Origin


def _parsed_item(
    obj: Any, kind: str, findings: list[Finding], rejected: ObjectRef | None, origin: Origin
) -> ParsedItem:
    return ParsedItem(ParseResult(obj, kind, findings, rejected), origin)


# A child sends each object as one flat tuple: a ParseResult pickled apart is a plain
# dataclass's __dict__, keys and all, and one more object to rebuild per item.
copyreg.pickle(
    ParsedItem,
    lambda p: (
        _parsed_item,
        (p.result.obj, p.result.kind, p.result.findings, p.result.rejected, p.origin),
    ),
)
pickle_by_constructor(Origin)


#: What a reader yields for each document: the data, where it starts, and the line of
#: each item of a List when the reader knows them.
Parsed = tuple[Any, Origin, list[int] | None]

#: The gap resource for policy kinds beyond NetworkPolicy (any family may deny).
OTHER_POLICY_KINDS = "other policy kinds"
#: What an unreadable input may have held, when nothing tells which kinds it had.
_ANY_INPUT = ("networkpolicies", "pods", "services", OTHER_POLICY_KINDS)

_KIND_YAML = re.compile(r"^\s*-?\s*kind:\s*[\"']?([A-Za-z0-9]+)", re.MULTILINE)
_KIND_JSON = re.compile(r"\"kind\"\s*:\s*\"([A-Za-z0-9]+)\"")
_NAMESPACE_YAML = re.compile(r"(?:^\s+|[{,]\s*)namespace:\s*[\"']?([a-z0-9-]+)", re.MULTILINE)
_NAMESPACE_JSON = re.compile(r"\"namespace\"\s*:\s*\"([a-z0-9-]+)\"")


def _unreadable(
    name: str, why: str, text: str | None, origin: Origin | None = None
) -> Iterator[Problem]:
    """The problem for input that could not be read, and the gaps it leaves: kinds are
    sniffed from the text (a broken Pod leaves no policy gap, a broken policy leaves
    one in its namespace); text that names no kind may have held anything."""
    yield _problem(
        "input-unreadable" if origin is None else "input-malformed",
        f"{why}; answers that depend on what it holds are unknown",
        origin or Origin(name),
    )
    kinds = set(_KIND_YAML.findall(text)) | set(_KIND_JSON.findall(text)) if text else set()
    kinds -= {"List"}
    if not kinds:
        for resource in _ANY_INPUT:
            yield InputGap(resource, None, why)
        return
    assert text is not None
    namespaces = set(_NAMESPACE_YAML.findall(text)) | set(_NAMESPACE_JSON.findall(text))
    ns = next(iter(namespaces)) if len(namespaces) == 1 else None
    for kind in sorted(kinds):
        if kind == "NetworkPolicy":
            yield InputGap("networkpolicies", ns, why)
        elif kind.endswith(("Policy", "Firewall")) or kind == "Tier":
            yield InputGap(OTHER_POLICY_KINDS, ns, why)
        # A missing Pod or Service is named as missing when a question needs it, and
        # a missing Namespace's labels are unknown (namespace-missing).


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _decode(data: bytes) -> str:
    """UTF-8, or UTF-16/32 with a byte-order mark (PowerShell's `>` writes UTF-16)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding)
    return data.decode("utf-8")


def _read_text(path: Path) -> str | list[Problem]:
    """The file's text, or the problem and gaps that say why it cannot be had."""
    name = str(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            # A FIFO blocks in open and /dev/zero never ends: only regular files are read.
            why = f"{name} is not a regular file, so it is not read"
            return list(_unreadable(name, why, None))
        data = path.read_bytes()
    except OSError as exc:
        return list(_unreadable(name, f"cannot read {name}: {exc.strerror or exc}", None))
    except MemoryError:
        return list(_unreadable(name, f"{name} is too large to read", None))
    try:
        return _decode(data)
    except UnicodeDecodeError as exc:
        why = (
            f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8"
        )
        return list(_unreadable(name, why, data.decode("utf-8", "replace")))


def _yaml_documents(text: str, name: str) -> Iterator[Parsed | Problem]:
    """Every document of a YAML stream (yamlload: fast, linear, exact lines); a broken
    one spoils only itself, and a key given twice is reported (the last one wins, as
    kubectl reads it)."""
    docs = load_stream(text)
    offsets: list[int] | None = None
    for i, doc in enumerate(docs):
        origin = Origin(name, i + 1, doc.line)
        yield from _duplicate_keys(doc, name, i + 1)
        if doc.error is None:
            yield doc.value, origin, list(doc.item_lines) if doc.item_lines else None
            continue
        if offsets is None:  # only a broken document needs its text, to sniff its kinds
            offsets = _line_offsets(text)
        start = offsets[min(doc.line, len(offsets)) - 1]
        end = offsets[min(docs[i + 1].line, len(offsets)) - 1] if i + 1 < len(docs) else None
        why = f"not valid YAML at {doc.error}; this document is skipped"
        line = _error_line(doc.error) or doc.line
        yield from _unreadable(name, why, text[start:end], Origin(name, i + 1, line))


def _duplicate_keys(doc: YamlDocument, name: str, number: int) -> Iterator[Finding]:
    for line, key in doc.duplicate_keys:
        ref = ObjectRef("file", None, name, name, number, line)
        yield Finding(
            "input-duplicate-key",
            Severity.WARNING,
            f"the key {key!r} is given twice in one mapping (line {line}); the last value "
            "is used, as kubectl would",
            (ref,),
        )


def _line_offsets(text: str) -> list[int]:
    offsets = [0]
    at = text.find("\n")
    while at != -1:
        offsets.append(at + 1)
        at = text.find("\n", at + 1)
    return offsets


def _error_line(error: str) -> int | None:
    m = re.match(r"line (\d+)", error)
    return int(m.group(1)) if m else None


def _limit_word(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    if isinstance(exc, MemoryError):
        return "it is too large"
    return str(exc).split(";")[0]  # e.g. a number with more digits than Python converts


def _json_documents(text: str, name: str) -> Iterator[Parsed | Problem]:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    else:
        yield doc, Origin(name, 1, 1), _json_item_lines(text, doc)
        return
    try:  # orjson is the fast path; the standard library words the error better
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        why = f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}; file skipped"
        yield from _unreadable(name, why, text, Origin(name, 1, exc.lineno))
    except (ValueError, RecursionError, MemoryError) as exc:
        why = f"{name} cannot be read ({_limit_word(exc)}); file skipped"
        yield from _unreadable(name, why, text, Origin(name, 1, 1))
    else:
        yield doc, Origin(name, 1, 1), _json_item_lines(text, doc)


_ITEMS_KEY = re.compile(r'\n( *)"items": \[\n')


def _json_item_lines(text: str, doc: Any) -> list[int] | None:
    """The line of each item of a List as kubectl indents it (`-o json`): each item's
    `{` alone on a line, one level deeper than `"items"`. Anything else: None (the
    List's own line is used)."""
    items = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        return None
    head = _ITEMS_KEY.search(text)
    if head is None:
        return None
    needle = "\n" + " " * (2 * len(head.group(1))) + "{\n"
    lines: list[int] = []
    line, pos = 1, 0
    at = text.find(needle, head.start())
    while at != -1 and len(lines) <= len(items):
        line += text.count("\n", pos, at + 1)
        pos = at + 1
        lines.append(line)
        at = text.find(needle, at + 1)
    return lines if len(lines) == len(items) else None


# --- reading on every CPU ------------------------------------------------------------
#
# A large input is cut into units (a whole file; a run of a large YAML List's entries;
# a run of a YAML stream's documents), shared out between this process and forked
# children (inputs/forked.py), parsed there, and put back in input order: the items
# are those `read_documents` and `build_snapshot`'s parsing make, in the same order.

#: Inputs smaller than this are read in one process: a fork costs more than it saves.
PARALLEL_FROM = 4 << 20
#: A unit's cost: the bytes of its text, JSON weighed by this (orjson reads a byte
#: about five times faster than yaml-rs and the checks around it).
_JSON_COST = 0.2

Unit = Callable[[], "list[Item | ParsedItem] | None"]


@dataclass(frozen=True, slots=True)
class _Source:
    name: str
    text: str
    is_json: bool


def _read_parallel(
    sources: list[_Source | Problem], default_namespace: str, cpus_: int
) -> Iterator[Item | ParsedItem]:
    texts = [s for s in sources if isinstance(s, _Source)]
    if not all(s.is_json for s in texts):
        expect_large_input()  # before the fork: every process reads YAML pieces
    total = sum(_cost(s, len(s.text)) for s in texts)
    # Units of about a 64th of each CPU's share: the last ones taken even out when
    # the processes finish (a byte of policy costs several times a byte of pod).
    target = total / (64 * cpus_)
    units: list[tuple[int, float, Unit]] = []  # (source's index, cost, unit)
    for i, s in enumerate(sources):
        if not isinstance(s, _Source):
            continue
        pieces = None
        if _cost(s, len(s.text)) > 1.5 * target:
            parts = round(_cost(s, len(s.text)) / target)
            cut = _json_pieces if s.is_json else _yaml_pieces
            pieces = cut(s, parts, default_namespace)
        if pieces is None:
            pieces = [(_cost(s, len(s.text)), partial(_whole_file, s, default_namespace))]
        units.extend((i, cost, unit) for cost, unit in pieces)
    # Costliest first: the last units taken, while the other processes finish
    # theirs, are then the shortest.
    order = sorted(range(len(units)), key=lambda k: -units[k][1])
    done = run_shared([units[k][2] for k in order])
    results = dict(zip(order, done, strict=True))
    by_source: dict[int, list[list[Item | ParsedItem] | None]] = defaultdict(list)
    for k, (i, _, _) in enumerate(units):
        by_source[i].append(results[k])
    for i, s in enumerate(sources):
        if not isinstance(s, _Source):
            yield s
            continue
        got = by_source[i]
        if any(r is None for r in got):
            # A piece the pieces' reader could not take alone (a broken document,
            # a key given twice at the top): the one-process reader words it.
            yield from _file_items(s)
            continue
        for r in got:
            assert r is not None
            yield from r


def _cost(s: _Source, size: int) -> float:
    return size * _JSON_COST if s.is_json else float(size)


def _whole_file(s: _Source, default_namespace: str) -> list[Item | ParsedItem]:
    return _parsed(_file_items(s), default_namespace)


def _yaml_pieces(s: _Source, parts: int, default_namespace: str) -> list[tuple[float, Unit]] | None:
    """Units reading runs of a YAML file's List entries or documents, or None when
    it cuts neither way."""
    text = s.text.removeprefix("\ufeff")
    chunks = stream_chunks(text)
    if len(chunks) == 1:
        split = split_list(text, chunks[0], parts)
        return None if split is None else _list_pieces(split, s.name, default_namespace)
    if not chunks:
        return None
    starts = [c.offset for c in chunks]
    cuts = sorted(
        {0, len(chunks)} | {bisect_left(starts, len(text) * k // parts) for k in range(1, parts)}
    )
    out: list[tuple[float, Unit]] = []
    before = 0  # documents before the run: each run counting its own would be quadratic
    for a, b in pairwise(cuts):
        run = chunks[a:b]
        unit = partial(_read_documents_run, text, run, before, s.name, default_namespace)
        out.append((float(starts[b] if b < len(chunks) else len(text)) - starts[a], unit))
        before += documents_in(run)
    return out


def _json_pieces(s: _Source, parts: int, default_namespace: str) -> list[tuple[float, Unit]] | None:
    """Units reading runs of the items of a List as kubectl prints it (`-o json`:
    each item's `{` alone on a line, one level deeper than `"items"`), or None for any
    other layout. The pieces and the List without its items are checked to make the
    whole text exactly: a file that is not valid JSON is read whole, so the error is
    worded as ever."""
    text = s.text
    head = _ITEMS_KEY.search(text)
    if head is None or not text.startswith("{"):
        return None
    indent = " " * len(head.group(1))
    needle = "\n" + indent * 2 + "{\n"
    begin = head.end()  # just past `[` and its newline
    close = text.rfind("\n" + indent + "]")
    if close < begin or not text.startswith(needle, begin - 1):
        return None
    # `_json_item_lines` counts every such line past `"items"`: none may follow.
    if text.find(needle, close) != -1:
        return None
    rest = text[:begin] + text[close:]
    try:
        top = orjson.loads(rest)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(top, dict) or top.get("items") != [] or rest.count('"items"') != 1:
        return None
    cuts = [begin - 1]
    for k in range(1, parts):
        at = text.find(needle, max(cuts[-1] + 1, begin + (close - begin) * k // parts), close)
        if at == -1:
            break
        cuts.append(at)
    cuts.append(close)
    origin = Origin(s.name, 1, 1)
    out: list[tuple[float, Unit]] = []
    first, line = 0, 1 + text.count("\n", 0, cuts[0])
    for k, (a, b) in enumerate(pairwise(cuts)):
        count = text.count(needle, a, b)
        last = k == len(cuts) - 2
        span = (a, b, line, needle)
        unit = partial(_read_json_piece, text, span, last, count, top, origin, first)
        line += text.count("\n", a, b)
        out.append((_cost(s, b - a), partial(_parsed_or_none, unit, default_namespace)))
        first += count
    return out


def _read_json_piece(
    text: str,
    span: tuple[int, int, int, str],
    last: bool,
    count: int,
    top: dict[str, Any],
    origin: Origin,
    first: int,
) -> list[Item] | None:
    """The items of a `-o json` List in text[a:b] (text[a], on line `line`, is the
    newline before the first one's `{`, which `needle` finds); None unless they are
    exactly `count` objects joined by commas, with none after the List's last one."""
    a, b, line, needle = span
    body = text[a:b].rstrip()
    if body.endswith(",") == last:
        return None
    try:
        items = orjson.loads("[" + (body if last else body[:-1]) + "]")
    except orjson.JSONDecodeError:
        return None
    if len(items) != count:
        return None
    # Each item at the line of its `{`, as `_json_item_lines` counts them.
    pos = a
    lines = []
    at = a
    while at != -1:
        line += text.count("\n", pos, at)
        pos = at
        lines.append(line + 1)
        at = text.find(needle, at + 1, b)
    return list(_unpack({**top, "items": items}, origin, lines, first))


def _parsed_or_none(
    read: Callable[[], list[Item] | None], default_namespace: str
) -> list[Item | ParsedItem] | None:
    items = read()
    return None if items is None else _parsed(items, default_namespace)


def _read_documents_run(
    text: str, chunks: list[Any], before: int, name: str, default_namespace: str
) -> list[Item | ParsedItem] | None:
    """The documents of a run of a stream's chunks, `before` documents into it, as
    `_yaml_documents` reads them; None if one is broken."""
    items: list[Item] = []
    for j, doc in enumerate(load_chunks(text, chunks)):
        if doc.error is not None:
            return None
        items.extend(_duplicate_keys(doc, name, before + j + 1))
        lines = list(doc.item_lines) if doc.item_lines else None
        items.extend(_unpack(doc.value, Origin(name, before + j + 1, doc.line), lines))
    return _parsed(items, default_namespace)


def _list_pieces(
    split: ListSplit, name: str, default_namespace: str
) -> list[tuple[float, Unit]] | None:
    head = load_piece(split.head)
    if (
        head.error is not None
        or head.duplicate_keys
        or not isinstance(head.value, dict)
        or "items" not in head.value
        or head.value["items"] is not None
    ):
        return None
    origin = Origin(name, 1, head.line)
    out: list[tuple[float, Unit]] = []
    first = 0
    for k, ((a, b, _), count) in enumerate(zip(split.spans, split.counts, strict=True)):
        unit = partial(_read_piece, split, k, count, head.value, origin, first, default_namespace)
        out.append((float(b - a), unit))
        first += count
    return out


def _read_piece(
    split: ListSplit,
    k: int,
    count: int,
    head: dict[str, Any],
    origin: Origin,
    first: int,
    default_namespace: str,
) -> list[Item | ParsedItem] | None:
    """A run of a List's entries, as `_yaml_documents` and `_unpack` read them; None
    when the piece does not read plainly alone."""
    doc = load_piece(split.piece(k))
    value = doc.value
    if (
        doc.error is not None
        or doc.duplicate_keys
        or not isinstance(value, dict)
        or list(value) != ["items"]  # a key after the entries: they were not all items
        or not isinstance(value["items"], list)
        or doc.item_lines is None
        or len(value["items"]) != count
    ):
        return None
    whole = {**head, "items": value["items"]}
    return _parsed(_unpack(whole, origin, list(doc.item_lines), first), default_namespace)


#: Bounds the walk of a path given by mistake (`/`, `/proc`, a link to either).
MAX_DIRECTORIES = 20_000


def _files(root: Path) -> Iterator[Path | Problem]:
    """Manifest files under a directory (or the path itself), and what cannot be read.
    Follows directory links that stay inside the directory, once each (a loop is read
    once); links that lead out of it are not followed (`--snapshot /proc` would reach
    `/` through /proc/self/root). Skips hidden entries."""
    if not root.is_dir():
        yield root
        return
    top = root.resolve()
    outside: list[Path] = []
    seen: set[tuple[int, int]] = set()
    stack = [root]
    visited = 0
    while stack:
        directory = stack.pop()
        visited += 1
        if visited > MAX_DIRECTORIES:
            why = (
                f"{root} has more than {MAX_DIRECTORIES:,} directories; the rest are not read "
                "(give the folder that holds the manifests)"
            )
            yield from _unreadable(str(root), why, None)
            return
        try:
            st = directory.stat()
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            why = f"cannot read the directory {directory}: {exc.strerror or exc}"
            yield from _unreadable(str(directory), why, None)
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                if entry.is_dir():
                    if entry.is_symlink() and not path.resolve().is_relative_to(top):
                        outside.append(path)
                    else:
                        subdirs.append(path)
                    continue
                manifest = path.suffix in _YAML_SUFFIXES | _JSON_SUFFIXES
                if manifest and not entry.is_file():
                    if entry.is_symlink() and not path.exists():
                        why = f"{path} is a link to nothing ({os.readlink(path)})"
                    else:
                        why = f"{path} is not a regular file, so it is not read"
                    yield from _unreadable(str(path), why, None)
                elif manifest:
                    yield path
            except OSError as exc:  # e.g. a link loop: ELOOP
                yield from _unreadable(
                    str(path), f"cannot read {path}: {exc.strerror or exc}", None
                )
        stack.extend(reversed(subdirs))
    if outside:
        more = f" and {len(outside) - 1} more" if len(outside) > 1 else ""
        why = (
            f"{outside[0]}{more}: links to directories outside {root} are not followed "
            "(give their targets as --snapshot paths of their own)"
        )
        yield from _unreadable(str(root), why, None)


def read_documents(
    paths: Iterable[str | Path], default_namespace: str | None = None
) -> Iterator[Item | ParsedItem]:
    """Yield (object, origin) for every object in the paths; `List`s are unpacked.
    What cannot be read comes as a Finding and the InputGaps it leaves.
    With `default_namespace`, a large input is read on every CPU and its objects come
    parsed already (ParsedItem), in the same order."""
    sources: Iterable[_Source | Problem] = _sources(paths)
    if default_namespace is not None and (jobs := cpus()) > 1:
        sources = list(sources)
        if sum(len(s.text) for s in sources if isinstance(s, _Source)) >= PARALLEL_FROM:
            yield from _read_parallel(sources, default_namespace, jobs)
            return
    for s in sources:
        if isinstance(s, _Source):
            yield from _file_items(s)
        else:
            yield s


def _file_items(s: _Source) -> Iterator[Item]:
    reader = _json_documents if s.is_json else _yaml_documents
    for item in reader(s.text, s.name):
        if isinstance(item, tuple):
            yield from _unpack(*item)
        else:
            yield item


def _sources(paths: Iterable[str | Path]) -> Iterator[_Source | Problem]:
    """The text of every manifest file in the paths, and what cannot be read."""
    for root in paths:
        root = Path(root)
        try:
            exists = root.exists() or root.is_symlink()
        except OSError:
            exists = True  # let the read below say why
        if not exists:
            yield _problem(
                "input-unreadable", f"{root}: no such file or directory", Origin(str(root))
            )
            continue
        for f in _files(root):
            if not isinstance(f, Path):
                yield f
                continue
            name = str(f)
            text = _read_text(f)
            if not isinstance(text, str):
                yield from text
                continue
            stripped = text.lstrip()
            if stripped.startswith(COMPACT_MAGIC.decode()):
                why = f"{name} is a compact snapshot: give it alone to --snapshot"
                yield from _unreadable(name, why, None)
                continue
            is_json = f.suffix in _JSON_SUFFIXES or (
                f.suffix not in _YAML_SUFFIXES and stripped.startswith(("{", "["))
            )
            yield _Source(name, text, is_json)


def _unpack(
    doc: Any, origin: Origin, item_lines: list[int] | None = None, first: int = 0
) -> Iterator[tuple[Any, Origin]]:
    """`first`: the index in the List of doc's first item (a piece of a split List)."""
    if doc is None:
        return

    def at(i: int) -> Origin:  # each item at its own line where the reader knows it
        line = item_lines[i] if item_lines is not None else origin.line
        return Origin(origin.file, origin.document, line, first + i)

    if isinstance(doc, list):  # a bare JSON array of objects
        for i, item in enumerate(doc):
            yield from _unpack(item, at(i))
        return
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
        item_kind = kind[: -len("List")]
        for i, item in enumerate(doc["items"]):
            # The API's typed lists (PodList) omit kind on items; kubectl's List keeps it.
            if isinstance(item, dict) and "kind" not in item and item_kind:
                item = {**item, "kind": item_kind}
                if "apiVersion" not in item and isinstance(doc.get("apiVersion"), str):
                    item["apiVersion"] = doc["apiVersion"]
            yield item, at(i)
        return
    yield doc, origin


#: Resources the analysis reads from every cluster; a gap in any other list is an
#: extended policy kind that could not be read (and so might deny anything).
CORE_RESOURCES = frozenset(
    {
        "namespaces",
        "nodes",
        "pods",
        "services",
        "endpoints",
        "endpointslices",
        "networkpolicies",
        "events",
        "deployments",
        "statefulsets",
        "daemonsets",
    }
)

#: What `snapshot save` records beside the objects: the reads that were refused, so an
#: offline analysis reports the same unknowns as the live one.
META_API_VERSION = "netpol-doctor.io/v1"
META_KIND = "SnapshotInfo"


def load_snapshot(
    paths: Iterable[str | Path], default_namespace: str = "default", *, keep: bool = False
) -> Snapshot:
    """Read manifests into a Snapshot. Never raises for bad input: see `.problems`.
    A single compact snapshot (`snapshot pack`) is loaded as it was saved; one that
    cannot be raises CompactFormatError (a NetpolDoctorError: one sentence).
    `keep`: the caller keeps what is loaded to the end of the process (a one-shot
    command), so it is frozen out of the cyclic collector (`gc_paused`)."""
    paths = list(paths)
    with gc_paused(freeze=keep):
        if len(paths) == 1 and is_compact(paths[0]):
            return load_compact(paths[0])
        return build_snapshot(read_documents(paths, default_namespace), default_namespace)


@contextmanager
def gc_paused(freeze: bool = False) -> Iterator[None]:
    """Loading builds millions of small objects and no cycles: the cyclic collector
    would walk them over and over (40% of a 100,000-pod load), so it is paused while
    loading. Once it resumes, its first collection walks every object made in the
    pause (a second at 100,000 pods): `freeze` moves them out of its reach first,
    for a caller that keeps them to the end of the process."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()


def build_snapshot(
    items: Iterable[Item | ParsedItem],
    default_namespace: str = "default",
    gaps: dict[tuple[str, str | None], str] | None = None,
) -> Snapshot:
    """Parse manifest dicts (from files or a live cluster) into a Snapshot.

    `gaps`: lists that could not be read, and why; decisions needing them are unknown.
    """
    snap = Snapshot()
    all_gaps = dict(gaps or {})
    input_gaps: dict[tuple[str, str | None], str] = {}
    seen: dict[tuple[str, str | None, str], ObjectRef] = {}
    objects: dict[tuple[str, str | None, str], Any] = {}
    for item in items:
        if isinstance(item, ParsedItem):  # most of a large input's items: tested first
            result, origin = item.result, item.origin
        elif isinstance(item, Finding):
            snap.problems.append(item)
            continue
        elif isinstance(item, InputGap):  # its input-unreadable problem says why
            input_gaps.setdefault((item.resource, item.namespace), item.reason)
            continue
        else:
            doc, origin = item
            if _is_meta(doc):
                all_gaps.update(_forbidden_reads(doc))
                continue
            parsed = _parse_item(doc, origin, default_namespace)
            if not isinstance(parsed, ParsedItem):
                for it in parsed:
                    if isinstance(it, InputGap):
                        input_gaps.setdefault((it.resource, it.namespace), it.reason)
                    else:
                        snap.problems.append(it)
                continue
            result = parsed.result
        if result.findings:
            snap.problems.extend(_with_item(f, origin) for f in result.findings)
        if result.rejected is not None:
            snap.rejected_policies.append(result.rejected)
        if result.obj is None:
            if result.kind != "?" and not result.findings and result.rejected is None:
                snap.unknown_kinds[result.kind] += 1
            continue
        ref = result.obj.ref
        key = (ref.kind, ref.namespace, ref.name)
        if key in seen:
            prev = seen[key]
            snap.problems.append(
                Finding(
                    "input-duplicate",
                    Severity.WARNING,
                    f"{ref} appears again (first at {prev.location}); the later one is used",
                    (ref, prev),
                )
            )
        seen[key] = ref
        objects[key] = result.obj
        snap.kinds[result.kind] += 1
    _assemble(snap, list(objects.values()))
    snap.unreadable = set(all_gaps) | set(input_gaps)
    snap.unreadable_why = {**input_gaps, **all_gaps}
    snap.problems[:0] = gap_findings(all_gaps)
    return snap


def _is_meta(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and doc.get("kind") == META_KIND
        and doc.get("apiVersion") == META_API_VERSION
    )


def _parse_item(doc: Any, origin: Origin, default_namespace: str) -> ParsedItem | list[Problem]:
    """The object parsed, or the problems that say why it cannot be."""
    try:
        return ParsedItem(parse_object(doc, origin, default_namespace), origin)
    except RecursionError:
        why = "an object is nested too deeply to read; it is skipped"
        return list(_unreadable(origin.file or "?", why, _kind_hint(doc), origin))


def _parsed(items: Iterable[Item], default_namespace: str) -> list[Item | ParsedItem]:
    """`items` with their objects parsed (what a loading child sends back); the
    SnapshotInfo document stays as it is, for build_snapshot."""
    out: list[Item | ParsedItem] = []
    for item in items:
        if isinstance(item, tuple) and not _is_meta(item[0]):
            parsed = _parse_item(item[0], item[1], default_namespace)
            out.extend([parsed] if isinstance(parsed, ParsedItem) else parsed)
        else:
            out.append(item)
    return out


def _kind_hint(doc: Any) -> str | None:
    """Enough of an unparseable object for `_unreadable` to tell what it may have been."""
    if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
        return None
    meta = doc.get("metadata")
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return (
        f"kind: {doc['kind']}\n  namespace: {ns}" if isinstance(ns, str) else f"kind: {doc['kind']}"
    )


def _forbidden_reads(doc: dict[str, Any]) -> dict[tuple[str, str | None], str]:
    out: dict[tuple[str, str | None], str] = {}
    for entry in doc.get("forbidden") or []:
        if isinstance(entry, dict) and isinstance(entry.get("resource"), str):
            ns = entry.get("namespace")
            why = entry.get("reason")
            key = (entry["resource"], ns if isinstance(ns, str) else None)
            out[key] = why if isinstance(why, str) else "not readable when the snapshot was saved"
    return out


def _with_item(f: Finding, origin: Origin) -> Finding:
    if origin.item is None or not f.objects:
        return f
    # Point inside kubectl's List: "items[12]" is how the user finds it in the file.
    path = f"items[{origin.item}]" + (f".{f.field}" if f.field else "")
    return Finding(f.id, f.severity, f.message, f.objects, path, f.fix)


def _assemble(snap: Snapshot, objects: list[Any]) -> None:
    for obj in objects:
        if isinstance(obj, Namespace):
            snap.namespaces[obj.name] = obj
        elif isinstance(obj, Pod):
            snap.pods.append(obj)
        elif isinstance(obj, Service):
            snap.services[obj.key] = obj
        elif isinstance(obj, Endpoints):
            snap.endpoints.append(obj)
        elif isinstance(obj, NetworkPolicy):
            snap.policies.append(obj)
        elif isinstance(obj, Node):
            snap.nodes[obj.ref.name] = obj
        elif isinstance(obj, Workload):
            snap.workloads.append(obj)
        elif isinstance(obj, ExtendedObject):
            snap.extended.append(obj)
        elif isinstance(obj, Event):
            snap.events.append(obj)
    snap.pods.extend(_template_pods(snap))
    _note_missing_namespaces(snap)


def _template_pods(snap: Snapshot) -> list[Pod]:
    """Pods for workloads with no live Pod in the input (a GitOps repo has none)."""
    from .selectors import Tri, match_selector

    wanted = {w.ref.namespace or "default" for w in snap.workloads if w.template is not None}
    if not wanted:
        return []  # nothing to add: the live pods are not indexed (100,000 of them)
    # Only the namespaces of workloads with a template: a cluster dump has a few
    # DaemonSets beside 100,000 live pods.
    live_by_ns: dict[str, list[Pod]] = defaultdict(list)
    for p in snap.pods:
        if (ns := p.namespace) in wanted:
            live_by_ns[ns].append(p)
    workload_keys = {(w.ref.kind, w.ref.namespace, w.ref.name) for w in snap.workloads}
    out: list[Pod] = []
    taken = {p.key for pods in live_by_ns.values() for p in pods}
    for w in snap.workloads:
        if w.template is None:
            continue
        # A ReplicaSet/Job whose Deployment/CronJob is in the input is covered by it.
        if w.owner is not None and (w.owner[0], w.ref.namespace, w.owner[1]) in workload_keys:
            continue
        if w.desired == 0:
            continue
        live = live_by_ns.get(w.ref.namespace or "default", [])
        if w.selector is not None:
            has_live = any(match_selector(w.selector, p.label_map).result is Tri.YES for p in live)
        else:  # CronJob: its Jobs' pods carry the job name, which starts with ours
            has_live = any(p.owner and p.owner[1].startswith(f"{w.ref.name}-") for p in live)
        if has_live or w.template.key in taken:
            continue
        taken.add(w.template.key)
        out.append(w.template)
    return out


def _note_missing_namespaces(snap: Snapshot) -> None:
    referenced: dict[str, ObjectRef] = {}
    refs = [o.ref for o in snap.pods] + [o.ref for o in snap.policies]
    refs += [o.ref for o in snap.services.values()]
    for ref in refs:
        ns = ref.namespace
        if ns and ns not in snap.namespaces and ns not in referenced:
            referenced[ns] = ref
    for ns, ref in sorted(referenced.items()):
        snap.namespace(ns)
        snap.problems.append(
            Finding(
                "namespace-missing",
                Severity.WARNING,
                f"namespace {ns} is not in the input (first used by {ref}); it is assumed to "
                f"exist with only the label {NAMESPACE_NAME_LABEL}={ns}, so namespaceSelector "
                "decisions on any other label are unknown",
                (ObjectRef("Namespace", None, ns), ref),
            )
        )


# --- saving -----------------------------------------------------------------------


def gap_findings(gaps: dict[tuple[str, str | None], str]) -> list[Finding]:
    """One problem per list that could not be read: the answers it feeds are unknown."""
    out = []
    for (resource, ns), why in sorted(gaps.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        where = f"namespace {ns}" if ns else "the whole cluster"
        ref = ObjectRef(resource, ns, "*")
        out.append(
            Finding(
                "reads-forbidden",
                Severity.WARNING,
                f"could not read {resource} in {where} ({why}); answers that depend on them "
                "are unknown",
                (ref,),
            )
        )
    return out


def write_snapshot(
    objects: Iterable[dict[str, Any]],
    gaps: dict[tuple[str, str | None], str],
    directory: str | Path,
    info: dict[str, Any] | None = None,
) -> list[Path]:
    """Write objects as one kubectl-style List per kind (sorted: diffable), plus the
    SnapshotInfo that records the gaps. Objects must already be stripped."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for obj in objects:
        by_kind[str(obj.get("kind"))].append(obj)
    written = []
    for kind, items in sorted(by_kind.items()):
        items.sort(
            key=lambda o: (o.get("metadata", {}).get("namespace") or "", o["metadata"]["name"])
        )
        path = root / f"{kind.lower()}.yaml"
        doc = {"apiVersion": "v1", "kind": "List", "items": items}
        path.write_text(yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False))
        written.append(path)
    meta = {
        "apiVersion": META_API_VERSION,
        "kind": META_KIND,
        **(info or {}),
        "forbidden": [
            {"resource": r, "namespace": ns, "reason": why}
            for (r, ns), why in sorted(gaps.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        ],
    }
    path = root / "snapshot-info.yaml"
    path.write_text(yaml.dump(meta, Dumper=_Dumper, sort_keys=False))
    written.append(path)
    return written


try:
    _Dumper: type[yaml.CSafeDumper | yaml.SafeDumper] = yaml.CSafeDumper
except AttributeError:  # pragma: no cover
    _Dumper = yaml.SafeDumper
