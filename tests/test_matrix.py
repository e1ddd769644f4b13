"""matrix answers exactly what per-flow `evaluate` answers, pair by pair: on the
example cluster, on every semantic case's cluster, and on seeded random clusters."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from builders import namespace, node, pod, policy, snapshot_of
from netpol_doctor.cni import CniInfo, detect_cni, profile_named, semantics_for
from netpol_doctor.engine import Verdict
from netpol_doctor.layers import evaluate_flow as evaluate
from netpol_doctor.matrix import CODES, compute_matrix
from netpol_doctor.model import Protocol
from netpol_doctor.render.matrixout import iter_csv, iter_json
from netpol_doctor.snapshot import Snapshot, load_snapshot
from netpol_doctor.targets import endpoint_for_pod
from test_cases import CASES, _expand

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "cluster"
QUESTIONS = [
    (8080, Protocol.TCP),
    (53, Protocol.UDP),
    (5432, Protocol.TCP),
    (9090, Protocol.TCP),
    (3868, Protocol.SCTP),
    (80, Protocol.TCP),
    (0, Protocol.ICMP),
]


def _check(snap: Snapshot, cni: CniInfo | None = None) -> None:
    cni = cni or detect_cni(snap)
    sem = semantics_for(cni)
    for port, proto in QUESTIONS:
        m = compute_matrix(snap, port, proto, cni=cni)
        eps = [endpoint_for_pod(snap, p) for p in m.pods]
        for i, s in enumerate(eps):
            row = m.row(i)
            for j, d in enumerate(eps):
                want = evaluate(snap, s, d, proto, port, sem).verdict
                assert CODES[int(row[j])] is want, (s.label, d.label, port, proto.value)
                assert m.verdict(i, j) is want


def test_examples() -> None:
    _check(load_snapshot([EXAMPLES]))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_every_case_cluster(path: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    snap = snapshot_of(tmp_path, [_expand(o) for o in case["objects"]])
    cni = CniInfo(profile_named(case["cni"]), forced=True) if case.get("cni") else None
    _check(snap, cni)


def _random_cluster(seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    apps = ["web", "api", "db", "cache", "job"]
    teams = ["a", "b", "c"]
    objs: list[dict[str, Any]] = [
        node("n1", "172.18.0.2", "10.1.0.0/24"),
        node("n2", "172.18.0.3", "10.1.1.0/24"),
    ]
    nss = [f"ns{k}" for k in range(4)]
    for k, ns in enumerate(nss):
        if k < 3:  # ns3 stays missing from the input
            objs.append(namespace(ns, team=rnd.choice(teams)))
    ip = 10
    for ns in nss:
        for _ in range(rnd.randint(2, 5)):
            ip += 1
            labels = {"app": rnd.choice(apps)}
            if rnd.random() < 0.5:
                labels["tier"] = rnd.choice(["fe", "be"])
            ports = rnd.sample(
                ["http:8080/TCP", "metrics:9090/TCP", "dns:53/UDP", "pg:5432/TCP"], 2
            )
            host = rnd.random() < 0.1
            objs.append(
                pod(
                    f"{ns}/p{ip}",
                    f"10.1.{ip % 2}.{ip}" if not host else f"172.18.0.{2 + ip % 2}",
                    labels=labels,
                    ports=ports,
                    host_network=host,
                    node=f"n{1 + ip % 2}",
                )
            )

    def sel() -> dict[str, Any]:
        r = rnd.random()
        if r < 0.2:
            return {}
        if r < 0.6:
            return {"matchLabels": {"app": rnd.choice(apps)}}
        op = rnd.choice(["In", "NotIn", "Exists", "DoesNotExist"])
        expr: dict[str, Any] = {"key": rnd.choice(["app", "tier"]), "operator": op}
        if op in ("In", "NotIn"):
            expr["values"] = rnd.sample([*apps, "fe", "be"], 2)
        return {"matchExpressions": [expr]}

    def peer() -> dict[str, Any]:
        r = rnd.random()
        if r < 0.3:
            return {"podSelector": sel()}
        if r < 0.55:
            return {"namespaceSelector": {"matchLabels": {"team": rnd.choice(teams)}}}
        if r < 0.75:
            return {
                "namespaceSelector": rnd.choice([{}, {"matchLabels": {"team": rnd.choice(teams)}}]),
                "podSelector": sel(),
            }
        cidr = rnd.choice(["10.1.0.0/24", "10.1.0.0/16", "172.18.0.0/24", "0.0.0.0/0"])
        block: dict[str, Any] = {"cidr": cidr}
        if cidr != "10.1.0.0/24" and rnd.random() < 0.5:
            block["except"] = (
                ["10.1.1.0/24"] if cidr in ("10.1.0.0/16", "0.0.0.0/0") else ["172.18.0.3/32"]
            )
        return {"ipBlock": block}

    def ports() -> list[dict[str, Any]]:
        r = rnd.random()
        if r < 0.3:
            return []
        choice = rnd.choice(
            [
                {"port": 8080},
                {"port": "http"},
                {"port": "dns", "protocol": "UDP"},
                {"port": 5000, "endPort": 9000},
                {"protocol": "UDP"},
                {"port": "metrics"},
            ]
        )
        return [choice]

    for k in range(rnd.randint(3, 8)):
        ns = rnd.choice(nss)
        spec: dict[str, Any] = {"podSelector": sel()}
        for direction, field in (("ingress", "from"), ("egress", "to")):
            if rnd.random() < 0.6:
                rules = []
                for _ in range(rnd.randint(0, 2)):
                    rule: dict[str, Any] = {}
                    if rnd.random() < 0.8:
                        rule[field] = [peer() for _ in range(rnd.randint(1, 2))]
                    if p := ports():
                        rule["ports"] = p
                    rules.append(rule)
                spec[direction] = rules
        if rnd.random() < 0.6:
            spec["policyTypes"] = [t for t in ("Ingress", "Egress") if rnd.random() < 0.7] or [
                "Ingress"
            ]
        objs.append(policy(f"{ns}/np{k}", spec))
    return objs


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("cni", [None, "calico", "cilium"])
def test_random_clusters(seed: int, cni: str | None, tmp_path: Path) -> None:
    snap = snapshot_of(tmp_path, _random_cluster(seed))
    _check(snap, CniInfo(profile_named(cni), forced=True) if cni else CniInfo(None))


def test_namespace_scope_and_outputs() -> None:
    snap = load_snapshot([EXAMPLES])
    m = compute_matrix(snap, 8080, namespaces=["payments"])
    assert m.pods and all(p.namespace == "payments" for p in m.pods)
    import json

    data = json.loads("".join(iter_json(m)))
    keys = [p.key for p in m.pods]
    assert data["pods"] == keys
    for i, s in enumerate(keys):
        for j, d in enumerate(keys):
            want = {Verdict.ALLOWED: True, Verdict.DENIED: False, Verdict.UNKNOWN: None}[
                m.verdict(i, j)
            ]
            assert data["allowed"][s][d] is want
    lines = "".join(iter_csv(m)).splitlines()
    assert len(lines) == 1 + len(keys) ** 2
    counts = m.counts()
    assert sum(counts.values()) == len(keys) ** 2
    summary = m.summary()
    assert sum(sum(c.values()) for c in summary.values()) == len(keys) ** 2
    codes = np.array([[int(m.row(i)[j]) for j in range(len(keys))] for i in range(len(keys))])
    assert counts[Verdict.ALLOWED] == int((codes == 1).sum())


def test_all_ports_sweep_matches_single_port_matrices() -> None:
    from netpol_doctor.matrix import all_ports, compute_port_sweep

    snap = load_snapshot([EXAMPLES])
    sw = compute_port_sweep(snap)
    assert sw.ports == all_ports(snap)
    for proto, port in sw.ports:
        single = compute_matrix(snap, port, proto)
        for i in range(len(sw.pods)):
            for j in range(len(sw.pods)):
                verdict = single.verdict(i, j)
                assert (proto, port) in sw.pair(i, j)[verdict]


def test_all_ports_summary_counts_every_pair() -> None:
    from netpol_doctor.matrix import compute_port_sweep
    from netpol_doctor.render.matrixout import render_sweep_summary

    snap = load_snapshot([EXAMPLES])
    sw = compute_port_sweep(snap)
    n = len(sw.ports)
    want: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(sw.pods):
        for j, d in enumerate(sw.pods):
            k = len(sw.pair(i, j)[Verdict.ALLOWED])
            row = want.setdefault((s.namespace, d.namespace), [0, 0, 0])
            row[0 if k == n else (2 if k == 0 else 1)] += 1
    lines = render_sweep_summary(sw).splitlines()[3:]
    got = {(ln.split()[0], ln.split()[1]): [int(x) for x in ln.split()[2:]] for ln in lines}
    assert got == {k: v for k, v in want.items()}
