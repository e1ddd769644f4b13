"""Triage a NotReady alert: everything a pod needs on the network, each checked with
the `diagnose` engine, failing items first.

The order follows seed 002's runbook for KubePodNotReady / KubeServiceNotReady
(NetworkPolicyBlockingTraffic): what makes the pod NotReady first (its readiness probe,
run by the kubelet from the pod's own node, SEMANTICS NP-90 / CIL-9), then what it
needs to start (DNS, the API server when it mounts a token), then the Services and
addresses it is configured to talk to, then its clients' ingress. Context the runbook
checks (policy-denied Events, plugin health) comes with each diagnosis.

Owns: `Need`, `Item`, `Triage`, `triage_pod`, `triage_service`. Must not import render
or shells.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from ipaddress import ip_address

from ..cni import CniInfo
from ..diagnose import Diagnosis, aggregate, diagnose
from ..engine import Verdict
from ..errors import NetpolDoctorError
from ..findings import Finding
from ..model import Pod, Protocol, Service
from ..snapshot import Snapshot
from .triage_evidence import Edge

__all__ = ["Item", "Need", "Triage", "triage_pod", "triage_service"]

#: Services one pod is checked against as a client, at most (a namespace of 1,000 pods)
_MAX_CLIENTS = 20


class Need(Enum):
    PROBE = "probe"  # the kubelet's health probe from the node
    DNS = "dns"
    APISERVER = "apiserver"
    DEPENDENCY = "dependency"  # a Service or address the pod's config names
    CLIENT = "client"  # a pod whose config names a Service that selects this pod


@dataclass(frozen=True, slots=True)
class Item:
    need: Need
    what: str  # "readiness probe httpGet port 8080", "DATABASE_URL -> svc/shop/db:5432"
    source: str
    destination: str
    port: int | str | None
    protocol: Protocol
    verdict: Verdict
    diagnosis: Diagnosis | None = None
    problem: str | None = None  # why the check could not be asked

    @property
    def deciding(self) -> tuple[Finding, ...]:
        d = self.diagnosis
        return tuple(f for f in d.findings if d.decides(f)) if d else ()


@dataclass(frozen=True, slots=True)
class Triage:
    subject: str  # pod key, or svc/NS/NAME
    alert: str | None
    items: tuple[Item, ...]  # failing first (denied, then unknown), each group in runbook order
    notes: tuple[str, ...] = ()  # what was not checked and why

    @property
    def verdict(self) -> Verdict:
        """DENIED: NetworkPolicy is a cause; UNKNOWN: cannot be told; ALLOWED: it is not."""
        return aggregate(i.verdict for i in self.items) if self.items else Verdict.UNKNOWN

    @property
    def first_failure(self) -> Item | None:
        return next((i for i in self.items if i.verdict is not Verdict.ALLOWED), None)


_RANK = {Verdict.DENIED: 0, Verdict.UNKNOWN: 1, Verdict.ALLOWED: 2}


def triage_pod(
    snapshot: Snapshot,
    pod_key: str,
    cni: CniInfo,
    alert: str | None = None,
    edges: Sequence[Edge] = (),
) -> Triage:
    """`edges`: traffic known from flow logs or a contract (analysis.triage_evidence),
    checked beside what the pod's own config names."""
    pod = snapshot.pods_by_key.get(pod_key)
    if pod is None:
        raise NetpolDoctorError(f"no pod {pod_key} in the input")
    items = [*_probe_items(snapshot, pod, cni), *_startup_items(snapshot, pod, cni)]
    dependencies, notes = _dependency_items(snapshot, pod, cni)
    items += dependencies
    learnt, more = _evidence_dependencies(snapshot, pod, cni, edges, dependencies)
    items += learnt
    notes += more
    clients = list(_client_items(snapshot, pod, cni))
    items += clients
    learnt, more = _evidence_clients(snapshot, pod, cni, edges, clients)
    items += learnt
    notes += more
    return Triage(pod.key, alert, _ordered(items), tuple(notes))


def triage_service(
    snapshot: Snapshot,
    key: str,
    cni: CniInfo,
    alert: str | None = None,
    edges: Sequence[Edge] = (),
) -> Triage:
    """KubeServiceNotReady: each backing pod's ingress (probes, known clients)."""
    svc = snapshot.services.get(key)
    if svc is None:
        raise NetpolDoctorError(f"no Service {key} in the input")
    pods = _backends(snapshot, svc)
    items: list[Item] = []
    notes: list[str] = []
    if not pods:
        notes.append(f"Service {key} selects no pod: nothing answers, whatever the policy")
    for pod in pods[:10]:
        items += _probe_items(snapshot, pod, cni)
        clients = list(_client_items(snapshot, pod, cni))
        items += clients
        learnt, more = _evidence_clients(snapshot, pod, cni, edges, clients)
        items += learnt
        notes += more
    if len(pods) > 10:
        notes.append(f"{len(pods) - 10} more backing pods not checked")
    return Triage(f"svc/{key}", alert, _ordered(items), tuple(notes))


def _ordered(items: list[Item]) -> tuple[Item, ...]:
    return tuple(sorted(items, key=lambda i: _RANK[i.verdict]))  # stable: runbook order kept


def _check(
    snapshot: Snapshot,
    cni: CniInfo,
    need: Need,
    what: str,
    source: str,
    destination: str,
    port: int | str | None,
    protocol: Protocol = Protocol.TCP,
) -> Item:
    try:
        diag = diagnose(snapshot, source, destination, port, protocol, cni=cni)
    except NetpolDoctorError as exc:
        return Item(
            need, what, source, destination, port, protocol, Verdict.UNKNOWN, None, str(exc)
        )
    return Item(need, what, source, destination, port, protocol, diag.verdict, diag)


def _probe_items(snapshot: Snapshot, pod: Pod, cni: CniInfo) -> Iterator[Item]:
    order = {"readiness": 0, "startup": 1, "liveness": 2}
    seen: set[str] = set()
    for kind, handler, port_text in sorted(pod.health_probes, key=lambda p: order[p[0]]):
        port: int | str = int(port_text) if port_text.isdigit() else port_text
        what = f"{kind} probe {handler} port {port_text} (kubelet, from the pod's node)"
        if f"{port_text}" in seen:
            what += " (same port as above)"
        seen.add(port_text)
        if pod.node_name is None:
            yield Item(Need.PROBE, what, "node/?", pod.key, port, Protocol.TCP,
                       Verdict.UNKNOWN, None, "the pod is not scheduled on a node")  # fmt: skip
            continue
        yield _check(snapshot, cni, Need.PROBE, what, f"node/{pod.node_name}", pod.key, port)


def _startup_items(snapshot: Snapshot, pod: Pod, cni: CniInfo) -> Iterator[Item]:
    yield _check(snapshot, cni, Need.DNS, "DNS, UDP and TCP 53", pod.key, "dns", None)
    if pod.automount_token:
        what = "the API server (the pod mounts a service-account token)"
        yield _check(snapshot, cni, Need.APISERVER, what, pod.key, "apiserver", None)


def _dependency_items(snapshot: Snapshot, pod: Pod, cni: CniInfo) -> tuple[list[Item], list[str]]:
    items: list[Item] = []
    notes: list[str] = []
    seen: set[tuple[str, int | str]] = set()
    for env, host, port_text in pod.env_targets:
        target = _resolve_host(snapshot, pod, host)
        if target is None:
            if "." in host and not host.endswith(".local"):
                notes.append(f"{env} names {host}: not a Service or address in the input")
            continue
        dst, svc = target
        ports: list[int | str] = [int(port_text)] if port_text.isdigit() else []
        if not ports and svc is not None:
            ports.extend([p.port for p in svc.ports if p.protocol is Protocol.TCP][:1])
        if not ports:
            notes.append(f"{env} names {host} without a port: not checked")
            continue
        for port in ports:
            if (dst, port) in seen:
                continue
            seen.add((dst, port))
            what = f"{env} -> {dst} port {port}"
            items.append(_check(snapshot, cni, Need.DEPENDENCY, what, pod.key, dst, port))
    return items, notes


def _resolve_host(snapshot: Snapshot, pod: Pod, host: str) -> tuple[str, Service | None] | None:
    """A Service (cluster DNS name, bare name of the pod's namespace, ClusterIP), a
    pod IP, or another literal address; None for names outside the input."""
    try:
        ip = ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        if ip.is_loopback or ip.is_unspecified:
            return None
        for svc in snapshot.services.values():
            if host in svc.cluster_ips:
                return f"svc/{svc.namespace}/{svc.name}", svc
        owner = snapshot.pods_by_ip.get(ip)
        return (owner.key if owner else f"ip/{host}"), None
    labels = host.lower().rstrip(".").split(".")
    if (len(labels) >= 3 and labels[2] == "svc") or len(labels) == 2:
        key = f"{labels[1]}/{labels[0]}"
    elif len(labels) == 1:
        key = f"{pod.namespace}/{labels[0]}"
    else:
        return None
    found = snapshot.services.get(key)
    return (f"svc/{key}", found) if found is not None else None


def _backends(snapshot: Snapshot, svc: Service) -> list[Pod]:
    if svc.selector is None:
        return []
    want = dict(svc.selector)
    return sorted(
        (
            p
            for p in snapshot.pods_by_namespace.get(svc.namespace, ())
            if not p.is_template and all(p.label_map.get(k) == v for k, v in want.items())
        ),
        key=lambda p: p.key,
    )


def _services_of(snapshot: Snapshot, pod: Pod) -> list[Service]:
    """The Services that select `pod`: what its clients reach it through."""
    return [
        s
        for s in snapshot.services.values()
        if s.namespace == pod.namespace and pod in _backends(snapshot, s)
    ]


def _client_items(snapshot: Snapshot, pod: Pod, cni: CniInfo) -> Iterator[Item]:
    """Pods whose config names a Service that selects `pod`: their traffic must get in."""
    services = _services_of(snapshot, pod)
    if not services:
        return
    names = {f"svc/{s.namespace}/{s.name}": s for s in services}
    count = 0
    for client in sorted(snapshot.pods, key=lambda p: p.key):
        if client is pod or client.is_template or not client.env_targets:
            continue
        for env, host, port_text in client.env_targets:
            target = _resolve_host(snapshot, client, host)
            if target is None or target[0] not in names:
                continue
            svc = names[target[0]]
            port = int(port_text) if port_text.isdigit() else svc.ports[0].port if svc.ports else 0
            what = f"client {client.key} ({env}) -> {target[0]} port {port}"
            yield _check(snapshot, cni, Need.CLIENT, what, client.key, pod.key, _target(svc, port))
            count += 1
            break
        if count >= _MAX_CLIENTS:
            return


def _target(svc: Service, port: int) -> int | str:
    """The pod port a Service port reaches (the client goes through the Service)."""
    for p in svc.ports:
        if p.port == port:
            return p.target_port
    return port


def _evidence_dependencies(
    snapshot: Snapshot, pod: Pod, cni: CniInfo, edges: Sequence[Edge], known: list[Item]
) -> tuple[list[Item], list[str]]:
    """What the pod (or another replica of its workload) was seen or declared to reach."""
    done = {(i.destination, i.port) for i in known}
    items: list[Item] = []
    skipped = 0
    for e in edges:
        if not e.leaves(pod) or (e.destination_spec, e.port) in done:
            continue
        done.add((e.destination_spec, e.port))
        if len(items) >= _MAX_CLIENTS:
            skipped += 1
            continue
        what = f"{e.destination_group} port {e.port}/{e.protocol.value} ({e.how})"
        dst = e.destination_spec
        items.append(_check(snapshot, cni, Need.DEPENDENCY, what, pod.key, dst, e.port, e.protocol))
    notes = [f"{skipped} more destinations from the evidence not checked"] if skipped else []
    return items, notes


def _evidence_clients(
    snapshot: Snapshot, pod: Pod, cni: CniInfo, edges: Sequence[Edge], known: list[Item]
) -> tuple[list[Item], list[str]]:
    """Who was seen or declared to reach the pod: directly, or through a Service that
    selects it (the port then becomes the Service's target port)."""
    services = {f"svc/{s.namespace}/{s.name}": s for s in _services_of(snapshot, pod)}
    done = {(i.source, i.port) for i in known}
    items: list[Item] = []
    skipped = 0
    for e in edges:
        svc = services.get(e.destination_group)
        if svc is None and not e.enters(pod):
            continue
        port = _target(svc, e.port) if svc is not None else e.port
        if e.source_spec == pod.key or (e.source_spec, port) in done:
            continue
        done.add((e.source_spec, port))
        if len(items) >= _MAX_CLIENTS:
            skipped += 1
            continue
        via = f" via {e.destination_group}" if svc is not None else ""
        what = f"client {e.source_group}{via} port {e.port}/{e.protocol.value} ({e.how})"
        items.append(
            _check(snapshot, cni, Need.CLIENT, what, e.source_spec, pod.key, port, e.protocol)
        )
    notes = [f"{skipped} more clients from the evidence not checked"] if skipped else []
    return items, notes
