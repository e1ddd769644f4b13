"""Many flows at once: the allowed/denied table for every (source, destination) pod
pair in scope. Same answers as `engine.evaluate`, pair by pair.

Imports `model`, `snapshot`, `engine`, `targets`, `cni`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .cni import CniInfo, detect_cni, semantics_for
from .engine import Verdict, evaluate
from .model import Pod, Protocol
from .snapshot import Snapshot
from .targets import endpoint_for_pod

__all__ = ["Matrix", "compute_matrix"]


@dataclass(frozen=True, slots=True)
class Matrix:
    port: int
    protocol: Protocol
    pods: tuple[Pod, ...]
    #: verdicts[i][j]: from pods[i] to pods[j]
    verdicts: tuple[tuple[Verdict, ...], ...]
    cni: CniInfo

    def counts(self) -> dict[Verdict, int]:
        out = dict.fromkeys(Verdict, 0)
        for row in self.verdicts:
            for v in row:
                out[v] += 1
        return out


def pods_in_scope(snapshot: Snapshot, namespaces: Sequence[str] = ()) -> list[Pod]:
    wanted = set(namespaces)
    pods = [p for p in snapshot.pods if not p.finished and (not wanted or p.namespace in wanted)]
    return sorted(pods, key=lambda p: p.key)


def compute_matrix(
    snapshot: Snapshot,
    port: int,
    protocol: Protocol = Protocol.TCP,
    namespaces: Sequence[str] = (),
    cni: CniInfo | None = None,
) -> Matrix:
    cni = cni or detect_cni(snapshot)
    sem = semantics_for(cni)
    pods = pods_in_scope(snapshot, namespaces)
    endpoints = [endpoint_for_pod(snapshot, p) for p in pods]
    rows = tuple(
        tuple(evaluate(snapshot, s, d, protocol, port, sem).verdict for d in endpoints)
        for s in endpoints
    )
    return Matrix(port, protocol, tuple(pods), rows, cni)
