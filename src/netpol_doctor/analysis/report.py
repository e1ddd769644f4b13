"""The data behind `netpol-doctor report`: aggregated first (namespace by namespace),
with per-namespace detail bounded so a 20,000-pod cluster makes a page a browser
opens: workloads of each namespace, the edges among them, and at most
`CROSS_LIMIT` edges to or from other namespaces (the heatmap row counts the rest).

Heatmap cells count *workload pairs* (the `matrix --by workload` cells) by their
verdict across every swept port: allowed (some port allowed), unknown (no port
allowed, some undecided or allowed for some pods only), denied (every port denied).

Imports `analysis.grouped`, `analysis.workloads`, `context`, `model`, `snapshot`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from ..context import dns_pods
from ..model import Direction, Protocol
from ..snapshot import Snapshot
from .grouped import ALLOWED, DENIED, EMPTY, PARTIAL, UNKNOWN, GroupMatrix, SweptPort
from .workloads import OwnerIndex, workload_of

__all__ = ["CROSS_LIMIT", "NODES", "OUTSIDE", "report_data"]

#: pseudo-namespaces for nodes (hostNetwork pods) and outside address blocks
NODES, OUTSIDE = "(nodes)", "(outside)"
CROSS_LIMIT = 200


def report_data(
    snapshot: Snapshot, gm: GroupMatrix, edge_label: Any, sources: list[str]
) -> dict[str, Any]:
    """`edge_label(i, j) -> (label, certain) | None`: the words for a drawn edge."""
    spaces = [_space(m.namespace, m.kind) for m in gm.members]
    namespaces = sorted(set(spaces), key=lambda n: (n in (NODES, OUTSIDE), n))
    index = {n: k for k, n in enumerate(namespaces)}
    ns_of = np.array([index[s] for s in spaces], dtype=np.int64)
    verdicts = gm.verdicts()
    heat = np.zeros((len(namespaces), len(namespaces), 3), dtype=np.int64)
    for code, col in ((1, 0), (0, 1), (2, 2)):  # allowed, denied, unknown
        src, dst = np.nonzero(verdicts == code)
        np.add.at(heat[:, :, col], (ns_of[src], ns_of[dst]), 1)
    members_by_ns: dict[int, list[int]] = defaultdict(list)
    for k, n in enumerate(ns_of.tolist()):
        members_by_ns[n].append(k)
    labels: dict[str, int] = {}

    def label_id(text: str) -> int:
        return labels.setdefault(text, len(labels))

    detail = []
    for n in range(len(namespaces)):
        mine = members_by_ns[n]
        inner: list[list[int]] = []
        cross_out: list[list[int]] = []
        cross_in: list[list[int]] = []
        mine_set = set(mine)
        for i in mine:
            outs: list[int] = np.nonzero(verdicts[i] > 0)[0].tolist()
            ins: list[int] = np.nonzero(verdicts[:, i] > 0)[0].tolist()
            for j in outs:
                if i == j or (j not in mine_set and len(cross_out) >= CROSS_LIMIT):
                    continue
                e = edge_label(i, j)
                if e is None:
                    continue
                item = [i, j, label_id(e[0]), int(e[1])]
                (inner if j in mine_set else cross_out).append(item)
            for j in ins:
                if j in mine_set or len(cross_in) >= CROSS_LIMIT:
                    continue
                e = edge_label(j, i)
                if e is not None:
                    cross_in.append([j, i, label_id(e[0]), int(e[1])])
        detail.append(
            {
                "members": mine,
                "edges": inner,
                "out": cross_out,
                "in": cross_in,
                "out_total": int(np.count_nonzero(verdicts[mine][:, ns_of != n] > 0)),
                "in_total": int(np.count_nonzero(verdicts[:, mine][ns_of != n] > 0)),
            }
        )
    return {
        "sources": sources,
        "ports": [p.label for p in gm.ports],
        "pods": len(gm.pods),
        "namespaces": namespaces,
        "heatmap": heat.tolist(),
        "members": [[m.key, m.kind, m.pods] for m in gm.members],
        "detail": detail,
        "labels": list(labels),
        "isolation": _isolation(snapshot, gm, namespaces, ns_of),
        "cross_limit": CROSS_LIMIT,
    }


def _space(namespace: str | None, kind: str) -> str:
    if namespace is not None:
        return namespace
    return OUTSIDE if kind == "IPBlock" else NODES


def _isolation(
    snapshot: Snapshot, gm: GroupMatrix, namespaces: list[str], ns_of: Any
) -> list[dict[str, Any]]:
    """Per namespace: the policies that deny by default (all pods selected, no rule
    for the direction) and whether its workloads reach the cluster DNS pods on UDP 53
    (allowed / denied / unknown / partial / not known when DNS pods or the port are
    not in the input)."""
    deny: dict[tuple[str, Direction], list[str]] = defaultdict(list)
    for p in snapshot.policies:
        for d in (Direction.INGRESS, Direction.EGRESS):
            if p.controls(d) and not p.pod_selector.requirements and not p.rules(d):
                deny[(p.namespace, d)].append(p.ref.key)
    dns_members = _dns_members(snapshot, gm)
    group = _group_of(gm, SweptPort(Protocol.UDP, 53))
    out = []
    for n, name in enumerate(namespaces):
        item: dict[str, Any] = {
            "namespace": name,
            "deny_ingress": deny.get((name, Direction.INGRESS), []),
            "deny_egress": deny.get((name, Direction.EGRESS), []),
        }
        mine = np.nonzero(ns_of == n)[0]
        if name == OUTSIDE or not dns_members or group is None or not len(mine):
            item["dns"] = "not known"
        else:
            dns = np.array(dns_members, dtype=np.int64)
            cells = gm.codes[np.ix_(mine, dns)][..., group].reshape(-1)
            cells = cells[cells != EMPTY]
            item["dns"] = _aggregate_word(cells)
        out.append(item)
    return out


def _aggregate_word(cells: Any) -> str:
    if not len(cells):
        return "not known"
    if (cells == PARTIAL).any() or ((cells == DENIED).any() and (cells == ALLOWED).any()):
        return "partial"
    if (cells == DENIED).any():
        return "denied"
    if (cells == UNKNOWN).any():
        return "unknown"
    return "allowed"


def _dns_members(snapshot: Snapshot, gm: GroupMatrix) -> list[int]:
    keys = {m.key: k for k, m in enumerate(gm.members)}
    owners = OwnerIndex.of(snapshot)
    return sorted(
        {keys[w] for w in (workload_of(p, owners).key for p in dns_pods(snapshot)) if w in keys}
    )


def _group_of(gm: GroupMatrix, port: SweptPort) -> int | None:
    """The port group holding the port, or the protocol's "other ports" group when the
    port is neither declared nor named (it behaves as they do)."""
    for wanted in (port, SweptPort(port.protocol, None)):
        for g, ports in enumerate(gm.groups):
            if any(gm.ports[k] == wanted for k in ports):
                return g
    return None
