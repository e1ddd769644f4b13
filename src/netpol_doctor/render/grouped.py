"""`matrix --by workload|pod --all-ports`: the group table in words ("TCP 8080, 9000",
"all", "all but UDP 53", "none") as text, JSON, CSV and markdown, and the workload
graph as Graphviz dot and mermaid (edges labelled with their ports; pairs with no port
allowed or undecided are not drawn; undecided edges dashed; a workload's own pods to
each other are in the table, not drawn as loops).

Imports `analysis.grouped` and `model`.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from ..analysis.grouped import Cell, GroupMatrix, Member, SweptPort
from ..model import Protocol

__all__ = [
    "cell_words",
    "edges",
    "port_words",
    "render_csv",
    "render_dot",
    "render_json",
    "render_markdown",
    "render_mermaid",
    "render_text",
]


def port_words(ports: Sequence[SweptPort], universe: Sequence[SweptPort]) -> str:
    """Ports in words, relative to every port swept: "all", "none", "all but UDP 53",
    "TCP 8080, 9000; UDP all"."""
    have = set(ports)
    if not have:
        return "none"
    if have >= set(universe):
        return "all"
    by_proto: dict[Protocol, list[SweptPort]] = defaultdict(list)
    for p in universe:
        by_proto[p.protocol].append(p)
    others = [p for p in universe if p.port is None]
    if others and all(p in have for p in others):
        missing = [p for p in universe if p not in have]
        return "all but " + _listed(missing)
    parts = []
    for proto in sorted(by_proto, key=lambda x: x.value):
        mine = [p for p in by_proto[proto] if p in have]
        if not mine:
            continue
        if len(mine) == len(by_proto[proto]):
            parts.append(f"{proto.value} all")
        elif any(p.port is None for p in mine):
            rest = [p for p in by_proto[proto] if p not in have]
            parts.append(f"{proto.value} all but " + ", ".join(str(p.port) for p in rest))
        else:
            parts.append(_listed(mine))
    return "; ".join(parts)


def _listed(ports: Sequence[SweptPort]) -> str:
    by_proto: dict[str, list[str]] = defaultdict(list)
    for p in ports:
        by_proto[p.protocol.value].append("other ports" if p.port is None else str(p.port))
    return "; ".join(f"{proto} {', '.join(nums)}" for proto, nums in sorted(by_proto.items()))


def cell_words(cell: Cell, universe: Sequence[SweptPort]) -> str:
    if cell.empty:
        return "-"
    text = port_words(cell.allowed, universe)
    if cell.unknown:
        text += f" (unknown: {port_words(cell.unknown, universe)})"
    if cell.partial:
        text += f" (some pods only: {port_words(cell.partial, universe)})"
    return text


def _cells(gm: GroupMatrix) -> Iterator[tuple[Member, Member, Cell]]:
    for i, src in enumerate(gm.members):
        for j, dst in enumerate(gm.members):
            cell = gm.cell(i, j)
            if not cell.empty:
                yield src, dst, cell


def _labels(ports: Sequence[SweptPort]) -> list[str]:
    return [p.label for p in ports]


def _head(gm: GroupMatrix, by: str) -> str:
    kinds = "workloads" if by == "workload" else "pods"
    n_blocks = sum(1 for m in gm.members if m.kind == "IPBlock")
    return (
        f"{len(gm.members) - n_blocks} {kinds} ({len(gm.pods)} pods), {n_blocks} address "
        f"blocks; ports swept: {', '.join(_labels(gm.ports)) or 'none'}"
    )


def render_text(gm: GroupMatrix, by: str) -> str:
    """One line per (source, destination) with pod pairs: the ports allowed in words."""
    rows = [(s.key, d.key, cell_words(c, gm.ports)) for s, d, c in _cells(gm)]
    w_src = max([len("source"), *(len(r[0]) for r in rows)])
    w_dst = max([len("destination"), *(len(r[1]) for r in rows)])
    lines = [_head(gm, by), "", f"{'source':<{w_src}}  {'destination':<{w_dst}}  allowed"]
    lines += [f"{s:<{w_src}}  {d:<{w_dst}}  {words}" for s, d, words in rows]
    return "\n".join(lines) + "\n"


def _member_dict(m: Member) -> dict[str, Any]:
    out: dict[str, Any] = {"key": m.key, "kind": m.kind, "namespace": m.namespace}
    if m.block is not None:
        out["address"] = str(m.address)
    else:
        out["pods"] = m.pods
    return out


def render_json(gm: GroupMatrix, by: str, problems: list[dict[str, Any]] | None = None) -> str:
    """{"by", "ports", "members", "cells": [{source, destination, allowed, unknown,
    partial, words}], "problems"}; pairs with no pod pair are left out."""
    data = {
        "by": by,
        "ports": _labels(gm.ports),
        "members": [_member_dict(m) for m in gm.members],
        "cells": [
            {
                "source": s.key,
                "destination": d.key,
                "allowed": _labels(c.allowed),
                "unknown": _labels(c.unknown),
                "partial": _labels(c.partial),
                "words": cell_words(c, gm.ports),
            }
            for s, d, c in _cells(gm)
        ],
        "problems": problems or [],
    }
    return json.dumps(data, indent=2) + "\n"


def render_csv(gm: GroupMatrix) -> str:
    """source,destination,allowed,unknown,partial,words; port lists space-separated."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["source", "destination", "allowed", "unknown", "partial", "words"])
    for s, d, c in _cells(gm):
        w.writerow(
            [
                s.key,
                d.key,
                " ".join(_labels(c.allowed)),
                " ".join(_labels(c.unknown)),
                " ".join(_labels(c.partial)),
                cell_words(c, gm.ports),
            ]
        )
    return buf.getvalue()


# --- the graph ---------------------------------------------------------------------


def edges(gm: GroupMatrix) -> Iterator[tuple[int, int, str, bool]]:
    """(source, destination, label, certain) for each pair with some port allowed or
    undecided; certain: some port allowed (drawn solid), else dashed."""
    for i in range(len(gm.members)):
        for j in range(len(gm.members)):
            if i == j:
                continue
            cell = gm.cell(i, j)
            if not (cell.allowed or cell.unknown or cell.partial):
                continue
            parts = [port_words(cell.allowed, gm.ports)] if cell.allowed else []
            if cell.unknown:
                parts.append("? " + port_words(cell.unknown, gm.ports))
            if cell.partial:
                parts.append("some pods: " + port_words(cell.partial, gm.ports))
            yield i, j, " | ".join(parts), bool(cell.allowed)


def _drawn(gm: GroupMatrix) -> tuple[list[tuple[int, int, str, bool]], list[int]]:
    es = list(edges(gm))
    nodes = sorted({k for i, j, _, _ in es for k in (i, j)})
    return es, nodes


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def render_dot(gm: GroupMatrix) -> str:
    """Graphviz: one cluster per namespace, nodes and address blocks outside them."""
    es, nodes = _drawn(gm)
    lines = ["digraph connectivity {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    by_ns: dict[str | None, list[int]] = defaultdict(list)
    for k in nodes:
        by_ns[gm.members[k].namespace].append(k)
    for ns in sorted(by_ns, key=lambda x: (x is None, x or "")):
        indent = "  "
        if ns is not None:
            lines.append(f"  subgraph {_dot_quote('cluster_' + ns)} {{")
            lines.append(f"    label={_dot_quote(ns)};")
            indent = "    "
        for k in by_ns[ns]:
            m = gm.members[k]
            shape = ", shape=ellipse" if m.kind == "IPBlock" else ""
            label = m.key if ns is None else m.key[len(ns) + 1 :]
            lines.append(f"{indent}n{k} [label={_dot_quote(label)}{shape}];")
        if ns is not None:
            lines.append("  }")
    for i, j, label, certain in es:
        style = "" if certain else ", style=dashed"
        lines.append(f"  n{i} -> n{j} [label={_dot_quote(label)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    # mermaid's entity codes keep quotes and markup characters out of its syntax
    # (https://mermaid.js.org/syntax/flowchart.html#entity-codes-to-escape-characters)
    for raw, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(raw, code)
    return text.replace("|", "#124;")


def render_mermaid(gm: GroupMatrix) -> str:
    es, nodes = _drawn(gm)
    lines = ["flowchart LR"]
    by_ns: dict[str | None, list[int]] = defaultdict(list)
    for k in nodes:
        by_ns[gm.members[k].namespace].append(k)
    for s, ns in enumerate(sorted(by_ns, key=lambda x: (x is None, x or ""))):
        indent = "  "
        if ns is not None:
            lines.append(f'  subgraph ns{s}["{_mermaid_text(ns)}"]')
            indent = "    "
        for k in by_ns[ns]:
            m = gm.members[k]
            label = _mermaid_text(m.key if ns is None else m.key[len(ns) + 1 :])
            lines.append(
                f'{indent}n{k}(["{label}"])' if m.kind == "IPBlock" else f'{indent}n{k}["{label}"]'
            )
        if ns is not None:
            lines.append("  end")
    for i, j, label, certain in es:
        arrow = "-->" if certain else "-.->"
        lines.append(f'  n{i} {arrow}|"{_mermaid_text(label)}"| n{j}')
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(gm: GroupMatrix, by: str) -> str:
    """For a ticket: the graph as a mermaid block (GitHub renders it), then the pairs
    with some port allowed or undecided."""
    out = [f"### Connectivity by {by}", "", _head(gm, by), "", "```mermaid"]
    out.append(render_mermaid(gm).rstrip("\n"))
    out += ["```", "", "| source | destination | allowed ports |", "|---|---|---|"]
    shown = 0
    for s, d, c in _cells(gm):
        if c.allowed or c.unknown or c.partial:
            words = _md_cell(cell_words(c, gm.ports))
            out.append(f"| `{_md_cell(s.key)}` | `{_md_cell(d.key)}` | {words} |")
            shown += 1
    out += ["", "Pairs not listed: no port allowed." if shown else "No port allowed anywhere."]
    return "\n".join(out) + "\n"
