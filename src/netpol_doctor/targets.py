"""What a question names -> concrete endpoints: pods, a Service's backing pods,
a workload's pods, a node or an IP; and the destination port after the Service's
targetPort mapping. Imports `model`, `selectors`, `snapshot`, `engine`, `errors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address

from .engine import Endpoint, EndpointKind
from .errors import QuestionError
from .inputs.workloads import canonical_kind, pods_of_workload
from .model import IPAddress, Pod, Protocol, Service, ServicePort
from .selectors import Tri, match_selector
from .snapshot import Snapshot

__all__ = ["Member", "Target", "endpoint_for_ip", "endpoint_for_pod", "resolve"]


@dataclass(frozen=True, slots=True)
class Member:
    endpoint: Endpoint
    #: destination port on this member after Service mapping (None for a source)
    port: int | None = None
    #: how the port was reached, e.g. "Service shop/api port 80 -> targetPort http = 8080"
    via: str | None = None
    #: the member cannot take the connection at all (named targetPort missing on it)
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    spec: str  # what the user typed
    kind: str  # pod | service | workload | node | ip
    label: str
    members: tuple[Member, ...]
    service: Service | None = None
    service_port: ServicePort | None = None


def endpoint_for_pod(snapshot: Snapshot, pod: Pod) -> Endpoint:
    if pod.host_network:
        # NP-94: a hostNetwork pod is seen as its node's address.
        node = snapshot.nodes.get(pod.node_name or "")
        ips = pod.ips or (node.addresses if node else ()) or ((pod.host_ip,) if pod.host_ip else ())
        return Endpoint(EndpointKind.HOST, pod, tuple(ips), pod.node_name)
    return Endpoint(EndpointKind.POD, pod, pod.ips, pod.node_name)


def endpoint_for_ip(snapshot: Snapshot, ip: IPAddress) -> Endpoint:
    pod = snapshot.pods_by_ip.get(ip)
    if pod is not None:
        return endpoint_for_pod(snapshot, pod)
    node = snapshot.node_by_ip.get(ip)
    if node is not None:
        return Endpoint(EndpointKind.HOST, None, (ip,), node.ref.name)
    return Endpoint(EndpointKind.EXTERNAL, None, (ip,))


def resolve(
    snapshot: Snapshot,
    spec: str,
    *,
    namespace: str = "default",
    port: int | str | None = None,
    protocol: Protocol = Protocol.TCP,
) -> Target:
    """Resolve `ns/name`, `name`, `svc/ns/name`, `node/name` or `ip/1.2.3.4`, and
    kubectl's `TYPE/NAME` or `TYPE/NS/NAME` (`deploy/api`, `sts/db`, `pod/x`; the
    workload found through its pods' owner references, inputs/workloads.py). A pod
    `ns/name` whose namespace is spelled like a type still means that pod.

    With `port` (a destination), Service ports map to targetPorts per backing pod
    and a port name resolves on the destination pod's containerPorts.
    """
    if "/" not in spec and ".svc" in spec:
        # A Service's DNS name, as the client uses it: api.shop.svc[.cluster.local]
        name, _, tail = spec.partition(".")
        ns = tail.split(".svc", 1)[0] or namespace
        return _service(snapshot, spec, (ns, name), port, protocol)
    head, _, rest = spec.partition("/")
    if head == "ip" and rest:
        try:
            ip = ip_address(rest)
        except ValueError:
            raise QuestionError(f"{rest!r} in {spec!r} is not an IP address") from None
        ep = endpoint_for_ip(snapshot, ip)
        return Target(spec, "ip", ep.label, (_member(ep, port, protocol),))
    if head in ("svc", "service") and rest:
        return _service(snapshot, spec, _split(rest, namespace), port, protocol)
    if head == "node" and rest:
        node = snapshot.nodes.get(rest)
        if node is None:
            raise QuestionError(f"no node named {rest!r} in the input")
        ep = Endpoint(EndpointKind.HOST, None, node.addresses, rest)
        return Target(spec, "node", ep.label, (_member(ep, port, protocol),))
    kind = canonical_kind(head) if rest else None
    if kind is not None and kind != "Service" and spec not in snapshot.pods_by_key:
        return _typed(snapshot, spec, kind, _split(rest, namespace), port, protocol)
    ns, name = _split(spec, namespace)
    pod = snapshot.pods_by_key.get(f"{ns}/{name}")
    if pod is not None:
        ep = endpoint_for_pod(snapshot, pod)
        return Target(spec, "pod", pod.display, (_member(ep, port, protocol),))
    pods = _workload_pods(snapshot, ns, name)
    if pods:
        members = tuple(_member(endpoint_for_pod(snapshot, p), port, protocol) for p in pods)
        return Target(spec, "workload", f"{ns}/{name}", members)
    raise QuestionError(_not_found(snapshot, ns, name))


def _typed(
    snapshot: Snapshot,
    spec: str,
    kind: str,
    where: tuple[str, str],
    port: int | str | None,
    protocol: Protocol,
) -> Target:
    ns, name = where
    if kind == "Pod":
        pod = snapshot.pods_by_key.get(f"{ns}/{name}")
        if pod is None:
            raise QuestionError(_not_found(snapshot, ns, name))
        ep = endpoint_for_pod(snapshot, pod)
        return Target(spec, "pod", pod.display, (_member(ep, port, protocol),))
    pods = pods_of_workload(snapshot, kind, ns, name)
    if not pods:
        raise QuestionError(
            f"no {kind} {ns}/{name} in the input: no pod of namespace {ns} is owned by it"
        )
    members = tuple(_member(endpoint_for_pod(snapshot, p), port, protocol) for p in pods)
    return Target(spec, "workload", f"{kind.lower()}/{ns}/{name}", members)


def _split(text: str, namespace: str) -> tuple[str, str]:
    ns, sep, name = text.partition("/")
    if not sep:
        return namespace, text
    if not ns or not name or "/" in name:
        raise QuestionError(f"{text!r} is not NAMESPACE/NAME")
    return ns, name


def _member(ep: Endpoint, port: int | str | None, protocol: Protocol) -> Member:
    if port is None or isinstance(port, int):
        return Member(ep, port)
    # A port name resolves on the destination pod, as a named policy port does (NP-64).
    if ep.pod is not None:
        for cp in ep.pod.ports:
            if cp.name == port and cp.protocol is protocol:
                return Member(ep, cp.port, f"port {port} = {cp.port} on {ep.pod.key}")
        return Member(ep, None, problem=f"{ep.pod.key} has no {protocol.value} port named {port!r}")
    return Member(ep, None, problem=f"a port name ({port!r}) needs a pod destination")


def _live(pods: list[Pod]) -> list[Pod]:
    return [p for p in pods if not p.finished]


def _workload_pods(snapshot: Snapshot, ns: str, name: str) -> list[Pod]:
    for w in snapshot.workloads:
        if w.ref.namespace == ns and w.ref.name == name and w.selector is not None:
            pods = [
                p
                for p in snapshot.pods_by_namespace.get(ns, [])
                if match_selector(w.selector, p.label_map).result is Tri.YES
            ]
            return sorted(_live(pods), key=lambda p: p.name)
    return []


def _service(
    snapshot: Snapshot,
    spec: str,
    key: tuple[str, str],
    port: int | str | None,
    protocol: Protocol,
) -> Target:
    ns, name = key
    svc = snapshot.services.get(f"{ns}/{name}")
    if svc is None and snapshot.is_unreadable("services", ns):
        raise QuestionError(
            f"Service {ns}/{name} could not be read: listing services in {ns} was not allowed"
        )
    if svc is None:
        known = sorted(k for k in snapshot.services if k.startswith(f"{ns}/"))
        hint = f"; Services in {ns}: {', '.join(known)}" if known else ""
        raise QuestionError(f"no Service {ns}/{name} in the input{hint}")
    sport = _service_port(svc, port, protocol)
    endpoints = _service_endpoints(snapshot, svc)
    members: list[Member] = []
    for ep in endpoints:
        if sport is None:
            members.append(_member(ep, port, protocol))
            continue
        members.append(_target_member(svc, sport, ep))
    return Target(spec, "service", f"svc/{svc.key}", tuple(members), svc, sport)


def _service_port(svc: Service, port: int | str | None, protocol: Protocol) -> ServicePort | None:
    if port is None:
        return None
    for sp in svc.ports:
        if sp.protocol is protocol and (
            sp.port == port or (sp.name is not None and sp.name == port)
        ):
            return sp
    listed = ", ".join(
        f"{p.port}/{p.protocol.value}" + (f" ({p.name})" if p.name else "") for p in svc.ports
    )
    raise QuestionError(
        f"Service {svc.key} has no {protocol.value} port {port}; its ports are {listed or 'none'}"
    )


def _target_member(svc: Service, sp: ServicePort, ep: Endpoint) -> Member:
    """NP-63: policy sees the pod's port after DNAT, not the Service port."""
    head = f"Service {svc.key} port {sp.port} -> targetPort {sp.target_port}"
    if isinstance(sp.target_port, int):
        return Member(ep, sp.target_port, head)
    if ep.pod is None:
        return Member(ep, None, head, f"named targetPort {sp.target_port!r} needs a pod")
    for cp in ep.pod.ports:
        if cp.name == sp.target_port and cp.protocol is sp.protocol:
            return Member(ep, cp.port, f"{head} = {cp.port} on {ep.pod.name}")
    return Member(
        ep,
        None,
        head,
        f"{ep.pod.key} has no {sp.protocol.value} containerPort named {sp.target_port!r}: "
        "the Service sends it nothing on this port",
    )


def _service_endpoints(snapshot: Snapshot, svc: Service) -> list[Endpoint]:
    if svc.selector is not None:
        selector = dict(svc.selector)
        pods = [
            p
            for p in snapshot.pods_by_namespace.get(svc.namespace, [])
            if all(p.label_map.get(k) == v for k, v in selector.items())
        ]
        return [endpoint_for_pod(snapshot, p) for p in sorted(_live(pods), key=lambda p: p.name)]
    # No selector: endpoints maintained by hand (e.g. `kubernetes`, the API server).
    out: list[Endpoint] = []
    seen: set[IPAddress] = set()
    for eps in snapshot.endpoints:
        if eps.namespace == svc.namespace and eps.service == svc.name:
            for ip in eps.addresses:
                if ip not in seen:
                    seen.add(ip)
                    out.append(endpoint_for_ip(snapshot, ip))
    return out


def _not_found(snapshot: Snapshot, ns: str, name: str) -> str:
    if snapshot.is_unreadable("pods", ns):
        why = snapshot.unreadable_reason("pods", ns)
        return f"no pod {ns}/{name} could be found: the pods of {ns} could not be read ({why})"
    pods = snapshot.pods_by_namespace.get(ns, [])
    close = sorted(p.name for p in pods if p.name.startswith(name) or name in p.name)[:5]
    if close:
        return f"no pod {ns}/{name} in the input; did you mean {', '.join(close)}?"
    if not pods:
        return f"no pod {ns}/{name} in the input (namespace {ns} has no pods)"
    return f"no pod or workload {ns}/{name} in the input"
