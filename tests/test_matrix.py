"""matrix answers exactly what per-flow `evaluate` answers, pair by pair: on the
example cluster, on every semantic case's cluster, and on seeded random clusters."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from builders import namespace, node, pod, policy, snapshot_of, write
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
                if not cni.enforces_policy:  # nothing applies the policies (Flannel alone)
                    want = Verdict.ALLOWED
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


# --- diverse labels over several namespaces ------------------------------------------

_APPS = ["web", "api", "db", "cache"]
_TIERS = ["frontend", "backend", "data"]
_TEAMS = ["pay", "shop", "ops"]


def _diverse_cluster(seed: int, noise: bool = True) -> list[dict[str, Any]]:
    """Pods labelled app/tier/track plus labels policies never read (version with many
    values, pod-template-hash, a per-pod commit); policies select on app, tier and
    track (and sometimes on version NotIn, so unnamed versions must stay together), and
    on namespaces by team, env and name; ns4 is missing from the input (NP-81). With
    `noise` off, the unread labels are left out: the same cluster to every policy."""
    rnd = random.Random(seed)
    objs: list[dict[str, Any]] = [node("n1", "172.18.0.2", "10.1.0.0/24")]
    nss = [f"ns{k}" for k in range(5)]
    for ns in nss[:4]:
        objs.append(namespace(ns, team=rnd.choice(_TEAMS), env=rnd.choice(["prod", "dev"])))
    ip = 10
    for ns in nss:
        for _ in range(rnd.randint(2, 6)):
            ip += 1
            labels = {"app": rnd.choice(_APPS), "track": rnd.choice(["stable", "canary"])}
            if rnd.random() < 0.8:
                labels["tier"] = rnd.choice(_TIERS)
            version = f"v{rnd.randint(1, 9)}"
            extra = {"pod-template-hash": f"h{rnd.randrange(10**6)}", "commit": f"c{ip}"}
            if noise:
                labels |= {"version": version, **extra}
            elif version == "v1":  # the one version a policy names
                labels["version"] = version
            ports = rnd.sample(["http:8080/TCP", "metrics:9090/TCP", "dns:53/UDP"], 2)
            objs.append(pod(f"{ns}/p{ip}", f"10.1.0.{ip}", labels=labels, ports=ports, node="n1"))

    def pod_sel() -> dict[str, Any]:
        r = rnd.random()
        if r < 0.15:
            return {}
        key = rnd.choice(["app", "tier", "track"])
        values = {"app": [*_APPS, "none"], "tier": _TIERS, "track": ["stable", "canary"]}[key]
        if r < 0.5:
            return {"matchLabels": {key: rnd.choice(values)}}
        if r < 0.6:
            return {"matchExpressions": [{"key": "version", "operator": "NotIn", "values": ["v1"]}]}
        op = rnd.choice(["In", "NotIn", "Exists", "DoesNotExist"])
        expr: dict[str, Any] = {"key": key, "operator": op}
        if op in ("In", "NotIn"):
            expr["values"] = rnd.sample(values, 2)
        return {"matchExpressions": [expr]}

    def ns_sel() -> dict[str, Any]:
        r = rnd.random()
        if r < 0.2:
            return {}
        if r < 0.45:
            return {"matchLabels": {"team": rnd.choice(_TEAMS)}}
        if r < 0.7:
            return {"matchLabels": {"kubernetes.io/metadata.name": rnd.choice(nss)}}
        op = rnd.choice(["In", "NotIn", "Exists"])
        expr: dict[str, Any] = {"key": "env", "operator": op}
        if op != "Exists":
            expr["values"] = ["prod"]
        return {"matchExpressions": [expr]}

    def peer() -> dict[str, Any]:
        r = rnd.random()
        if r < 0.35:
            return {"podSelector": pod_sel()}
        if r < 0.6:
            return {"namespaceSelector": ns_sel()}
        return {"namespaceSelector": ns_sel(), "podSelector": pod_sel()}

    for k in range(rnd.randint(4, 10)):
        ns = rnd.choice(nss)
        spec: dict[str, Any] = {"podSelector": pod_sel()}
        types = [t for t in ("Ingress", "Egress") if rnd.random() < 0.6] or ["Ingress"]
        spec["policyTypes"] = types
        for direction, field in (("ingress", "from"), ("egress", "to")):
            if direction.capitalize() in types and rnd.random() < 0.85:
                rule: dict[str, Any] = {field: [peer() for _ in range(rnd.randint(1, 2))]}
                if rnd.random() < 0.6:
                    rule["ports"] = [rnd.choice([{"port": 8080}, {"port": "http"}])]
                spec[direction] = [rule]
        objs.append(policy(f"{ns}/np{k}", spec))
    return objs


@pytest.mark.parametrize("seed", range(16))
def test_random_diverse_clusters(seed: int, tmp_path: Path) -> None:
    _check(snapshot_of(tmp_path, _diverse_cluster(seed)))


@pytest.mark.parametrize("seed", range(8))
def test_labels_no_policy_reads_do_not_split_classes(seed: int, tmp_path: Path) -> None:
    (tmp_path / "noisy").mkdir()
    (tmp_path / "plain").mkdir()
    noisy = snapshot_of(tmp_path / "noisy", _diverse_cluster(seed))
    plain = snapshot_of(tmp_path / "plain", _diverse_cluster(seed, noise=False))
    assert [p.key for p in noisy.pods] == [p.key for p in plain.pods]
    assert any(len(a.labels) > len(b.labels) for a, b in zip(noisy.pods, plain.pods, strict=True))
    m_noisy, m_plain = compute_matrix(noisy, 8080), compute_matrix(plain, 8080)
    assert m_noisy.table.shape == m_plain.table.shape
    assert np.array_equal(m_noisy.table, m_plain.table)
    assert np.array_equal(m_noisy.class_of, m_plain.class_of)


def test_summary_text_both_ways() -> None:
    """The fixed-width fast path writes what the f-string path writes."""
    from netpol_doctor.render.matrixout import _fixed_width_lines

    names = ["a", "kube-system", "team-prod-7"]
    rng = np.random.default_rng(3)
    src = np.array([0, 0, 1, 2, 2])
    dst = np.array([0, 2, 1, 0, 1])
    cells = rng.integers(0, 10**10, (5, 3))
    cells[0] = (0, 9, 10)
    cells[1] = (9_999_999_999, 1, 0)
    widths = (16, 21)
    want = "".join(
        f"{names[a]:<16}  {names[b]:<21}  {x:>10} {y:>10} {z:>10}\n"
        for a, b, (x, y, z) in zip(src, dst, cells.tolist(), strict=True)
    )
    assert _fixed_width_lines(names, src, dst, cells, widths) == want


@pytest.mark.parametrize("output", ["text", "summary", "json"])
def test_all_ports_with_no_port_anywhere_says_so(tmp_path: Path, output: str) -> None:
    """Two pods without ports and an ingress policy without ports crashed the sweep."""
    from netpol_doctor.cli import main

    objs = [
        namespace("default"),
        pod("default/app-1", "10.0.0.1", app="app-1"),
        pod("default/app-2", "10.0.0.2", app="app-2"),
        policy(
            "default/p",
            {
                "podSelector": {"matchLabels": {"app": "app-1"}},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "app-2"}}}]}],
            },
        ),
    ]
    path = write(tmp_path, objs)
    assert main(["matrix", "--all-ports", "--snapshot", str(path), "-o", output]) == 0
