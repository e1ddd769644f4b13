"""`matrix` outputs that stream: JSON and CSV row by row (never a 20,000 x 20,000
structure of Python objects), and the per-namespace-pair summary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..analysis.words import plural
from ..engine import Verdict
from ..matrix import ALLOWED, CODES, DENIED, UNKNOWN, Matrix, PortSweep
from .safe import printable

__all__ = [
    "iter_csv",
    "iter_json",
    "iter_sweep_json",
    "render_summary",
    "render_sweep_summary",
    "summary_rows",
]

_JSON_VALUE = ("false", "true", "null")  # by verdict code: denied, allowed, unknown


def _fragments(m: Matrix, build: Any) -> Any:
    """An object array [code, destination] of the text each cell becomes."""
    frags = np.empty((3, len(m.pods)), dtype=object)
    for j, pod in enumerate(m.pods):
        for code in range(3):
            frags[code, j] = build(j, pod.key, code)
    return frags


def iter_json(m: Matrix, problems: list[dict[str, Any]] | None = None) -> Iterator[str]:
    """The documented schema: {"port", "protocol", "pods", "templates", "problems",
    "allowed"}; `problems` are the input's (finding dicts)."""
    keys = [p.key for p in m.pods]
    head = {
        "port": m.port,
        "protocol": m.protocol.value,
        "pods": keys,
        "templates": [p.key for p in m.pods if p.is_template],
        "problems": problems or [],
    }
    yield json.dumps(head, indent=2)[:-2] + ',\n  "allowed": {'
    frags = _fragments(
        m, lambda j, key, code: ("" if j == 0 else ", ") + f"{json.dumps(key)}: {_JSON_VALUE[code]}"
    )
    columns = np.arange(len(m.pods))
    for i, row in enumerate(m.rows()):
        sep = "," if i else ""
        yield f"{sep}\n    {json.dumps(keys[i])}: {{" + "".join(frags[row, columns]) + "}"
    yield "\n  }\n}\n"


def iter_csv(m: Matrix) -> Iterator[str]:
    """`source,destination,port,protocol,verdict` rows (pod keys never contain commas)."""
    yield "source,destination,port,protocol,verdict\n"  # names: escaped like text
    tail = f",{m.port},{m.protocol.value},"
    frags = _fragments(m, lambda j, key, code: f"{key}{tail}{CODES[code].value}\n")
    columns = np.arange(len(m.pods))
    for i, row in enumerate(m.rows()):
        prefix = m.pods[i].key + ","
        yield printable(prefix + prefix.join(frags[row, columns]))


def summary_rows(m: Matrix) -> list[tuple[str, str, int, int, int]]:
    """(source namespace, destination namespace, allowed, denied, unknown), sorted."""
    namespaces, counts = m.ns_counts()
    src, dst = np.nonzero(counts.sum(axis=2))  # row-major: sorted, as the names are
    cells = counts[src, dst]
    return [
        (namespaces[a], namespaces[b], allowed, denied, unknown)
        for a, b, (denied, allowed, unknown) in zip(
            src.tolist(), dst.tolist(), cells.tolist(), strict=True
        )
    ]


def render_summary(m: Matrix) -> str:
    """A count line, then one line per namespace pair, from the class-level counts."""
    counts = m.counts()
    lines = [
        f"{m.protocol.value} {m.port}: {plural(len(m.pods), 'pod')}, "
        f"{plural(len(m.pods) ** 2, 'pair')}: "
        f"{counts[Verdict.ALLOWED]} allowed, {counts[Verdict.DENIED]} denied, "
        f"{counts[Verdict.UNKNOWN]} unknown",
        "",
    ]
    namespaces, table = m.ns_counts()
    width = max([len("destination namespace"), *(len(n) for n in namespaces)])
    w_src = max([len("source namespace"), *(len(n) for n in namespaces)])
    lines.append(
        f"{'source namespace':<{w_src}}  {'destination namespace':<{width}}  "
        f"{'allowed':>10} {'denied':>10} {'unknown':>10}"
    )
    src, dst = np.nonzero(table.sum(axis=2))  # row-major: sorted, as the names are
    cells = table[src, dst][:, [ALLOWED, DENIED, UNKNOWN]]
    if all(n.isascii() for n in namespaces) and (cells.size == 0 or cells.max() < _TEN_DIGITS):
        body = _fixed_width_lines(namespaces, src, dst, cells, (w_src, width))
        return printable("\n".join(lines) + "\n" + body)
    for a, b, (allowed, denied, unknown) in zip(
        src.tolist(), dst.tolist(), cells.tolist(), strict=True
    ):
        src_ns, dst_ns = namespaces[a], namespaces[b]
        lines.append(
            f"{src_ns:<{w_src}}  {dst_ns:<{width}}  {allowed:>10} {denied:>10} {unknown:>10}"
        )
    return printable("\n".join(lines) + "\n")


_TEN_DIGITS = 10**10


def _fixed_width_lines(
    names: list[str], src: Any, dst: Any, cells: Any, widths: tuple[int, int]
) -> str:
    """The summary's lines as one uint8 buffer [line, column], written column by column
    (a 2,000-namespace cluster has 4 million lines: formatting them one by one in
    Python took longer than computing them). Same text as the f-string path: ASCII
    names left-aligned, counts below 10**10 right-aligned in 10 columns."""
    w_src, w_dst = widths
    n = len(src)
    width = w_src + 2 + w_dst + 2 + 3 * 11
    buf = np.full((n, width), ord(" "), dtype=np.uint8)
    col = 0
    for which, w in ((src, w_src), (dst, w_dst)):
        padded = np.frombuffer(b"".join(x.ljust(w).encode() for x in names), dtype=np.uint8)
        buf[:, col : col + w] = padded.reshape(len(names), w)[which]
        col += w + 2
    # only as many digit columns as the largest count needs; the rest stay spaces
    places = len(str(int(cells.max()))) if cells.size else 1
    scales = 10 ** np.arange(places - 1, -1, -1, dtype=np.int64)
    for k in range(3):
        value = cells[:, k : k + 1]
        digits = (value // scales % 10).astype(np.uint8) + ord("0")
        shown = value >= scales
        shown[:, -1] = True  # no leading zeros, but 0 prints as "0"
        buf[:, col + 10 - places : col + 10] = np.where(shown, digits, np.uint8(ord(" ")))
        col += 11
    buf[:, -1] = ord("\n")
    return buf.tobytes().decode("ascii")


def _port_label(port: tuple[Any, int]) -> str:
    return f"{port[0].value}/{port[1]}"


def iter_sweep_json(sw: PortSweep, problems: list[dict[str, Any]] | None = None) -> Iterator[str]:
    """{"ports", "pods", "problems", "allowed": {src: {dst: ["TCP/8080", ...]}},
    "unknown": same}; each pair lists the ports allowed (and, apart, those that cannot
    be decided)."""
    keys = [p.key for p in sw.pods]
    head = {"ports": [_port_label(p) for p in sw.ports], "pods": keys, "problems": problems or []}
    if not sw.groups:  # no port declared or named: nothing to list, a valid document
        yield json.dumps({**head, "allowed": {}, "unknown": {}}, indent=2) + "\n"
        return
    yield json.dumps(head, indent=2)[:-2] + ","
    labels = [[_port_label(p) for p in ports] for ports, _ in sw.groups]
    prefix = np.array(
        [("" if j == 0 else ", ") + json.dumps(k) + ": " for j, k in enumerate(keys)], dtype=object
    )
    for name, wanted in (("allowed", 1), ("unknown", 2)):
        yield f'\n  "{name}": {{'
        cache: dict[tuple[bool, ...], str] = {}
        for i, _ in enumerate(sw.pods):
            hits = np.stack([row == wanted for row in sw.row_codes(i)])  # [group, dst]
            cells = np.empty(len(keys), dtype=object)
            for j, col in enumerate(map(tuple, hits.T)):
                text = cache.get(col)
                if text is None:
                    text = cache[col] = json.dumps(
                        sorted(x for g, on in enumerate(col) if on for x in labels[g])
                    )
                cells[j] = text
            sep = "," if i else ""
            yield f"{sep}\n    {json.dumps(keys[i])}: {{" + "".join(prefix + cells) + "}"
        yield "\n  }" + ("," if name == "allowed" else "")
    yield "\n}\n"


#: What `matrix --all-ports` says when there is no port to sweep.
NO_PORTS = (
    "no port to sweep: no pod declares a containerPort and no rule names a port, so every "
    "port is treated alike; ask about one with --port P"
)


def _kind(allowed: int, total: int) -> int:
    """0: every port allowed, 1: some, 2: none."""
    return 0 if allowed == total else (2 if allowed == 0 else 1)


def render_sweep_summary(sw: PortSweep) -> str:
    """Per namespace pair: how many pod pairs have every port, some, or no port allowed."""
    if not sw.groups:
        return NO_PORTS + "\n"
    ports = sw.ports
    namespaces = sorted({p.namespace for p in sw.pods})
    index = {ns: k for k, ns in enumerate(namespaces)}
    first = sw.groups[0][1]
    class_of = first.class_of  # every group shares the classes
    pod_ns = np.array([index[p.namespace] for p in sw.pods], dtype=np.int64)
    weights = np.zeros((first.table.shape[0], len(namespaces)))
    np.add.at(weights, (class_of, pod_ns), 1.0)
    allowed = sum(len(g) * (m.table == 1).astype(np.int64) for g, m in sw.groups)
    kinds = (allowed == len(ports), (allowed > 0) & (allowed < len(ports)), allowed == 0)
    counts = [np.rint(weights.T @ k.astype(np.float64) @ weights).astype(np.int64) for k in kinds]
    # pod-level exceptions (a pod to itself, its own node): recount those pairs exactly
    for i, j in {key for _, m in sw.groups for key in m.patches}:
        a, b = pod_ns[i], pod_ns[j]
        before = int(allowed[class_of[i], class_of[j]])
        after = len(sw.pair(i, j)[Verdict.ALLOWED])
        for k in range(3):
            counts[k][a, b] += int(_kind(after, len(ports)) == k) - int(
                _kind(before, len(ports)) == k
            )
    every, some, none = counts
    lines = [
        f"{plural(len(ports), 'port')} ({', '.join(_port_label(p) for p in ports)}), "
        f"{plural(len(sw.pods), 'pod')}",
        "",
    ]
    w = max([len("destination namespace"), *(len(n) for n in namespaces)])
    head = f"{'source namespace':<{w}}  {'destination namespace':<{w}}"
    lines.append(f"{head}  {'all ports':>10} {'some':>10} {'none':>10}")
    for a, src_ns in enumerate(namespaces):
        for b, dst_ns in enumerate(namespaces):
            if every[a, b] or some[a, b] or none[a, b]:
                cells = f"{every[a, b]:>10} {some[a, b]:>10} {none[a, b]:>10}"
                lines.append(f"{src_ns:<{w}}  {dst_ns:<{w}}  {cells}")
    return printable("\n".join(lines) + "\n")
