"""A deterministic synthetic cluster, written as kubectl dumps, for `make bench`.

    python bench/generate.py --pods 1000 --policies 250 --seed 1 --out bench/.data/c1000

writes OUT/cluster/ (the directory to give `--snapshot`): `namespaces.json`,
`nodes.json`, `pods.json`, `services.json`, `endpoints.json`, `daemonsets.json` and
`networkpolicies.json`, each a `kind: List` with keys sorted and indented as
`kubectl get ... -A -o json` prints them (`--format yaml`: as `-o yaml`); and
OUT/questions.json, ~20 {src, dst, port, protocol} questions to sample. The same
seed and sizes give byte-identical files: only `random.Random(seed)` draws, and
nothing iterates a set. `--format stream` writes every object into one
OUT/cluster/manifests.yaml, one object per `---` document, as `helm template` does.

`--shape diverse` (bench/shapes.py) is the other shape: pods/50 small namespaces
(`--namespaces`), 12 policies each (`--policies-per-namespace`, or `--policies`),
pods carrying labels no policy reads (`--label-diversity`); alone, it is the issue's
outside check: 20,000 pods, 400 namespaces, 4,800 policies.

The shape (realistic, every object valid for the API server):

- ~pods/100 application namespaces (at least 5) labelled team, env, tier and
  `kubernetes.io/metadata.name`, plus `default` and `kube-system`;
- ~pods/110 nodes, InternalIPs in 172.18.0.0/16, a 10.x.y.0/24 podCIDR each;
- workloads of 2-20 replicas (Deployments through a ReplicaSet, some StatefulSets)
  whose pods share app, component, version and pod-template-hash labels, Running,
  with named ports http 8080, metrics 9090, some grpc 9000 and UDP statsd 8125;
- kube-system: CoreDNS pods and the kube-dns Service, hostNetwork calico-node and
  kube-proxy DaemonSets (so Calico is detected); the `kubernetes` Service and its
  Endpoints (the API server on the first node, 6443);
- exactly `policies` NetworkPolicies across the application namespaces, cycling
  through the kinds written by hand in real clusters (see `_POLICY_KINDS`).

The pod count is exact: system pods (2 per node, 2 CoreDNS) included.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import math
import random
import shutil
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "Cluster",
    "cached_cluster",
    "generate",
    "generate_cluster",
    "questions",
    "write_cluster",
]

Obj = dict[str, Any]

# The Kubernetes name generator's alphabet (no vowels, no 0/1/3): pod-template-hash
# and pod name suffixes look like the real thing.
_SAFE = "bcdfghjklmnpqrstvwxz2456789"
_EPOCH = 1_735_689_600  # 2025-01-01T00:00:00Z, a fixed creationTimestamp base


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_TEAMS = _words(
    "payments checkout catalog search identity billing orders shipping inventory "
    "analytics marketing support platform data ml risk media notifications "
    "reporting partners loyalty pricing reviews accounts"
)
_ENVS = ("prod", "staging", "dev")
_NS_TIERS = ("frontend", "backend", "data")
_APPS = _words(
    "api web worker gateway auth cart frontend backend db cache queue scheduler "
    "indexer renderer mailer exporter ingest reports admin graphql proxy events "
    "ledger profile session upload thumbnailer notifier tracker router"
)
_COMPONENTS = ("frontend", "api", "worker", "cache", "db")
_VERSIONS = ("v1", "v2", "v3")
_IMAGES = "registry.example.com"

_POD_CIDR_BASE = ipaddress.ip_address("10.244.0.0")
_NODE_IP_BASE = ipaddress.ip_address("172.18.0.2")
_PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


# --- small helpers ------------------------------------------------------------------


def _suffix(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_SAFE) for _ in range(n))


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _ts(rng: random.Random) -> str:
    t = datetime.fromtimestamp(_EPOCH + rng.randrange(0, 90 * 86400), UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(rng: random.Random, name: str, namespace: str | None = None, **extra: Any) -> Obj:
    meta: Obj = {"name": name, "uid": _uid(rng), "creationTimestamp": _ts(rng)}
    meta["resourceVersion"] = str(rng.randrange(1000, 9_999_999))
    if namespace is not None:
        meta["namespace"] = namespace
    meta.update({k: v for k, v in extra.items() if v is not None})
    return meta


def _unique(word: str, taken: set[str]) -> str:
    name, n = word, 2
    while name in taken:
        name, n = f"{word}-{n}", n + 1
    taken.add(name)
    return name


# --- the model the manifests are written from -----------------------------------------


@dataclass
class _Node:
    name: str
    ip: str
    cidr: ipaddress.IPv4Network
    used: int = 0

    def next_ip(self) -> str:
        self.used += 1
        return str(self.cidr.network_address + 1 + self.used)


@dataclass
class _Workload:
    namespace: str
    app: str
    component: str
    version: str
    kind: str  # Deployment | StatefulSet
    replicas: int
    hash: str
    grpc: bool
    udp: bool

    @property
    def labels(self) -> dict[str, str]:
        labels = {"app": self.app, "component": self.component, "version": self.version}
        if self.kind == "Deployment":
            labels["pod-template-hash"] = self.hash
        else:
            labels["controller-revision-hash"] = f"{self.app}-{self.hash}"
        return labels


@dataclass
class _Namespace:
    name: str
    team: str
    env: str
    tier: str
    deny: str  # "" (none), "ingress" or "both"
    workloads: list[_Workload] = field(default_factory=list)


@dataclass
class Cluster:
    """Every object, by the file it belongs in, and the questions to sample."""

    files: dict[str, list[Obj]]
    questions: list[dict[str, Any]]

    @property
    def objects(self) -> list[Obj]:
        return [o for items in self.files.values() for o in items]


# --- pods, nodes, namespaces -----------------------------------------------------------


def _container(name: str, image: str, ports: list[Obj]) -> Obj:
    c: Obj = {
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "name": name,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if ports:
        c["ports"] = ports
    return c


def _port(name: str, number: int, protocol: str = "TCP") -> Obj:
    return {"containerPort": number, "name": name, "protocol": protocol}


def _pod(
    rng: random.Random,
    *,
    name: str,
    namespace: str,
    labels: dict[str, str],
    owner: tuple[str, str, str],
    node: _Node,
    containers: list[Obj],
    host_network: bool = False,
    service_account: str = "default",
) -> Obj:
    ip = node.ip if host_network else node.next_ip()
    api_version, kind, owner_name = owner
    meta = _meta(
        rng,
        name,
        namespace,
        generateName=f"{owner_name}-" if kind != "StatefulSet" else None,
        labels=dict(labels),
        ownerReferences=[
            {
                "apiVersion": api_version,
                "blockOwnerDeletion": True,
                "controller": True,
                "kind": kind,
                "name": owner_name,
                "uid": _uid(rng),
            }
        ],
    )
    if not host_network:
        meta["annotations"] = {
            "cni.projectcalico.org/podIP": f"{ip}/32",
            "cni.projectcalico.org/podIPs": f"{ip}/32",
        }
    spec: Obj = {
        "containers": containers,
        "dnsPolicy": "ClusterFirstWithHostNet" if host_network else "ClusterFirst",
        "nodeName": node.name,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "serviceAccountName": service_account,
        "terminationGracePeriodSeconds": 30,
    }
    if host_network:
        spec["hostNetwork"] = True
    started = meta["creationTimestamp"]
    status: Obj = {
        "conditions": [
            {"lastTransitionTime": started, "status": "True", "type": t}
            for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
        ],
        "containerStatuses": [
            {
                "image": c["image"],
                "name": c["name"],
                "ready": True,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": started}},
            }
            for c in containers
        ],
        "hostIP": node.ip,
        "hostIPs": [{"ip": node.ip}],
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "qosClass": "Burstable",
        "startTime": started,
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def _nodes(rng: random.Random, count: int) -> list[_Node]:
    out = []
    for i in range(count):
        cidr = ipaddress.IPv4Network(f"{_POD_CIDR_BASE + 256 * i}/24")
        out.append(_Node(f"node-{i:04d}", str(_NODE_IP_BASE + i), cidr))
    return out


def _node_obj(rng: random.Random, node: _Node, control_plane: bool) -> Obj:
    labels = {
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "topology.kubernetes.io/zone": f"zone-{'abc'[int(node.name[-4:]) % 3]}",
    }
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": _meta(rng, node.name, labels=labels),
        "spec": {"podCIDR": str(node.cidr), "podCIDRs": [str(node.cidr)]},
        "status": {
            "addresses": [
                {"address": node.ip, "type": "InternalIP"},
                {"address": node.name, "type": "Hostname"},
            ],
            "conditions": [{"status": "True", "type": "Ready", "reason": "KubeletReady"}],
            "nodeInfo": {
                "architecture": "amd64",
                "containerRuntimeVersion": "containerd://1.7.24",
                "kubeletVersion": "v1.32.2",
                "operatingSystem": "linux",
            },
        },
    }


def _namespace_obj(rng: random.Random, name: str, labels: dict[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _meta(rng, name, labels={**labels, "kubernetes.io/metadata.name": name}),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _service(
    rng: random.Random,
    name: str,
    namespace: str,
    selector: dict[str, str] | None,
    ports: list[Obj],
    cluster_ip: str,
    labels: dict[str, str] | None = None,
) -> Obj:
    spec: Obj = {
        "clusterIP": cluster_ip,
        "clusterIPs": [cluster_ip],
        "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "ports": ports,
        "sessionAffinity": "None",
        "type": "ClusterIP",
    }
    if selector is not None:
        spec["selector"] = selector
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(rng, name, namespace, labels=labels),
        "spec": spec,
        "status": {"loadBalancer": {}},
    }


def _daemonset(rng: random.Random, name: str, image: str, nodes: int) -> Obj:
    labels = {"k8s-app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta(rng, name, "kube-system", labels=labels, generation=1),
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [_container(name, image, [])],
                    "hostNetwork": True,
                    "serviceAccountName": name,
                },
            },
        },
        "status": {
            "currentNumberScheduled": nodes,
            "desiredNumberScheduled": nodes,
            "numberAvailable": nodes,
            "numberReady": nodes,
            "updatedNumberScheduled": nodes,
        },
    }


# --- policies -----------------------------------------------------------------------

_Make = Callable[[random.Random, _Namespace, "_World"], Obj]


@dataclass
class _World:
    namespaces: list[_Namespace]
    names: dict[str, set[str]] = field(default_factory=dict)  # policy names per namespace

    def other(self, rng: random.Random, ns: _Namespace) -> _Namespace:
        others = [n for n in self.namespaces if n.name != ns.name]
        return rng.choice(others) if others else ns


def _policy(ns: str, name: str, world: _World, spec: Obj, labels: dict[str, str]) -> Obj:
    name = _unique(name, world.names.setdefault(ns, set()))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"labels": labels, "name": name, "namespace": ns},
        "spec": spec,
    }


def _sel(app: str) -> Obj:
    return {"matchLabels": {"app": app}}


def _ns_name(name: str) -> Obj:
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def _p_default_deny(rng: random.Random, ns: _Namespace, w: _World) -> Obj:
    types = ["Ingress", "Egress"] if ns.deny == "both" else ["Ingress"]
    name = "default-deny-all" if ns.deny == "both" else "default-deny-ingress"
    spec = {"podSelector": {}, "policyTypes": types}
    return _policy(ns.name, name, w, spec, {"policy-kind": "default-deny"})


def _p_dns(rng: random.Random, ns: _Namespace, w: _World) -> Obj:
    spec = {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": _ns_name("kube-system"),
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
            }
        ],
    }
    return _policy(ns.name, "allow-dns-egress", w, spec, {"policy-kind": "dns"})


def _p_same_ns_app(rng: random.Random, ns: _Namespace, w: _World) -> Obj:
    dst, src = rng.choice(ns.workloads), rng.choice(ns.workloads)
    port: Obj = {"port": "http"} if rng.random() < 0.5 else {"port": 8080, "protocol": "TCP"}
    spec = {
        "podSelector": _sel(dst.app),
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": _sel(src.app)}], "ports": [port]}],
    }
    return _policy(ns.name, f"{dst.app}-allow-{src.app}", w, spec, {"app": dst.app})


def _p_cross_ns_and(rng: random.Random, ns: _Namespace, w: _World) -> Obj:
    dst, other = rng.choice(ns.workloads), w.other(rng, ns)
    spec = {
        "podSelector": _sel(dst.app),
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {"matchLabels": {"team": other.team}},
                        "podSelector": {"matchLabels": {"component": rng.choice(_COMPONENTS)}},
                    }
                ],
                "ports": [{"port": 8080, "protocol": "TCP"}, {"port": "grpc"}],
            }
        ],
    }
    return _policy(ns.name, f"{dst.app}-allow-{other.team}", w, spec, {"app": dst.app})


def _p_scrape(rng: random.Random, ns: _Namespace, w: _World) -> Obj:
    spec = {
        "podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"namespaceSelector": _ns_name(w.namespaces[0].name)}],
                "ports": [{"port": "metrics", "protocol": "TCP"}],
            }
        ],
    }
    return _policy(ns.name, "allow-metrics-scrape", w, spec, {"policy-kind": "monitoring"})


def _p_expressions(rng: random.Random, ns: _Namespace, w: _World) -> Obj:
    comps = sorted(rng.sample(_COMPONENTS, 2))
    spec = {
        "podSelector": {
            "matchExpressions": [{"key": "component", "operator": "In", "values": comps}]
        },
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchExpressions": [
                                {"key": "env", "operator": "NotIn", "values": ["dev"]}
                            ]
                        },
                        "podSelector": {
                            "matchExpressions": [
                                {"key": "app", "operator": "Exists"},
                                {"key": "version", "operator": "NotIn", "values": ["v1"]},
                            ]
                        },
                    }
                ],
                "ports": [{"port": 8000, "endPort": 8099, "protocol": "TCP"}],
            }
        ],
    }
    return _policy(ns.name, f"{comps[0]}-{comps[1]}-from-non-dev", w, spec, {})


def _p_egress_external(rng: random.Random, ns: _Namespace, w: _World) -> Obj:
    src = rng.choice(ns.workloads)
    spec = {
        "podSelector": _sel(src.app),
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(_PRIVATE)}}],
                "ports": [{"port": 443, "protocol": "TCP"}],
            }
        ],
    }
    return _policy(ns.name, f"{src.app}-egress-internet", w, spec, {"app": src.app})


def _p_omitted_ingress(rng: random.Random, ns: _Namespace, w: _World) -> Obj:
    dst = rng.choice(ns.workloads)
    spec = {  # no policyTypes: [Ingress] by defaulting
        "podSelector": _sel(dst.app),
        "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": "grpc"}]}],
    }
    return _policy(ns.name, f"{dst.app}-grpc-same-namespace", w, spec, {"app": dst.app})


def _p_omitted_egress(rng: random.Random, ns: _Namespace, w: _World) -> Obj:
    src, dst = rng.choice(ns.workloads), rng.choice(ns.workloads)
    spec = {  # no policyTypes and egress rules: [Ingress, Egress] (NP-22)
        "podSelector": _sel(src.app),
        "egress": [{"to": [{"podSelector": _sel(dst.app)}], "ports": [{"port": 8080}]}],
    }
    return _policy(ns.name, f"{src.app}-egress-{dst.app}", w, spec, {"app": src.app})


def _p_egress_cross_ns(rng: random.Random, ns: _Namespace, w: _World) -> Obj:
    src, other = rng.choice(ns.workloads), w.other(rng, ns)
    spec = {
        "podSelector": _sel(src.app),
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [{"namespaceSelector": {"matchLabels": {"team": other.team}}}],
                "ports": [{"port": 8080, "protocol": "TCP"}, {"port": 9000, "protocol": "TCP"}],
            },
            {"to": [{"podSelector": {}}]},
        ],
    }
    return _policy(ns.name, f"{src.app}-egress-{other.team}", w, spec, {"app": src.app})


def _p_udp_all_ns(rng: random.Random, ns: _Namespace, w: _World) -> Obj:
    dst = rng.choice(ns.workloads)
    spec = {
        "podSelector": _sel(dst.app),
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"namespaceSelector": {}}],
                "ports": [{"port": "statsd", "protocol": "UDP"}, {"port": 8125, "protocol": "UDP"}],
            }
        ],
    }
    return _policy(ns.name, f"{dst.app}-allow-statsd", w, spec, {"app": dst.app})


def _p_from_nodes(rng: random.Random, ns: _Namespace, w: _World) -> Obj:
    dst = rng.choice(ns.workloads)
    spec = {
        "podSelector": _sel(dst.app),
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"ipBlock": {"cidr": "172.18.0.0/16"}}],
                "ports": [{"port": "http"}],
            }
        ],
    }
    return _policy(ns.name, f"{dst.app}-allow-node-health", w, spec, {"app": dst.app})


def _p_from_vpc(rng: random.Random, ns: _Namespace, w: _World) -> Obj:
    dst = rng.choice(ns.workloads)
    spec = {  # covers the pod network: ipBlock vs pod IPs is plugin-defined (NP-51)
        "podSelector": _sel(dst.app),
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.250.0.0/16"]}}],
                "ports": [{"port": 8080, "protocol": "TCP"}],
            }
        ],
    }
    return _policy(ns.name, f"{dst.app}-allow-vpc", w, spec, {"app": dst.app})


def _p_same_ns_all(rng: random.Random, ns: _Namespace, w: _World) -> Obj:
    spec = {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {}}]}],
    }
    return _policy(ns.name, "allow-same-namespace", w, spec, {"policy-kind": "namespace"})


def _p_egress_same_ns(rng: random.Random, ns: _Namespace, w: _World) -> Obj:
    spec = {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"podSelector": {}}]}],
    }
    return _policy(ns.name, "allow-egress-same-namespace", w, spec, {"policy-kind": "namespace"})


# Per-workload kinds, with weights: what real clusters are mostly made of.
_POLICY_KINDS: tuple[tuple[_Make, int], ...] = (
    (_p_same_ns_app, 30),
    (_p_cross_ns_and, 18),
    (_p_expressions, 8),
    (_p_egress_cross_ns, 10),
    (_p_egress_external, 8),
    (_p_omitted_ingress, 6),
    (_p_omitted_egress, 4),
    (_p_udp_all_ns, 6),
    (_p_from_nodes, 4),
    (_p_from_vpc, 2),
)


def _namespace_policies(rng: random.Random, ns: _Namespace, w: _World) -> list[_Make]:
    """The namespace-wide policies, first in each namespace."""
    out: list[_Make] = []
    if ns.deny:
        out.append(_p_default_deny)
    if ns.deny == "both":
        out += [_p_dns, _p_egress_same_ns]
    out.append(_p_scrape)
    if rng.random() < 0.3:
        out.append(_p_same_ns_all)
    return out


def _policies(rng: random.Random, world: _World, count: int) -> list[Obj]:
    queues = {ns.name: _namespace_policies(rng, ns, world) for ns in world.namespaces}
    makers = [m for m, _ in _POLICY_KINDS]
    weights = [wt for _, wt in _POLICY_KINDS]
    out: list[Obj] = []
    i = 0
    while len(out) < count:
        ns = world.namespaces[i % len(world.namespaces)]
        i += 1
        queue = queues[ns.name]
        make = queue.pop(0) if queue else rng.choices(makers, weights)[0]
        out.append(make(rng, ns, world))
    return out


# --- the cluster -------------------------------------------------------------------------


def _system(
    rng: random.Random,
    nodes: list[_Node],
    place: Callable[[], _Node],
    pod_objs: list[Obj],
    services: list[Obj],
) -> tuple[list[Obj], list[Obj]]:
    """kube-system and the API server: CoreDNS pods and Service, hostNetwork
    calico-node and kube-proxy pods (appended to `pod_objs` and `services`); returns
    the Endpoints and DaemonSets. Every cluster shape shares it."""
    n_nodes = len(nodes)
    dns_hash = _suffix(rng, 10)
    dns_ports = [_port("dns", 53, "UDP"), _port("dns-tcp", 53), _port("metrics", 9153)]
    for _ in range(2):
        pod_objs.append(
            _pod(
                rng,
                name=f"coredns-{dns_hash}-{_suffix(rng, 5)}",
                namespace="kube-system",
                labels={"k8s-app": "kube-dns", "pod-template-hash": dns_hash},
                owner=("apps/v1", "ReplicaSet", f"coredns-{dns_hash}"),
                node=place(),
                containers=[
                    _container("coredns", "registry.k8s.io/coredns/coredns:v1.11.3", dns_ports)
                ],
                service_account="coredns",
            )
        )
    for ds, image in (
        ("calico-node", "docker.io/calico/node:v3.29.1"),
        ("kube-proxy", "registry.k8s.io/kube-proxy:v1.32.2"),
    ):
        revision = _suffix(rng, 10)
        for node in nodes:
            pod_objs.append(
                _pod(
                    rng,
                    name=f"{ds}-{_suffix(rng, 5)}",
                    namespace="kube-system",
                    labels={
                        "controller-revision-hash": revision,
                        "k8s-app": ds,
                        "pod-template-generation": "1",
                    },
                    owner=("apps/v1", "DaemonSet", ds),
                    node=node,
                    containers=[_container(ds, image, [])],
                    host_network=True,
                    service_account=ds,
                )
            )
    services.append(
        _service(
            rng,
            "kube-dns",
            "kube-system",
            {"k8s-app": "kube-dns"},
            [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ],
            "10.96.0.10",
            {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"},
        )
    )
    services.append(
        _service(
            rng,
            "kubernetes",
            "default",
            None,
            [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            "10.96.0.1",
            {"component": "apiserver", "provider": "kubernetes"},
        )
    )
    endpoints = [
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": _meta(
                rng,
                "kubernetes",
                "default",
                labels={"endpointslice.kubernetes.io/skip-mirror": "true"},
            ),
            "subsets": [
                {
                    "addresses": [{"ip": nodes[0].ip}],
                    "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
                }
            ],
        }
    ]
    daemonsets = [
        _daemonset(rng, "calico-node", "docker.io/calico/node:v3.29.1", n_nodes),
        _daemonset(rng, "kube-proxy", "registry.k8s.io/kube-proxy:v1.32.2", n_nodes),
    ]
    return endpoints, daemonsets


def generate_cluster(pods: int, policies: int, seed: int) -> Cluster:
    """The whole cluster for these sizes and seed (deterministic)."""
    if pods < 50:
        raise ValueError("--pods must be at least 50")
    if policies < 0:
        raise ValueError("--policies must be >= 0")
    rng = random.Random(seed)
    n_nodes = max(3, math.ceil(pods / 110))
    n_ns = max(5, round(pods / 100))
    nodes = _nodes(rng, n_nodes)
    system_pods = 2 * n_nodes + 2  # calico-node and kube-proxy per node, 2 CoreDNS
    app_pods = pods - system_pods
    if app_pods < 2 * n_ns:
        raise ValueError(f"--pods {pods} is too small for {n_ns} namespaces")

    # Namespaces and workloads.
    taken_ns = {"default", "kube-system", "kube-public", "kube-node-lease"}
    namespaces: list[_Namespace] = []
    for i in range(n_ns):
        word = "monitoring" if i == 0 else _TEAMS[(i - 1) % len(_TEAMS)]
        name = _unique(word, taken_ns)
        env = _ENVS[i % 3] if i else "prod"
        r = rng.random()
        deny = "" if r < 0.2 else ("both" if r < 0.5 else "ingress")
        team = "platform" if i == 0 else word
        namespaces.append(_Namespace(name, team, env, rng.choice(_NS_TIERS), deny))
    per_ns = [app_pods // n_ns + (1 if i < app_pods % n_ns else 0) for i in range(n_ns)]
    for ns, budget in zip(namespaces, per_ns, strict=True):
        apps: set[str] = set()
        while budget > 0:
            want = min(rng.choice((2, 2, 3, 3, 4, 5, 6, 8, 10, 12, 16, 20)), budget)
            if budget - want == 1:  # never leave a 1-pod workload behind
                want = budget if budget <= 20 else want - 1
            app = _unique(rng.choice(_APPS), apps)
            kind = "StatefulSet" if app.startswith(("db", "cache", "queue")) else "Deployment"
            ns.workloads.append(
                _Workload(
                    ns.name,
                    app,
                    rng.choice(_COMPONENTS),
                    rng.choice(_VERSIONS),
                    kind,
                    want,
                    _suffix(rng, 10),
                    rng.random() < 0.35,
                    rng.random() < 0.15,
                )
            )
            budget -= want

    # Scheduling: round-robin from a seeded start, so nodes stay within ~110 pods.
    slot = rng.randrange(n_nodes)

    def place() -> _Node:
        nonlocal slot
        slot = (slot + 1) % n_nodes
        return nodes[slot]

    pod_objs: list[Obj] = []
    services: list[Obj] = []
    svc_ip = iter(int(ipaddress.ip_address("10.96.0.0")) + k for k in range(11, 1 << 20))
    for ns in namespaces:
        for wl in ns.workloads:
            ports = [_port("http", 8080), _port("metrics", 9090)]
            if wl.grpc:
                ports.append(_port("grpc", 9000))
            if wl.udp:
                ports.append(_port("statsd", 8125, "UDP"))
            image = f"{_IMAGES}/{ns.team}/{wl.app}:{wl.version}.{rng.randrange(40)}"
            for k in range(wl.replicas):
                if wl.kind == "Deployment":
                    rs = f"{wl.app}-{wl.hash}"
                    owner = ("apps/v1", "ReplicaSet", rs)
                    name = f"{rs}-{_suffix(rng, 5)}"
                else:
                    owner = ("apps/v1", "StatefulSet", wl.app)
                    name = f"{wl.app}-{k}"
                labels = wl.labels
                if wl.kind == "StatefulSet":
                    labels["statefulset.kubernetes.io/pod-name"] = name
                pod_objs.append(
                    _pod(
                        rng,
                        name=name,
                        namespace=ns.name,
                        labels=labels,
                        owner=owner,
                        node=place(),
                        containers=[_container(wl.app, image, [dict(p) for p in ports])],
                        service_account=wl.app,
                    )
                )
            svc_ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]
            if wl.grpc:
                svc_ports.append(
                    {"name": "grpc", "port": 9000, "protocol": "TCP", "targetPort": 9000}
                )
            ip = str(ipaddress.ip_address(next(svc_ip)))
            sel = {"app": wl.app}
            services.append(_service(rng, wl.app, ns.name, sel, svc_ports, ip, {"app": wl.app}))

    endpoints, daemonsets = _system(rng, nodes, place, pod_objs, services)

    ns_objs = [
        _namespace_obj(rng, n, {})
        for n in ("default", "kube-node-lease", "kube-public", "kube-system")
    ]
    ns_objs += [
        _namespace_obj(rng, ns.name, {"team": ns.team, "env": ns.env, "tier": ns.tier})
        for ns in namespaces
    ]
    world = _World(namespaces)
    files = {
        "namespaces": ns_objs,
        "nodes": [_node_obj(rng, n, i == 0) for i, n in enumerate(nodes)],
        "pods": pod_objs,
        "services": services,
        "endpoints": endpoints,
        "daemonsets": daemonsets,
        "networkpolicies": _policies(rng, world, policies),
    }
    return Cluster(files, questions(pod_objs, services, random.Random(seed + 1)))


def generate(pods: int, policies: int, seed: int) -> list[Obj]:
    """Every manifest of the cluster (all kinds, file order)."""
    return generate_cluster(pods, policies, seed).objects


# --- questions -------------------------------------------------------------------------


def questions(pod_objs: list[Obj], services: list[Obj], rng: random.Random) -> list[Obj]:
    """~20 questions over the cluster: pod to pod on 8080 first (the one `make bench`
    times), then metrics, gRPC, a Service, DNS, the internet and a UDP port."""

    def key(o: Obj) -> str:
        return f"{o['metadata']['namespace']}/{o['metadata']['name']}"

    app = [p for p in pod_objs if p["metadata"]["namespace"] != "kube-system"]
    dns = [p for p in pod_objs if p["metadata"]["labels"].get("k8s-app") == "kube-dns"]
    app_svcs = [s for s in services if s["metadata"]["namespace"] not in ("kube-system", "default")]
    out: list[Obj] = []

    def ask(src: Obj, dst: str, port: int, protocol: str = "TCP") -> None:
        out.append({"src": key(src), "dst": dst, "port": port, "protocol": protocol})

    for _ in range(10):
        ask(rng.choice(app), key(rng.choice(app)), 8080)
    for _ in range(2):
        ask(rng.choice(app), key(rng.choice(app)), 9090)
    ask(rng.choice(app), key(rng.choice(app)), 9000)
    ask(rng.choice(app), key(rng.choice(app)), 8125, "UDP")
    for _ in range(2):
        ask(rng.choice(app), f"svc/{key(rng.choice(app_svcs))}", 80)
    ask(rng.choice(app), key(dns[0]), 53, "UDP")
    ask(rng.choice(app), key(dns[-1]), 53, "TCP")
    ask(rng.choice(app), "ip/203.0.113.10", 443)
    ask(rng.choice(app), "ip/203.0.113.10", 80)
    return out


# --- writing -----------------------------------------------------------------------------


def _kubectl_list(items: list[Obj]) -> Obj:
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


FORMATS = ("json", "yaml", "stream")
SHAPES = ("standard", "diverse")


#: kubectl never writes anchors; PyYAML would, for objects the generator shares.
_NO_ALIASES = type(
    "NoAliases",
    (getattr(yaml, "CSafeDumper", yaml.SafeDumper),),
    {"ignore_aliases": lambda self, data: True},
)


def _stream(cluster: Cluster, path: Path) -> None:
    """One object per YAML document, `---` separated, as `helm template` prints them."""
    dumper = _NO_ALIASES
    with path.open("w", encoding="utf-8") as f:
        for stem, items in cluster.files.items():
            for item in items:
                f.write(f"---\n# Source: cluster/templates/{stem}.yaml\n")
                f.write(yaml.dump(item, Dumper=dumper, sort_keys=False, default_flow_style=False))


def write_cluster(cluster: Cluster, out: Path, fmt: str = "json") -> list[Path]:
    """Write `out/cluster/` and `out/questions.json` (outside the snapshot directory:
    it is not a manifest). `json`/`yaml`: one List per kind as `kubectl get -o
    json|yaml` prints it; `stream`: every object in one multi-document YAML file."""
    (out / "cluster").mkdir(parents=True, exist_ok=True)
    written = []
    if fmt == "stream":
        path = out / "cluster" / "manifests.yaml"
        _stream(cluster, path)
        written.append(path)
    for stem, items in cluster.files.items() if fmt != "stream" else ():
        path = out / "cluster" / f"{stem}.{fmt}"
        doc = _kubectl_list(items)
        if fmt == "json":
            text = json.dumps(doc, indent=4, sort_keys=True) + "\n"
        else:
            text = yaml.dump(doc, Dumper=_NO_ALIASES, sort_keys=True, default_flow_style=False)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    q = out / "questions.json"
    q.write_text(json.dumps(cluster.questions, indent=2) + "\n", encoding="utf-8")
    written.append(q)
    return written


def make_cluster(
    shape: str,
    pods: int,
    policies: int,
    seed: int,
    namespaces: int | None = None,
    diversity: int | None = None,
) -> Cluster:
    """Either shape by name; `namespaces` and `diversity` apply to `diverse` only."""
    if shape == "standard":
        if namespaces is not None or diversity is not None:
            raise ValueError("--namespaces and --label-diversity need --shape diverse")
        return generate_cluster(pods, policies, seed)
    from shapes import DIVERSE, generate_diverse

    d = DIVERSE["diversity"] if diversity is None else diversity
    return generate_diverse(pods, policies, seed, namespaces, d)


def cached_cluster(
    pods: int, policies: int, seed: int, root: Path, shape: str = "standard", fmt: str = "json"
) -> Path:
    """`root/p{pods}-n{policies}-s{seed}` (other shapes and formats: prefixed and
    suffixed), generated unless it was already, by this very generator (a stamp holds
    a hash of the generators' source)."""
    name = f"p{pods}-n{policies}-s{seed}"
    if (shape, fmt) != ("standard", "json"):
        name = f"{shape}-{name}-{fmt}"
    out = root / name
    stamp = out / ".generator"
    here = Path(__file__).resolve().parent
    sources = b"".join((here / f).read_bytes() for f in ("generate.py", "shapes.py"))
    digest = hashlib.sha256(sources).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest:
        return out
    if out.exists():
        shutil.rmtree(out)
    write_cluster(make_cluster(shape, pods, policies, seed), out, fmt)
    stamp.write_text(digest)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=SHAPES, default="standard")
    ap.add_argument(
        "--pods", type=int, help="total pods, system pods included (diverse: 20,000 by default)"
    )
    ap.add_argument("--policies", type=int, help="NetworkPolicies (diverse: 12 per namespace)")
    ap.add_argument(
        "--policies-per-namespace",
        type=int,
        help="instead of --policies: this many times --namespaces",
    )
    ap.add_argument("--namespaces", type=int, help="application namespaces (diverse: pods/50)")
    ap.add_argument(
        "--label-diversity",
        type=int,
        help="diverse: label keys per pod beyond app/tier/track/version/pod-template-hash, "
        "and versions in flight per workload (default 3)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True, help="directory to write")
    ap.add_argument(
        "--format",
        choices=FORMATS,
        default="json",
        help="json/yaml: kubectl -o json|yaml List dumps; stream: one object per YAML document",
    )
    args = ap.parse_args(argv)
    diverse = args.shape == "diverse"
    pods = args.pods if args.pods is not None else (20_000 if diverse else None)
    if pods is None:
        ap.error("--pods is required (except with --shape diverse)")
    namespaces = args.namespaces
    if diverse and namespaces is None:
        namespaces = max(5, round(pods / 50))
    policies = args.policies
    if args.policies_per_namespace is not None:
        if namespaces is None or policies is not None:
            ap.error("--policies-per-namespace needs --shape diverse and no --policies")
        policies = args.policies_per_namespace * namespaces
    if policies is None:
        if not diverse:
            ap.error("--policies is required (except with --shape diverse)")
        policies = 12 * namespaces
    try:
        cluster = make_cluster(
            args.shape, pods, policies, args.seed, args.namespaces, args.label_diversity
        )
    except ValueError as e:
        print(f"generate.py: {e}", file=sys.stderr)
        return 2
    for path in write_cluster(cluster, args.out, args.format):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
