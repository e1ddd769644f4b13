"""What `probe` tests: the source pod, destination address and port, and the predicted
verdict of each pair, from a diagnosis or one pair per class pair of the matrix; and
the result of testing it. Pure: nothing here acts.

Owns: `Planned`, `Result`, `plan_single`, `plan_matrix`. Must not import shells or render.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..diagnose import diagnose
from ..engine import Verdict
from ..findings import Finding
from ..matrix import compute_matrix
from ..model import Pod, Protocol
from ..snapshot import Snapshot
from .probe_compare import Comparison

__all__ = ["Planned", "Result", "plan_matrix", "plan_single"]


@dataclass(frozen=True, slots=True)
class Planned:
    source: Pod
    destination: str  # pod key or address label
    host: str
    port: int
    predicted: Verdict
    #: the question to ask `diagnose` for an explanation
    question: tuple[str, str] = ("", "")


@dataclass
class Result:
    planned: Planned
    comparison: Comparison
    commands: tuple[str, ...] = ()  # the exec calls made, as kubectl lines
    explanation: tuple[Finding, ...] = ()


def plan_single(
    snapshot: Snapshot,
    source: str,
    destination: str,
    port: int | str,
    protocol: Protocol,
    namespace: str,
    max_pairs: int,
    cni: Any,
) -> tuple[list[Planned], Any]:
    diag = diagnose(snapshot, source, destination, port, protocol, namespace=namespace, cni=cni)
    out: list[Planned] = []
    seen: set[tuple[str, str, int]] = set()
    for pair in diag.pairs:
        d = pair.decision
        if d is None or d.source.pod is None or not d.destination.ips:
            continue
        src = d.source.pod
        if src.is_template or src.finished or (not src.ips and not src.host_network):
            continue
        host = str(d.destination.ips[0])
        key = (src.key, host, d.port)
        if key in seen:
            continue
        seen.add(key)
        label = d.destination.pod.key if d.destination.pod else host
        asked = d.destination.pod.key if d.destination.pod else f"ip/{host}"
        out.append(Planned(src, label, host, d.port, d.verdict, (src.key, asked)))
        if len(out) >= max_pairs:
            break
    return out, diag


def plan_matrix(
    snapshot: Snapshot, namespace: str, port: int, protocol: Protocol, max_pairs: int, cni: Any
) -> list[Planned]:
    """One representative pair per (source class, destination class): pods of a class
    get the same verdict from every other pod, so one test speaks for the class."""
    m = compute_matrix(snapshot, port, protocol, (namespace,), cni)
    first: dict[int, int] = {}
    for i, pod in enumerate(m.pods):
        if pod.is_template or pod.finished or not pod.ips or pod.host_network:
            continue
        first.setdefault(int(m.class_of[i]), i)
    out: list[Planned] = []
    for a in sorted(first):
        for b in sorted(first):
            i, j = first[a], first[b]
            if i == j:
                continue
            src, dst = m.pods[i], m.pods[j]
            out.append(
                Planned(src, dst.key, str(dst.ips[0]), port, m.verdict(i, j), (src.key, dst.key))
            )
            if len(out) >= max_pairs:
                return out
    return out
