"""The `diverse` cluster shape, beside bench/generate.py's standard one: many small
namespaces, each pod carrying many labels of which policies read only a few.

    python bench/generate.py --shape diverse --pods 20000 --seed 1 --out DIR

It is the shape the issue's outside check measured: pods labelled `app`, `tier`,
`version`, `track` and `pod-template-hash` (plus `label_diversity` more keys and
values that no policy reads: rollout versions in flight, per-pod commit and build
labels), policies selecting on `tier`, `app` and `track`, and on the namespace
labels `team`, `env` and `kubernetes.io/metadata.name`. A matrix over this shape
stays fast only if the labels no policy reads do not split pods apart.

Same conventions as generate.py (whose helpers it reuses): only
`random.Random(seed)` draws, so a seed and sizes give byte-identical files; every
object is valid for the API server; the pod count is exact, system pods included.
"""

from __future__ import annotations

import ipaddress
import math
import random
from dataclasses import dataclass, field
from typing import Any

from generate import (
    _APPS,
    _ENVS,
    _IMAGES,
    _PRIVATE,
    _TEAMS,
    Cluster,
    Obj,
    _container,
    _namespace_obj,
    _Node,
    _node_obj,
    _nodes,
    _pod,
    _policy,
    _port,
    _service,
    _suffix,
    _system,
    _unique,
    _World,
    questions,
)

__all__ = ["DIVERSE", "generate_diverse"]

#: the outside check's cluster: 20,000 pods in 400 namespaces, 12 policies each
DIVERSE: dict[str, int] = {"pods": 20_000, "namespaces": 400, "policies": 4_800, "diversity": 3}

_TIERS = ("frontend", "backend", "data", "cache", "batch")
_TRACKS = ("stable", "canary")
# Keys real pods carry and policies rarely read: Helm, Istio, CI labels.
_EXTRA_KEYS = (
    "app.kubernetes.io/instance",
    "helm.sh/chart",
    "example.com/commit",
    "security.istio.io/tlsMode",
    "service.istio.io/canonical-revision",
    "example.com/build",
    "example.com/cost-center",
    "example.com/owner",
)


@dataclass
class _Workload:
    namespace: str
    app: str
    tier: str
    replicas: int
    canary: int  # how many replicas run the canary track
    versions: list[tuple[str, str]]  # (version, pod-template-hash): a rollout in flight
    grpc: bool


@dataclass
class _Ns:
    name: str
    team: str
    env: str
    deny: str  # "" (none), "ingress" or "both"
    workloads: list[_Workload] = field(default_factory=list)


@dataclass
class _Policies:
    namespaces: list[_Ns]
    names: _World  # policy names taken, per namespace (generate._policy keeps them)

    def other(self, rng: random.Random, ns: _Ns) -> _Ns:
        k = rng.randrange(len(self.namespaces) - 1) if len(self.namespaces) > 1 else 0
        other = self.namespaces[k]
        return self.namespaces[-1] if other is ns else other


def _app(w: _Workload) -> Obj:
    return {"matchLabels": {"app": w.app}}


def _tier(tier: str) -> Obj:
    return {"matchLabels": {"tier": tier}}


def _ns_name(name: str) -> Obj:
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def _ingress(
    ns: _Ns, w: _Policies, name: str, target: Obj, peers: list[Obj], ports: list[Obj]
) -> Obj:
    spec = {
        "podSelector": target,
        "policyTypes": ["Ingress"],
        "ingress": [{"from": peers, "ports": ports}],
    }
    return _policy(ns.name, name, w.names, spec, {"policy-kind": "ingress"})


_HTTP: list[Obj] = [{"port": "http", "protocol": "TCP"}]
_TCP_8080: list[Obj] = [{"port": 8080, "protocol": "TCP"}]


def _p_default_deny(rng: random.Random, ns: _Ns, w: _Policies) -> Obj:
    both = ns.deny == "both"
    spec = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"] if both else ["Ingress"]}
    name = "default-deny-all" if both else "default-deny-ingress"
    return _policy(ns.name, name, w.names, spec, {"policy-kind": "default-deny"})


def _p_dns(rng: random.Random, ns: _Ns, w: _Policies) -> Obj:
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
            },
            {"to": [{"podSelector": {}}]},
        ],
    }
    return _policy(ns.name, "allow-dns-and-namespace-egress", w.names, spec, {})


def _p_tier_to_tier(rng: random.Random, ns: _Ns, w: _Policies) -> Obj:
    dst = rng.choice(_TIERS[1:])
    src = _TIERS[_TIERS.index(dst) - 1]
    peers = [{"podSelector": _tier(src)}]
    return _ingress(ns, w, f"{dst}-from-{src}", _tier(dst), peers, _HTTP)


def _p_app_to_app(rng: random.Random, ns: _Ns, w: _Policies) -> Obj:
    dst, src = rng.choice(ns.workloads), rng.choice(ns.workloads)
    peers = [{"podSelector": _app(src)}]
    return _ingress(ns, w, f"{dst.app}-allow-{src.app}", _app(dst), peers, _TCP_8080)


def _p_team_frontends(rng: random.Random, ns: _Ns, w: _Policies) -> Obj:
    dst, other = rng.choice(ns.workloads), w.other(rng, ns)
    peers = [
        {
            "namespaceSelector": {"matchLabels": {"team": other.team}},
            "podSelector": _tier("frontend"),
        }
    ]
    ports = [*_TCP_8080, {"port": "grpc", "protocol": "TCP"}]
    return _ingress(ns, w, f"{dst.app}-allow-{other.team}", _app(dst), peers, ports)


def _p_canary_scrape(rng: random.Random, ns: _Ns, w: _Policies) -> Obj:
    peers = [{"namespaceSelector": _ns_name(w.namespaces[0].name)}]
    target = {"matchLabels": {"track": "canary"}}
    return _ingress(ns, w, "canary-scrape", target, peers, [{"port": "metrics", "protocol": "TCP"}])


def _p_from_prod(rng: random.Random, ns: _Ns, w: _Policies) -> Obj:
    dst = rng.choice(ns.workloads)
    envs = {"key": "env", "operator": "In", "values": ["prod", "staging"]}
    track = {"key": "track", "operator": "NotIn", "values": ["canary"]}
    peers = [
        {
            "namespaceSelector": {"matchExpressions": [envs]},
            "podSelector": {"matchExpressions": [track]},
        }
    ]
    return _ingress(ns, w, f"{dst.app}-from-prod", _app(dst), peers, _TCP_8080)


def _p_stable_from_anywhere(rng: random.Random, ns: _Ns, w: _Policies) -> Obj:
    dst = rng.choice(ns.workloads)
    src = rng.choice(rng.choice(w.namespaces).workloads)
    target = {"matchLabels": {"app": dst.app, "track": "stable"}}
    peers = [{"namespaceSelector": {}, "podSelector": _app(src)}]
    return _ingress(ns, w, f"{dst.app}-stable-from-{src.app}", target, peers, _HTTP)


def _p_egress_other_ns(rng: random.Random, ns: _Ns, w: _Policies) -> Obj:
    src, other = rng.choice(ns.workloads), w.other(rng, ns)
    dst = rng.choice(other.workloads)
    spec = {
        "podSelector": _app(src),
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [{"namespaceSelector": _ns_name(other.name), "podSelector": _app(dst)}],
                "ports": _TCP_8080,
            }
        ],
    }
    return _policy(ns.name, f"{src.app}-egress-{other.name}", w.names, spec, {})


def _p_egress_internet(rng: random.Random, ns: _Ns, w: _Policies) -> Obj:
    src = rng.choice(ns.workloads)
    spec = {
        "podSelector": _app(src),
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(_PRIVATE)}}],
                "ports": [{"port": 443, "protocol": "TCP"}],
            }
        ],
    }
    return _policy(ns.name, f"{src.app}-egress-internet", w.names, spec, {})


def _p_same_namespace(rng: random.Random, ns: _Ns, w: _Policies) -> Obj:
    dst = rng.choice(ns.workloads)
    peers = [{"podSelector": {}}]
    return _ingress(ns, w, f"{dst.app}-same-namespace", _app(dst), peers, [])


_Make = Any  # Callable[[random.Random, _Ns, _Policies], Obj]

_KINDS: tuple[tuple[_Make, int], ...] = (
    (_p_app_to_app, 20),
    (_p_tier_to_tier, 14),
    (_p_team_frontends, 14),
    (_p_from_prod, 10),
    (_p_egress_other_ns, 10),
    (_p_stable_from_anywhere, 8),
    (_p_same_namespace, 8),
    (_p_canary_scrape, 6),
    (_p_egress_internet, 5),
)


def _policies(rng: random.Random, w: _Policies, count: int) -> list[Obj]:
    """Round-robin over the namespaces: namespace-wide policies first, then per-workload
    kinds drawn by weight (so `count = 12 x namespaces` gives 12 per namespace)."""
    queues: dict[str, list[_Make]] = {}
    for ns in w.namespaces:
        queues[ns.name] = [_p_default_deny] if ns.deny else []
        if ns.deny == "both":
            queues[ns.name].append(_p_dns)
    makers = [m for m, _ in _KINDS]
    weights = [wt for _, wt in _KINDS]
    out: list[Obj] = []
    i = 0
    while len(out) < count:
        ns = w.namespaces[i % len(w.namespaces)]
        i += 1
        queue = queues[ns.name]
        make = queue.pop(0) if queue else rng.choices(makers, weights)[0]
        out.append(make(rng, ns, w))
    return out


def _labels(rng: random.Random, wl: _Workload, k: int, diversity: int) -> dict[str, str]:
    version, template_hash = wl.versions[k % len(wl.versions)]
    labels = {
        "app": wl.app,
        "tier": wl.tier,
        "track": "canary" if k < wl.canary else "stable",
        "version": version,
        "pod-template-hash": template_hash,
    }
    for key in _EXTRA_KEYS[:diversity]:
        labels[key] = _suffix(rng, 7)  # per pod: a commit, a build, an owner
    return labels


def generate_diverse(
    pods: int, policies: int, seed: int, namespaces: int | None = None, diversity: int = 3
) -> Cluster:
    """`pods` pods (system pods included) in `namespaces` application namespaces
    (default pods/50), `policies` NetworkPolicies round-robin over them; each pod has
    `diversity` label keys beyond app/tier/track/version/pod-template-hash, and each
    workload up to `diversity` versions in flight."""
    n_ns = namespaces if namespaces is not None else max(5, round(pods / 50))
    if n_ns < 2:
        raise ValueError("--namespaces must be at least 2")
    if not 0 <= diversity <= len(_EXTRA_KEYS):
        raise ValueError(f"--label-diversity must be between 0 and {len(_EXTRA_KEYS)}")
    if policies < 0:
        raise ValueError("--policies must be >= 0")
    rng = random.Random(seed)
    n_nodes = max(3, math.ceil(pods / 110))
    nodes = _nodes(rng, n_nodes)
    app_pods = pods - (2 * n_nodes + 2)
    if app_pods < 2 * n_ns:
        raise ValueError(f"--pods {pods} is too small for {n_ns} namespaces")

    taken = {"default", "kube-system", "kube-public", "kube-node-lease"}
    spaces: list[_Ns] = []
    for i in range(n_ns):
        team = "platform" if i == 0 else _TEAMS[(i - 1) % len(_TEAMS)]
        env = "prod" if i == 0 else _ENVS[(i - 1) // len(_TEAMS) % len(_ENVS)]
        name = _unique("monitoring" if i == 0 else f"{team}-{env}", taken)
        r = rng.random()
        spaces.append(_Ns(name, team, env, "" if r < 0.2 else ("both" if r < 0.5 else "ingress")))
    per_ns = [app_pods // n_ns + (1 if i < app_pods % n_ns else 0) for i in range(n_ns)]
    for ns, budget in zip(spaces, per_ns, strict=True):
        apps: set[str] = set()
        while budget > 0:
            want = min(rng.choice((2, 2, 3, 3, 4, 5, 6, 8, 10)), budget)
            if budget - want == 1:  # never leave a 1-pod workload behind
                want = budget if budget <= 10 else want - 1
            versions = [
                (f"{rng.randrange(1, 4)}.{rng.randrange(20)}.{rng.randrange(10)}", _suffix(rng, 10))
                for _ in range(1 + rng.randrange(max(1, diversity)))
            ]
            canary = 1 if want > 2 and rng.random() < 0.25 else 0
            ns.workloads.append(
                _Workload(
                    ns.name,
                    _unique(rng.choice(_APPS), apps),
                    rng.choice(_TIERS),
                    want,
                    canary,
                    versions,
                    rng.random() < 0.35,
                )
            )
            budget -= want

    slot = rng.randrange(n_nodes)

    def place() -> _Node:
        nonlocal slot
        slot = (slot + 1) % n_nodes
        return nodes[slot]

    pod_objs: list[Obj] = []
    services: list[Obj] = []
    svc_ip = iter(int(ipaddress.ip_address("10.96.0.0")) + k for k in range(11, 1 << 20))
    for ns in spaces:
        for wl in ns.workloads:
            ports = [_port("http", 8080), _port("metrics", 9090)]
            if wl.grpc:
                ports.append(_port("grpc", 9000))
            for k in range(wl.replicas):
                labels = _labels(rng, wl, k, diversity)
                rs = f"{wl.app}-{labels['pod-template-hash']}"
                image = f"{_IMAGES}/{ns.team}/{wl.app}:{labels['version']}"
                pod_objs.append(
                    _pod(
                        rng,
                        name=f"{rs}-{_suffix(rng, 5)}",
                        namespace=ns.name,
                        labels=labels,
                        owner=("apps/v1", "ReplicaSet", rs),
                        node=place(),
                        containers=[_container(wl.app, image, [dict(p) for p in ports])],
                        service_account=wl.app,
                    )
                )
            ip = str(ipaddress.ip_address(next(svc_ip)))
            svc_ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]
            sel = {"app": wl.app}
            services.append(_service(rng, wl.app, ns.name, sel, svc_ports, ip, {"app": wl.app}))
    endpoints, daemonsets = _system(rng, nodes, place, pod_objs, services)

    ns_objs = [
        _namespace_obj(rng, n, {})
        for n in ("default", "kube-node-lease", "kube-public", "kube-system")
    ]
    ns_objs += [_namespace_obj(rng, ns.name, {"team": ns.team, "env": ns.env}) for ns in spaces]
    world = _Policies(spaces, _World([]))
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
