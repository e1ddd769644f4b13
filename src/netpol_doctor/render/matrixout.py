"""`matrix` outputs that stream: JSON and CSV row by row (never a 20,000 x 20,000
structure of Python objects), and the per-namespace-pair summary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..engine import Verdict
from ..matrix import CODES, Matrix

__all__ = ["iter_csv", "iter_json", "render_summary", "summary_rows"]

_JSON_VALUE = ("false", "true", "null")  # by verdict code: denied, allowed, unknown


def _fragments(m: Matrix, build: Any) -> Any:
    """An object array [code, destination] of the text each cell becomes."""
    frags = np.empty((3, len(m.pods)), dtype=object)
    for j, pod in enumerate(m.pods):
        for code in range(3):
            frags[code, j] = build(j, pod.key, code)
    return frags


def iter_json(m: Matrix) -> Iterator[str]:
    """The documented schema: {"port", "protocol", "pods", "templates", "allowed"}."""
    keys = [p.key for p in m.pods]
    head = {
        "port": m.port,
        "protocol": m.protocol.value,
        "pods": keys,
        "templates": [p.key for p in m.pods if p.is_template],
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
    yield "source,destination,port,protocol,verdict\n"
    tail = f",{m.port},{m.protocol.value},"
    frags = _fragments(m, lambda j, key, code: f"{key}{tail}{CODES[code].value}\n")
    columns = np.arange(len(m.pods))
    for i, row in enumerate(m.rows()):
        prefix = m.pods[i].key + ","
        yield prefix + prefix.join(frags[row, columns])


def summary_rows(m: Matrix) -> list[tuple[str, str, int, int, int]]:
    """(source namespace, destination namespace, allowed, denied, unknown), sorted."""
    return [
        (src, dst, c[Verdict.ALLOWED], c[Verdict.DENIED], c[Verdict.UNKNOWN])
        for (src, dst), c in sorted(m.summary().items())
    ]


def render_summary(m: Matrix) -> str:
    rows = summary_rows(m)
    counts = m.counts()
    lines = [
        f"{m.protocol.value} {m.port}: {len(m.pods)} pods, {len(m.pods) ** 2} pairs: "
        f"{counts[Verdict.ALLOWED]} allowed, {counts[Verdict.DENIED]} denied, "
        f"{counts[Verdict.UNKNOWN]} unknown",
        "",
    ]
    w_src = max([len("source namespace"), *(len(r[0]) for r in rows)])
    w_dst = max([len("destination namespace"), *(len(r[1]) for r in rows)])
    lines.append(
        f"{'source namespace':<{w_src}}  {'destination namespace':<{w_dst}}  "
        f"{'allowed':>10} {'denied':>10} {'unknown':>10}"
    )
    for src, dst, a, d, u in rows:
        lines.append(f"{src:<{w_src}}  {dst:<{w_dst}}  {a:>10} {d:>10} {u:>10}")
    return "\n".join(lines) + "\n"
