"""Oracle: `matrix --all-ports` and `matrix --port P` hold to per-pair `diagnose`, for
every plugin, on every case cluster and on seeded random clusters mixing NetworkPolicy,
the admin tiers, Cilium and Calico policies. Library calls, so a few hundred random
clusters run in seconds; NETPOL_DOCTOR_ORACLE_CLUSTERS asks for more (a seed offset
with NETPOL_DOCTOR_ORACLE_SEED)."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from builders import namespace, node, pod, policy, snapshot_of
from netpol_doctor.cni import CniInfo, profile_named
from netpol_doctor.diagnose import diagnose
from netpol_doctor.errors import NetpolDoctorError
from netpol_doctor.matrix import CODES, all_ports, compute_matrix, compute_port_sweep
from netpol_doctor.model import Protocol
from netpol_doctor.snapshot import Snapshot
from test_cases import CASES, _expand
from test_cilium import CASES as CILIUM_CASES
from test_cilium import _expand as _cilium_expand

PLUGINS = [None, "flannel", "calico", "cilium", "aws-vpc-cni", "antrea", "kube-network-policies"]
CLUSTERS = int(os.environ.get("NETPOL_DOCTOR_ORACLE_CLUSTERS", "240"))
SEED = int(os.environ.get("NETPOL_DOCTOR_ORACLE_SEED", "0"))
#: pairs checked per cluster, plugin and port (all of them with a larger count)
PAIRS = int(os.environ.get("NETPOL_DOCTOR_ORACLE_PAIRS", "6"))

APPS = ["web", "api", "db"]
TIERS = ["front", "back"]
PORTS = [80, 443, 5432, 8080]


def _check(snap: Snapshot, rng: random.Random, plugins: list[str | None], where: object) -> int:
    """Compare; return the number of pairs compared."""
    compared = 0
    ports = all_ports(snap)
    for plugin in plugins:
        cni = CniInfo(profile_named(plugin), forced=True) if plugin else None
        sweep = compute_port_sweep(snap, cni=cni)
        assert sweep.ports == ports, (where, plugin)
        live = [i for i, p in enumerate(sweep.pods) if not p.is_template]
        pairs = [(i, j) for i in live for j in live]
        rng.shuffle(pairs)
        pairs = pairs[:PAIRS]
        chosen = rng.sample(ports, min(3, len(ports))) if ports else []
        for proto, port in chosen:
            m = compute_matrix(snap, port, proto, cni=cni)
            for i, j in pairs:
                src, dst = m.pods[i].key, m.pods[j].key
                try:
                    got = diagnose(snap, src, dst, port, proto, cni=cni).verdict
                except NetpolDoctorError:
                    continue
                want = m.verdict(i, j)
                assert got is want, ("matrix", where, plugin, src, dst, proto.value, port)
                by_verdict = sweep.pair(i, j)
                (code,) = [v for v in CODES if (proto, port) in by_verdict[v]]
                assert code is want, ("sweep", where, plugin, src, dst, proto.value, port)
                compared += 1
    return compared


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in [*CASES, *CILIUM_CASES]])
def test_case_clusters(path: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    expand = _cilium_expand if path in CILIUM_CASES else _expand
    snap = snapshot_of(tmp_path, [expand(o) for o in case["objects"]])
    _check(snap, random.Random(path.stem), PLUGINS, path.name)


# --- random clusters -----------------------------------------------------------------


def _labels(rng: random.Random) -> dict[str, str]:
    out = {"app": rng.choice(APPS)}
    if rng.random() < 0.5:
        out["tier"] = rng.choice(TIERS)
    return out


def _pod_selector(rng: random.Random) -> dict[str, Any]:
    r = rng.random()
    if r < 0.3:
        return {}
    if r < 0.8:
        return {"matchLabels": {"app": rng.choice(APPS)}}
    return {"matchExpressions": [{"key": "tier", "operator": "In", "values": [rng.choice(TIERS)]}]}


def _ns_selector(rng: random.Random, namespaces: list[str]) -> dict[str, Any]:
    if rng.random() < 0.3:
        return {}
    return {"matchLabels": {"kubernetes.io/metadata.name": rng.choice(namespaces)}}


def _np_ports(rng: random.Random) -> list[dict[str, Any]]:
    r = rng.random()
    if r < 0.4:
        return []
    if r < 0.6:
        return [{"port": 8000, "endPort": 8100, "protocol": "TCP"}]
    if r < 0.7:
        return [{"port": "http"}]
    return [{"port": rng.choice(PORTS), "protocol": rng.choice(["TCP", "TCP", "UDP"])}]


def _network_policy(rng: random.Random, ns: str, namespaces: list[str], k: int) -> dict[str, Any]:
    types = rng.choice([["Ingress"], ["Egress"], ["Ingress", "Egress"]])
    spec: dict[str, Any] = {"podSelector": _pod_selector(rng), "policyTypes": types}
    for t in types:
        rules = []
        for _ in range(rng.randint(0, 2)):
            peer: dict[str, Any] = {"podSelector": _pod_selector(rng)}
            if rng.random() < 0.4:
                peer["namespaceSelector"] = _ns_selector(rng, namespaces)
            rule: dict[str, Any] = {("from" if t == "Ingress" else "to"): [peer]}
            ports = _np_ports(rng)
            if ports:
                rule["ports"] = ports
            rules.append(rule)
        spec[t.lower()] = rules
    return policy(f"{ns}/np-{k}", spec)


def _admin_ports(rng: random.Random) -> list[dict[str, Any]] | None:
    r = rng.random()
    if r < 0.4:
        return None
    if r < 0.6:
        return [{"portRange": {"start": 8050, "end": 8200, "protocol": "TCP"}}]
    return [{"portNumber": {"port": rng.choice(PORTS), "protocol": "TCP"}}]


def _admin(rng: random.Random, namespaces: list[str], k: int, baseline: bool) -> dict[str, Any]:
    actions = ["Allow", "Deny"] if baseline else ["Allow", "Deny", "Pass"]
    subject: dict[str, Any]
    if rng.random() < 0.5:
        subject = {"namespaces": _ns_selector(rng, namespaces)}
    else:
        subject = {
            "pods": {
                "namespaceSelector": _ns_selector(rng, namespaces),
                "podSelector": _pod_selector(rng),
            }
        }
    spec: dict[str, Any] = {"subject": subject}
    if not baseline:
        spec["priority"] = rng.randint(1, 20)
    for direction, field in (("ingress", "from"), ("egress", "to")):
        rules = []
        for i in range(rng.randint(0, 2)):
            peer = (
                {"namespaces": _ns_selector(rng, namespaces)}
                if rng.random() < 0.5
                else {
                    "pods": {
                        "namespaceSelector": _ns_selector(rng, namespaces),
                        "podSelector": _pod_selector(rng),
                    }
                }
            )
            rule: dict[str, Any] = {"name": f"r{i}", "action": rng.choice(actions), field: [peer]}
            ports = _admin_ports(rng)
            if ports is not None:
                rule["ports"] = ports
            rules.append(rule)
        if rules:
            spec[direction] = rules
    kind = "BaselineAdminNetworkPolicy" if baseline else "AdminNetworkPolicy"
    name = "default" if baseline else f"anp-{k}"
    meta = {"name": name}
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": kind,
        "metadata": meta,
        "spec": spec,
    }


def _cilium(rng: random.Random, ns: str, namespaces: list[str], k: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"endpointSelector": _pod_selector(rng)}
    for field, peer_field in (("ingress", "fromEndpoints"), ("egress", "toEndpoints")):
        if rng.random() < 0.5:
            continue
        deny = rng.random() < 0.3
        labels = {"app": rng.choice(APPS)}
        if rng.random() < 0.5:
            labels["k8s:io.kubernetes.pod.namespace"] = rng.choice(namespaces)
        item: dict[str, Any] = {peer_field: [{"matchLabels": labels}]}
        if rng.random() < 0.6:
            port = rng.choice([*PORTS, 8000])
            to_ports: dict[str, Any] = {"ports": [{"port": str(port), "protocol": "TCP"}]}
            if port == 8000:
                to_ports["ports"][0]["endPort"] = 8150
            if not deny and rng.random() < 0.3:
                to_ports["rules"] = {"http": [{"method": "GET", "path": "/api"}]}
            item["toPorts"] = [to_ports]
        spec[f"{field}Deny" if deny else field] = [item]
    meta = {"name": f"cnp-{k}", "namespace": ns}
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": meta,
        "spec": spec,
    }


def _calico(rng: random.Random, namespaces: list[str], k: int) -> dict[str, Any]:
    rules = []
    for _ in range(rng.randint(1, 2)):
        rule: dict[str, Any] = {"action": rng.choice(["Allow", "Deny", "Pass"])}
        source: dict[str, Any] = {}
        if rng.random() < 0.7:
            source["namespaceSelector"] = f"projectcalico.org/name == '{rng.choice(namespaces)}'"
        if rng.random() < 0.4:
            source["selector"] = f"app == '{rng.choice(APPS)}'"
        if source:
            rule["source"] = source
        if rng.random() < 0.5:
            rule["protocol"] = "TCP"
            rule["destination"] = {"ports": [rng.choice([80, 443, "8000:8120"])]}
        rules.append(rule)
    spec = {
        "order": rng.choice([10, 100, 2000]),
        "selector": "all()",
        "types": ["Ingress"],
        "ingress": rules,
    }
    meta = {"name": f"gnp-{k}"}
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkPolicy",
        "metadata": meta,
        "spec": spec,
    }


def random_cluster(rng: random.Random) -> list[dict[str, Any]]:
    namespaces = [f"ns{i}" for i in range(rng.randint(2, 3))]
    objects: list[dict[str, Any]] = [namespace(ns) for ns in namespaces]
    for i in range(rng.randint(4, 8)):
        ns = rng.choice(namespaces)
        ports = rng.sample(["http:8080/TCP", "443", "dns:53/UDP", "5432"], rng.randint(0, 2))
        objects.append(
            pod(f"{ns}/p{i}", f"10.0.{i // 200}.{i % 200 + 1}", labels=_labels(rng), ports=ports)
        )
    if rng.random() < 0.3:  # a hostNetwork pod: its traffic is its node's (NP-94)
        objects.append(node("node-1", "172.18.0.2", "10.0.0.0/16"))
        objects.append(
            pod(f"{namespaces[0]}/agent", "172.18.0.2", labels=_labels(rng), host_network=True)
        )
    for k in range(rng.randint(0, 3)):
        objects.append(_network_policy(rng, rng.choice(namespaces), namespaces, k))
    for k in range(rng.choice([0, 0, 1, 2])):
        objects.append(_admin(rng, namespaces, k, baseline=False))
    if rng.random() < 0.3:
        objects.append(_admin(rng, namespaces, 0, baseline=True))
    for k in range(rng.choice([0, 0, 1, 2])):
        objects.append(_cilium(rng, rng.choice(namespaces), namespaces, k))
    if rng.random() < 0.3:
        objects.append(_calico(rng, namespaces, 0))
    return objects


@pytest.mark.parametrize("block", range(8))
def test_random_clusters(block: int, tmp_path: Path) -> None:
    compared = 0
    for n in range(block, CLUSTERS, 8):
        seed = SEED + n
        rng = random.Random(seed)
        objects = random_cluster(rng)
        snap = snapshot_of(tmp_path, objects)
        plugins = rng.sample(PLUGINS, 2)
        compared += _check(snap, rng, plugins, f"seed {seed}")
    assert compared or block >= CLUSTERS


def test_the_generator_makes_every_family() -> None:
    kinds = set()
    for n in range(40):
        kinds |= {o["kind"] for o in random_cluster(random.Random(n))}
    assert {
        "NetworkPolicy",
        "AdminNetworkPolicy",
        "BaselineAdminNetworkPolicy",
        "CiliumNetworkPolicy",
        "GlobalNetworkPolicy",
    } <= kinds


def test_sweep_includes_ports_only_other_families_name(tmp_path: Path) -> None:
    rng = random.Random(1)
    anp = _admin(rng, ["a"], 0, baseline=False)
    anp["spec"] = {
        "priority": 1,
        "subject": {"namespaces": {}},
        "ingress": [
            {
                "name": "r",
                "action": "Deny",
                "from": [{"namespaces": {}}],
                "ports": [{"portRange": {"start": 9000, "end": 9100, "protocol": "UDP"}}],
            }
        ],
    }
    cnp = _cilium(rng, "a", ["a"], 0)
    cnp["spec"] = {
        "endpointSelector": {},
        "ingress": [{"toPorts": [{"ports": [{"port": "7000", "protocol": "ANY"}]}]}],
    }
    gnp = _calico(rng, ["a"], 0)
    gnp["spec"]["ingress"] = [
        {"action": "Allow", "protocol": "TCP", "destination": {"ports": [6000, "6100:6110"]}}
    ]
    objects = [namespace("a"), pod("a/x", "10.0.0.1"), pod("a/y", "10.0.0.2"), anp, cnp, gnp]
    snap = snapshot_of(tmp_path, objects)
    ports = set(all_ports(snap))
    assert {(Protocol.UDP, 9000), (Protocol.UDP, 9050), (Protocol.UDP, 9100)} <= ports
    assert {(Protocol.TCP, 7000), (Protocol.UDP, 7000), (Protocol.SCTP, 7000)} <= ports
    assert {
        (Protocol.TCP, 6000),
        (Protocol.TCP, 6100),
        (Protocol.TCP, 6105),
        (Protocol.TCP, 6110),
    } <= ports
    _check(snap, random.Random(0), PLUGINS, "families")
