"""`matrix --by workload` answers what per-flow `evaluate` answers, pod pair by pod
pair, aggregated as `diagnose` aggregates (any denied -> denied, else any unknown ->
unknown; allowed and denied together -> partial): on the example cluster and on seeded
random clusters whose pods belong to ReplicaSets, for every swept port (each port of a
group, not only the one evaluated) and every outside address block."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from builders import snapshot_of
from netpol_doctor.analysis.grouped import (
    ALLOWED,
    DENIED,
    EMPTY,
    PARTIAL,
    UNKNOWN,
    compute_grouped,
    other_ports,
)
from netpol_doctor.cni import CniInfo, detect_cni, profile_named, semantics_for
from netpol_doctor.engine import Endpoint, EndpointKind, Verdict
from netpol_doctor.layers import evaluate_flow
from netpol_doctor.snapshot import Snapshot, load_snapshot
from netpol_doctor.targets import endpoint_for_pod
from test_matrix import _random_cluster

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "cluster"


def _want(verdicts: list[Verdict]) -> int:
    if not verdicts:
        return EMPTY
    denied = Verdict.DENIED in verdicts
    if denied and Verdict.ALLOWED in verdicts:
        return PARTIAL
    if denied:
        return DENIED
    return UNKNOWN if Verdict.UNKNOWN in verdicts else ALLOWED


def _check(snap: Snapshot, cni: CniInfo | None = None) -> None:
    cni = cni or detect_cni(snap)
    sem = semantics_for(cni)
    gm = compute_grouped(snap, "workload", cni=cni)
    others = dict(other_ports(snap))
    eps = [endpoint_for_pod(snap, p) for p in gm.pods]
    members: dict[int, list[int]] = {}
    for i, k in enumerate(gm.member_of.tolist()):
        members.setdefault(k, []).append(i)
    blocks = [k for k, m in enumerate(gm.members) if m.kind == "IPBlock"]

    def ends(k: int) -> list[tuple[int, Endpoint]]:
        if k in blocks:
            ip = gm.members[k].address
            return [(-1 - k, Endpoint(EndpointKind.EXTERNAL, None, (ip,)))]
        return [(i, eps[i]) for i in members[k]]

    for g, group in enumerate(gm.groups):
        for port_index in group:
            sp = gm.ports[port_index]
            port = others[sp.protocol] if sp.port is None else sp.port
            for a in range(len(gm.members)):
                for b in range(len(gm.members)):
                    if a in blocks and b in blocks:
                        continue
                    got: list[Verdict] = []
                    for i, s in ends(a):
                        for j, d in ends(b):
                            if i != j:
                                v = evaluate_flow(snap, s, d, sp.protocol, port, sem).verdict
                                got.append(Verdict.ALLOWED if not cni.enforces_policy else v)
                    want = _want(got)
                    assert int(gm.codes[a, b, g]) == want, (
                        gm.members[a].key,
                        gm.members[b].key,
                        sp.label,
                        port,
                    )


def test_example_cluster() -> None:
    _check(load_snapshot([EXAMPLES]))


def _with_owners(objs: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Each pod owned by one of two ReplicaSets of its namespace (absent from the
    input), named as the Deployment controller names them."""
    rnd = random.Random(seed)
    for o in objs:
        if o.get("kind") != "Pod":
            continue
        h = rnd.choice(["5d4f8", "7c9d8"])
        o["metadata"].setdefault("labels", {})["pod-template-hash"] = h
        o["metadata"]["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": f"app-{h}",
                "controller": True,
                "uid": h,
            }
        ]
    return objs


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("cni", [None, "calico"])
def test_random_clusters(seed: int, cni: str | None, tmp_path: Path) -> None:
    snap = snapshot_of(tmp_path, _with_owners(_random_cluster(seed), seed))
    _check(snap, CniInfo(profile_named(cni), forced=True) if cni else CniInfo(None))
