"""Manifest dicts -> model objects, with API-server defaults applied.

Raw YAML/JSON stops here: nothing downstream sees a dict. Every problem becomes a
`Finding` naming the file, document, object and field path; a bad object is dropped
(or a bad field skipped) and parsing goes on. Imports `model`, `findings`,
`validation`, `crd_validation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import ip_network
from typing import Any, TypeVar

from .crd_validation import validate_extended
from .findings import Finding, Severity
from .inputs import multus
from .inputs.fast_objects import (
    LAST_APPLIED,
    author_declared_types,
    fast_network_policy,
    fast_pod,
    parse_ip,
)
from .inputs.pod_needs import env_targets, health_probes
from .model import (
    NAMESPACE_NAME_LABEL,
    ContainerPort,
    Direction,
    Endpoints,
    IPAddress,
    IPBlock,
    IPNetwork,
    LabelSelector,
    Namespace,
    NetworkPolicy,
    Node,
    ObjectRef,
    Operator,
    Peer,
    Pod,
    PolicyPort,
    Protocol,
    Requirement,
    Rule,
    Service,
    ServicePort,
    Workload,
    fast_constructor,
)
from .validation import Level, parse_cidr, show_value, validate_network_policy

__all__ = [
    "EXTENDED_KINDS",
    "WORKLOAD_KINDS",
    "Event",
    "ExtendedObject",
    "Origin",
    "ParseResult",
    "parse_ip",
    "parse_object",
    "parse_selector",
]

WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}
)

#: Kinds later issues evaluate; kept unparsed and counted. (apiVersion group, kind)
EXTENDED_KINDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("cilium.io", "CiliumNetworkPolicy"),
        ("cilium.io", "CiliumClusterwideNetworkPolicy"),
        ("projectcalico.org", "NetworkPolicy"),
        ("projectcalico.org", "GlobalNetworkPolicy"),
        ("crd.projectcalico.org", "NetworkPolicy"),
        ("crd.projectcalico.org", "GlobalNetworkPolicy"),
        ("policy.networking.k8s.io", "AdminNetworkPolicy"),
        ("policy.networking.k8s.io", "BaselineAdminNetworkPolicy"),
        ("policy.networking.k8s.io", "ClusterNetworkPolicy"),
        # Not policies, but the order of Calico's policies depends on them.
        ("projectcalico.org", "Tier"),
        ("crd.projectcalico.org", "Tier"),
        # Not on the roadmap yet, but each can deny what NetworkPolicy allows.
        ("crd.antrea.io", "NetworkPolicy"),
        ("crd.antrea.io", "ClusterNetworkPolicy"),
        ("k8s.ovn.org", "EgressFirewall"),
    }
)


def _looks_like_network_policy(group: str, kind: str) -> bool:
    """An unknown CRD that filters traffic: unknown means "can decide", not "inert"."""
    return (
        bool(group)
        and group != "networking.k8s.io"
        and not kind.startswith("Staged")  # staged policies are never enforced (CAL-8)
        and (kind.endswith("NetworkPolicy") or kind.endswith("Firewall"))
    )


#: Container arguments kept on workloads (CNI detection); no other argument is kept.
READ_CONTAINER_FLAGS = ("--enable-network-policy",)

#: Annotations never kept: they can carry whole manifests, Secrets included.
_DROPPED_ANNOTATIONS = (LAST_APPLIED,)


@dataclass(frozen=True, slots=True)
class Origin:
    file: str | None = None
    document: int | None = None  # 1-based, as a person counts documents
    line: int | None = None
    item: int | None = None  # index inside a kind: List


@dataclass(frozen=True, slots=True)
class ExtendedObject:
    """A policy of a family not evaluated yet (Cilium, Calico, admin tiers)."""

    ref: ObjectRef
    api_group: str
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Event:
    ref: ObjectRef
    reason: str
    message: str
    involved: ObjectRef | None
    type: str | None = None
    count: int = 1


Parsed = (
    Namespace | Pod | Service | Endpoints | NetworkPolicy | Node | Workload | ExtendedObject | Event
)


@dataclass
class ParseResult:
    obj: Parsed | None
    kind: str
    findings: list[Finding] = field(default_factory=list)
    #: a NetworkPolicy the API server would reject (kept for `pod` and lint, never evaluated)
    rejected: ObjectRef | None = None


T = TypeVar("T")

_TYPE_WORDS: dict[type, str] = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    int: "an integer",
    bool: "a boolean",
}


def _type_word(value: object) -> str:
    if value is None:
        return "null"
    for t, word in _TYPE_WORDS.items():
        if type(value) is t:
            return word
    return type(value).__name__


class _Reader:
    """Typed field access that records wrong types as findings instead of raising."""

    def __init__(self, ref: ObjectRef) -> None:
        self.ref = ref
        self.findings: list[Finding] = []

    def problem(self, path: str, message: str, severity: Severity = Severity.WARNING) -> None:
        self.findings.append(Finding("input-invalid", severity, message, (self.ref,), path))

    def get(self, obj: Any, key: str, kind: type[T], path: str, default: T) -> T:
        if not isinstance(obj, dict):
            return default
        value = obj.get(key)
        if value is None:
            return default
        # bool is an int in Python; a port of `true` is still the wrong type
        if type(value) is kind:  # the common case, and never a bool read as an int
            return value
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return value
        self.problem(
            f"{path}.{key}" if path else key,
            f"expected {_TYPE_WORDS.get(kind, kind.__name__)}, got {_type_word(value)}; ignored",
        )
        return default

    def labels(self, obj: Any, key: str, path: str) -> tuple[tuple[str, str], ...]:
        raw = self.get(obj, key, dict, path, {})
        out: list[tuple[str, str]] = []
        for k, v in raw.items():
            # YAML reads `version: 1` as an int; kubectl would refuse it, we keep its text.
            text = scalar_text(v)
            if not isinstance(k, str) or text is None:
                what = repr(k[:63]) if isinstance(k, str) else f"key {_type_word(k)}"
                message = f"label {what}: value is {_type_word(v)}, not a string; ignored"
                self.problem(f"{path}.{key}", message)
                continue
            out.append((k, text))
        return tuple(sorted(out))

    def ip(self, value: Any, path: str) -> IPAddress | None:
        if not isinstance(value, str) or not value:
            return None
        address = parse_ip(value)
        if address is None:
            self.problem(path, f"{value!r} is not an IP address; ignored")
        return address


def scalar_text(value: object) -> str | None:
    """A string, or the text of a plain number; None for anything else. Never str() of a
    list or mapping: a YAML alias bomb is small as loaded and gigabytes once printed."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and abs(value) >= 10**30:
        return None  # not a label value, and str() of a huge int raises past 4300 digits
    return str(value)


def _name_of(value: object) -> str | None:
    """A name field read from a reference (owner, target): strings only."""
    return value if isinstance(value, str) and value else None


def parse_selector(raw: Mapping[str, Any]) -> LabelSelector:
    """A validated selector dict -> LabelSelector (SEL-2: all terms ANDed)."""
    reqs: list[Requirement] = [
        Requirement(str(k), Operator.IN, (str(v),), from_match_labels=True)
        for k, v in (raw.get("matchLabels") or {}).items()
    ]
    for expr in raw.get("matchExpressions") or []:
        reqs.append(
            Requirement(
                str(expr["key"]),
                Operator(expr["operator"]),
                tuple(str(v) for v in expr.get("values") or ()),
            )
        )
    return LabelSelector(tuple(reqs))


def _api_group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


#: One reference per object read: the plain strings (and origin) it is made of need
#: none of the dataclass constructor's generic work.
_new_ref = fast_constructor(ObjectRef)


def parse_object(
    raw: Any, origin: Origin, default_namespace: str = "default", *, fast: bool = True
) -> ParseResult:
    """Parse one manifest. Never raises: problems come back as findings.

    fast=False reads every object the reference way, never through
    inputs/fast_objects.py (which reads the plain Pod and NetworkPolicy to the same
    result, only faster): for the tests and benchmarks that compare both."""
    if not isinstance(raw, dict):
        ref = ObjectRef("?", None, "?", origin.file, origin.document, origin.line)
        msg = f"expected a Kubernetes object (a mapping), got {_type_word(raw)}"
        return ParseResult(None, "?", [Finding("input-invalid", Severity.ERROR, msg, (ref,))])
    kind = raw.get("kind")
    meta = raw.get("metadata")
    kind_s = kind if isinstance(kind, str) else "?"
    name = meta.get("name") if isinstance(meta, dict) else None
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    ref = _new_ref(
        kind_s,
        namespace if isinstance(namespace, str) and namespace else None,
        name if isinstance(name, str) and name else "?",
        origin.file,
        origin.document,
        origin.line,
    )
    if not isinstance(kind, str) or not kind:
        f = Finding("input-invalid", Severity.ERROR, "object has no kind", (ref,), "kind")
        return ParseResult(None, "?", [f])
    if ref.name == "?":
        msg = "object has no metadata.name; skipped"
        f = Finding("input-invalid", Severity.ERROR, msg, (ref,), "metadata.name")
        return ParseResult(None, kind, [f])
    parser = _PARSERS.get(kind)
    if parser is None or kind == "NetworkPolicy":
        # Only these kinds can be another family's (a Calico NetworkPolicy, a CRD named
        # like a policy): the other parsed kinds are core ones whatever their apiVersion.
        api_version = raw.get("apiVersion")
        group = _api_group(api_version) if isinstance(api_version, str) else ""
        if (group, kind) in EXTENDED_KINDS or _looks_like_network_policy(group, kind):
            return _extended(raw, ref, group)
        if parser is None or group not in ("networking.k8s.io", ""):
            return ParseResult(None, kind)
    if ref.namespace is None and kind in _NAMESPACED:
        ref = _new_ref(kind, default_namespace, ref.name, ref.file, ref.document, ref.line)
    read = _FAST_READERS.get(kind) if fast else None
    obj = read(raw, ref) if read is not None else None
    if obj is not None:
        return ParseResult(obj, kind)
    reader = _Reader(ref)
    try:
        result = parser(raw, reader)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # The validators should have caught this; a plain message beats a traceback.
        msg = f"could not be read ({type(exc).__name__}: {exc}); skipped"
        reader.findings.append(Finding("input-invalid", Severity.ERROR, msg, (ref,)))
        result = ParseResult(None, kind)
    result.findings[:0] = reader.findings
    return result


_NEVER_EXISTS = "the API server rejects this object: it never exists in a cluster"


def _extended(raw: dict[str, Any], ref: ObjectRef, group: str) -> ParseResult:
    """Checked against its kind's schema here, so a wrong type never reaches a family's
    compile; a rejected object is dropped, as the cluster never stored it."""
    problems = validate_extended(group, ref.kind, raw)
    if not problems:
        return ParseResult(ExtendedObject(ref, group, raw), ref.kind)
    findings = [
        Finding("policy-invalid", Severity.ERROR, f"{v.message} ({_NEVER_EXISTS})", (ref,), v.path)
        for v in problems
    ]
    return ParseResult(None, ref.kind, findings)


def _ok(obj: Parsed, kind: str) -> ParseResult:
    return ParseResult(obj, kind)


def _parse_namespace(raw: dict[str, Any], r: _Reader) -> ParseResult:
    labels = dict(r.labels(raw.get("metadata"), "labels", "metadata"))
    # NP-80: the API server sets this label on every Namespace; hand-written
    # manifests lack it, the cluster will not.
    labels.setdefault(NAMESPACE_NAME_LABEL, r.ref.name)
    annotations = _annotations(r, raw.get("metadata"), "metadata")
    return _ok(Namespace(r.ref, tuple(sorted(labels.items())), False, annotations), "Namespace")


_PROTOCOLS: dict[object, Protocol] = {p.value: p for p in Protocol}


def _protocol(r: _Reader, value: Any, path: str) -> Protocol:
    if value is None:
        return Protocol.TCP
    if type(value) is str and (known := _PROTOCOLS.get(value)) is not None:
        return known  # a dict lookup: Enum's constructor is slow, and this is every port
    try:
        # Enum's own error message is the repr of the value: never hand it a container.
        return Protocol(value if isinstance(value, str) else "")
    except ValueError:
        shown = show_value(value) if isinstance(value, str | int) else _type_word(value)
        r.problem(path, f"protocol {shown} is not TCP, UDP or SCTP; read as TCP")
        return Protocol.TCP


def _container_ports(r: _Reader, spec: Any, path: str) -> tuple[ContainerPort, ...]:
    ports: list[ContainerPort] = []
    containers: list[tuple[str, Any]] = [
        (f"{path}.containers[{i}]", c)
        for i, c in enumerate(r.get(spec, "containers", list, path, []))
    ]
    # Sidecars (restartable init containers) serve ports like any container.
    for i, c in enumerate(r.get(spec, "initContainers", list, path, [])):
        if isinstance(c, dict) and c.get("restartPolicy") == "Always":
            containers.append((f"{path}.initContainers[{i}]", c))
    for cpath, c in containers:
        cname = r.get(c, "name", str, cpath, "")
        for j, p in enumerate(r.get(c, "ports", list, cpath, [])):
            ppath = f"{cpath}.ports[{j}]"
            number = r.get(p, "containerPort", int, ppath, 0)
            if number == 0 and isinstance(p, dict) and p.get("containerPort") not in (0, None):
                continue  # wrong type, already reported
            if not 1 <= number <= 65535:
                r.problem(f"{ppath}.containerPort", f"port {number} is out of range 1-65535")
                continue
            pname = r.get(p, "name", str, ppath, "") or None
            proto = _protocol(r, p.get("protocol") if isinstance(p, dict) else None, ppath)
            ports.append(ContainerPort(pname, number, proto, cname))
    return tuple(ports)


def _annotations(r: _Reader, meta: Any, path: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted(
            (k, v)
            for k, v in r.get(meta, "annotations", dict, path, {}).items()
            if isinstance(k, str) and isinstance(v, str) and k not in _DROPPED_ANNOTATIONS
        )
    )


def _pod_from_template(
    r: _Reader, meta: Any, spec: Any, path: str, ref: ObjectRef, template_of: ObjectRef | None
) -> Pod:
    return Pod(**_template_fields(r, meta, spec, path, ref, template_of))


def _template_fields(
    r: _Reader, meta: Any, spec: Any, path: str, ref: ObjectRef, template_of: ObjectRef | None
) -> dict[str, Any]:
    """The Pod fields a pod template sets; a live Pod adds its status to them."""
    annotations = _annotations(r, meta, f"{path}metadata")
    containers = r.get(spec, "containers", list, f"{path}spec", [])
    return dict(
        ref=ref,
        labels=r.labels(meta, "labels", f"{path}metadata"),
        host_network=r.get(spec, "hostNetwork", bool, f"{path}spec", False),
        node_name=r.get(spec, "nodeName", str, f"{path}spec", "") or None,
        ports=_container_ports(r, spec, f"{path}spec"),
        template_of=template_of,
        service_account=r.get(spec, "serviceAccountName", str, f"{path}spec", "") or None,
        automount_token=r.get(spec, "automountServiceAccountToken", bool, f"{path}spec", True),
        annotations=annotations,
        container_names=tuple(
            c["name"] for c in containers if isinstance(c, dict) and isinstance(c.get("name"), str)
        ),
        health_probes=health_probes(containers),
        env_targets=env_targets(
            [*containers, *r.get(spec, "initContainers", list, f"{path}spec", [])]
        ),
    )


def _parse_pod(raw: dict[str, Any], r: _Reader) -> ParseResult:
    meta, spec, status = raw.get("metadata"), raw.get("spec"), raw.get("status")
    # One constructor call: dataclasses.replace on every pod cost a tenth of the load.
    fields = _template_fields(r, meta, spec, "", r.ref, None)
    ips: list[IPAddress] = []
    for i, entry in enumerate(r.get(status, "podIPs", list, "status", [])):
        ip = r.ip(entry.get("ip") if isinstance(entry, dict) else None, f"status.podIPs[{i}]")
        if ip is not None and ip not in ips:
            ips.append(ip)
    first = r.ip(r.get(status, "podIP", str, "status", ""), "status.podIP")
    if first is not None and first not in ips:
        ips.insert(0, first)
    owner = None
    for o in r.get(meta, "ownerReferences", list, "metadata", []):
        if isinstance(o, dict) and o.get("controller") and isinstance(o.get("name"), str):
            owner = (_name_of(o.get("kind")) or "?", o["name"])
    statuses = [s for s in r.get(status, "containerStatuses", list, "status", []) if s]
    waiting = tuple(
        s["state"]["waiting"].get("reason", "")
        for s in statuses
        if isinstance(s, dict)
        and isinstance(s.get("state"), dict)
        and isinstance(s["state"].get("waiting"), dict)
    )
    for path, message in multus.problems(fields["annotations"], r.ref.namespace or "default"):
        r.problem(path, message)
    pod = Pod(
        **fields,
        ips=tuple(ips),
        host_ip=r.ip(r.get(status, "hostIP", str, "status", ""), "status.hostIP"),
        phase=r.get(status, "phase", str, "status", "") or None,
        owner=owner,
        ready=all(bool(s.get("ready")) for s in statuses if isinstance(s, dict))
        if statuses
        else None,
        restarts=sum(int(s.get("restartCount") or 0) for s in statuses if isinstance(s, dict)),
        waiting_reasons=tuple(w for w in waiting if w),
    )
    return _ok(pod, "Pod")


def _parse_service(raw: dict[str, Any], r: _Reader) -> ParseResult:
    spec = raw.get("spec")
    selector_raw = r.get(spec, "selector", dict, "spec", {})
    selector = r.labels(spec, "selector", "spec") if selector_raw else None
    ports: list[ServicePort] = []
    for i, p in enumerate(r.get(spec, "ports", list, "spec", [])):
        path = f"spec.ports[{i}]"
        number = r.get(p, "port", int, path, 0)
        if not 1 <= number <= 65535:
            r.problem(f"{path}.port", f"port {number} is out of range 1-65535")
            continue
        target: Any = p.get("targetPort") if isinstance(p, dict) else None
        if target is None or isinstance(target, bool) or not isinstance(target, int | str):
            target = number  # API default: targetPort = port
        elif isinstance(target, str) and target.isdigit():
            target = int(target)
        ports.append(
            ServicePort(
                r.get(p, "name", str, path, "") or None,
                number,
                target,
                _protocol(r, p.get("protocol") if isinstance(p, dict) else None, path),
                r.get(p, "nodePort", int, path, 0) or None,
            )
        )
    svc = Service(
        ref=r.ref,
        selector=selector,
        ports=tuple(ports),
        type=r.get(spec, "type", str, "spec", "ClusterIP"),
        external_traffic_policy=r.get(spec, "externalTrafficPolicy", str, "spec", "") or None,
        cluster_ips=tuple(
            str(x) for x in r.get(spec, "clusterIPs", list, "spec", []) if isinstance(x, str)
        )
        or tuple(x for x in [r.get(spec, "clusterIP", str, "spec", "")] if x),
    )
    return _ok(svc, "Service")


def _endpoint_ports(
    r: _Reader, items: list[Any], path: str
) -> tuple[tuple[str | None, int, Protocol], ...]:
    out = []
    for i, p in enumerate(items):
        number = r.get(p, "port", int, f"{path}[{i}]", 0)
        if number:
            proto = _protocol(r, p.get("protocol") if isinstance(p, dict) else None, path)
            out.append((r.get(p, "name", str, f"{path}[{i}]", "") or None, number, proto))
    return tuple(out)


def _parse_endpoints(raw: dict[str, Any], r: _Reader) -> ParseResult:
    addresses: list[IPAddress] = []
    pods: list[str] = []
    ports: list[tuple[str | None, int, Protocol]] = []
    for i, subset in enumerate(r.get(raw, "subsets", list, "", [])):
        spath = f"subsets[{i}]"
        for j, a in enumerate(r.get(subset, "addresses", list, spath, [])):
            ip = r.ip(a.get("ip") if isinstance(a, dict) else None, f"{spath}.addresses[{j}].ip")
            if ip is not None:
                addresses.append(ip)
            target = a.get("targetRef") if isinstance(a, dict) else None
            if isinstance(target, dict) and target.get("kind") == "Pod":
                pods.append(_name_of(target.get("name")) or "?")
        ports.extend(_endpoint_ports(r, r.get(subset, "ports", list, spath, []), f"{spath}.ports"))
    ep = Endpoints(r.ref, r.ref.name, tuple(addresses), tuple(pods), tuple(ports))
    return _ok(ep, "Endpoints")


def _parse_endpoint_slice(raw: dict[str, Any], r: _Reader) -> ParseResult:
    labels = dict(r.labels(raw.get("metadata"), "labels", "metadata"))
    service = labels.get("kubernetes.io/service-name")
    if not service:
        return ParseResult(None, "EndpointSlice")
    addresses: list[IPAddress] = []
    pods: list[str] = []
    for i, e in enumerate(r.get(raw, "endpoints", list, "", [])):
        for a in r.get(e, "addresses", list, f"endpoints[{i}]", []):
            ip = r.ip(a, f"endpoints[{i}].addresses")
            if ip is not None:
                addresses.append(ip)
        target = e.get("targetRef") if isinstance(e, dict) else None
        if isinstance(target, dict) and target.get("kind") == "Pod":
            pods.append(_name_of(target.get("name")) or "?")
    ports = _endpoint_ports(r, r.get(raw, "ports", list, "", []), "ports")
    return _ok(Endpoints(r.ref, service, tuple(addresses), tuple(pods), ports), "EndpointSlice")


def _parse_node(raw: dict[str, Any], r: _Reader) -> ParseResult:
    spec, status = raw.get("spec"), raw.get("status")
    addresses: list[IPAddress] = []
    for i, a in enumerate(r.get(status, "addresses", list, "status", [])):
        if isinstance(a, dict) and a.get("type") in ("InternalIP", "ExternalIP"):
            ip = r.ip(a.get("address"), f"status.addresses[{i}].address")
            if ip is not None:
                addresses.append(ip)
    cidrs: list[IPNetwork] = []
    raw_cidrs = r.get(spec, "podCIDRs", list, "spec", []) or [
        r.get(spec, "podCIDR", str, "spec", "")
    ]
    for c in raw_cidrs:
        if isinstance(c, str) and c:
            try:
                cidrs.append(ip_network(c, strict=False))
            except ValueError:
                r.problem("spec.podCIDRs", f"{c!r} is not a CIDR; ignored")
    info = r.get(status, "nodeInfo", dict, "status", {})
    node = Node(
        r.ref,
        r.labels(raw.get("metadata"), "labels", "metadata"),
        tuple(addresses),
        tuple(cidrs),
        info.get("kubeletVersion") if isinstance(info.get("kubeletVersion"), str) else None,
    )
    return _ok(node, "Node")


def _parse_workload(raw: dict[str, Any], r: _Reader) -> ParseResult:
    kind = r.ref.kind
    spec = raw.get("spec")
    path = "spec"
    if kind == "CronJob":
        spec = r.get(r.get(spec, "jobTemplate", dict, "spec", {}), "spec", dict, "", {})
        path = "spec.jobTemplate.spec"
    selector: LabelSelector | None = None
    sel_raw = r.get(spec, "selector", dict, path, {})
    if sel_raw:
        from .validation import validate_label_selector

        errors = [v for v in validate_label_selector(sel_raw, f"{path}.selector")]
        if errors:
            for v in errors:
                r.problem(v.path, v.message)
        else:
            selector = parse_selector(sel_raw)
    template = r.get(spec, "template", dict, path, {})
    pod: Pod | None = None
    if template:
        pod_ref = ObjectRef("Pod", r.ref.namespace, r.ref.name, r.ref.file, r.ref.document)
        pod = _pod_from_template(
            r, template.get("metadata"), template.get("spec"), f"{path}.template.", pod_ref, r.ref
        )
    status = raw.get("status")
    desired = r.get(spec, "replicas", int, path, -1)
    if kind == "DaemonSet":
        desired = r.get(status, "desiredNumberScheduled", int, "status", -1)
    ready_field = "numberReady" if kind == "DaemonSet" else "readyReplicas"
    owner = next(
        (
            (_name_of(o.get("kind")) or "?", _name_of(o.get("name")) or "?")
            for o in r.get(raw.get("metadata"), "ownerReferences", list, "metadata", [])
            if isinstance(o, dict) and o.get("controller")
        ),
        None,
    )
    w = Workload(
        ref=r.ref,
        selector=selector,
        template=pod,
        desired=None if desired < 0 else desired,
        ready=r.get(status, ready_field, int, "status", 0) if isinstance(status, dict) else None,
        container_names=pod.container_names if pod else (),
        container_args=tuple(
            a
            for c in r.get((template or {}).get("spec"), "containers", list, "", [])
            if isinstance(c, dict)
            for key in ("args", "command")
            if isinstance(c.get(key), list)
            for a in c[key]
            # Arguments can carry passwords and tokens: keep only the flags read.
            if isinstance(a, str) and a.startswith(READ_CONTAINER_FLAGS)
        ),
        labels=r.labels(raw.get("metadata"), "labels", "metadata"),
        owner=owner,
    )
    return _ok(w, kind)


def _parse_event(raw: dict[str, Any], r: _Reader) -> ParseResult:
    inv = raw.get("involvedObject") or raw.get("regarding")
    involved = None
    if isinstance(inv, dict) and isinstance(inv.get("name"), str):
        ns = inv.get("namespace")
        involved = ObjectRef(
            _name_of(inv.get("kind")) or "?", ns if isinstance(ns, str) else None, inv["name"]
        )
    ev = Event(
        r.ref,
        r.get(raw, "reason", str, "", ""),
        r.get(raw, "message", str, "", "") or r.get(raw, "note", str, "", ""),
        involved,
        r.get(raw, "type", str, "", "") or None,
        r.get(raw, "count", int, "", 1),
    )
    return _ok(ev, "Event")


# --- NetworkPolicy -----------------------------------------------------------------


def _parse_network_policy(raw: dict[str, Any], r: _Reader) -> ParseResult:
    problems = validate_network_policy(raw)
    errors = [v for v in problems if v.level is Level.ERROR]
    for v in problems:
        if v.level is Level.ERROR:
            msg = f"{v.message} (the API server rejects this policy: it does nothing)"
            r.findings.append(Finding("policy-invalid", Severity.ERROR, msg, (r.ref,), v.path))
        else:
            r.findings.append(
                Finding("policy-warning", Severity.WARNING, v.message, (r.ref,), v.path)
            )
    if errors:
        return ParseResult(None, "NetworkPolicy", rejected=r.ref)
    spec: dict[str, Any] = raw.get("spec") or {}
    ingress = tuple(
        _rule(Direction.INGRESS, i, rule) for i, rule in enumerate(spec.get("ingress") or [])
    )
    egress = tuple(
        _rule(Direction.EGRESS, i, rule) for i, rule in enumerate(spec.get("egress") or [])
    )
    declared = spec.get("policyTypes") or []
    explicit = bool(declared) and author_declared_types(raw)
    if declared:
        types = frozenset(Direction(t) for t in declared)  # NP-26: used verbatim
    else:
        # NP-20..25, SetDefaults_NetworkPolicy: Ingress always; Egress only when the
        # egress list is non-empty (`egress: []` does NOT add it).
        types = frozenset({Direction.INGRESS} | ({Direction.EGRESS} if egress else set()))
    policy = NetworkPolicy(
        ref=r.ref,
        pod_selector=parse_selector(spec.get("podSelector") or {}),  # NP-11: absent = {}
        policy_types=types,
        explicit_types=explicit,
        ingress=ingress,
        egress=egress,
        annotations=_annotations(r, raw.get("metadata"), "metadata"),
    )
    return _ok(policy, "NetworkPolicy")


def _rule(direction: Direction, index: int, raw: dict[str, Any] | None) -> Rule:
    raw = raw or {}
    peers_raw = raw.get(direction.peers_field) or []
    peers = tuple(_peer(i, p) for i, p in enumerate(peers_raw)) if peers_raw else None
    ports = tuple(_policy_port(i, p) for i, p in enumerate(raw.get("ports") or []))
    return Rule(direction, index, peers, ports)


def _peer(index: int, raw: dict[str, Any]) -> Peer:
    block = raw.get("ipBlock")
    ip_block = None
    if block is not None:
        cidr, _ = parse_cidr(block["cidr"], "")
        excepts = [parse_cidr(e, "")[0] for e in block.get("except") or []]
        assert cidr is not None
        ip_block = IPBlock(cidr, tuple(e for e in excepts if e is not None))
    pod_sel = raw.get("podSelector")
    ns_sel = raw.get("namespaceSelector")
    return Peer(
        index,
        parse_selector(pod_sel) if pod_sel is not None else None,
        parse_selector(ns_sel) if ns_sel is not None else None,
        ip_block,
    )


def _policy_port(index: int, raw: dict[str, Any]) -> PolicyPort:
    raw = raw or {}
    return PolicyPort(
        index,
        Protocol(raw.get("protocol") or "TCP"),  # NP-60: defaults to TCP
        raw.get("port"),
        raw.get("endPort"),
    )


_NAMESPACED = frozenset(
    {"Pod", "Service", "Endpoints", "EndpointSlice", "NetworkPolicy", "Event"} | WORKLOAD_KINDS
)

_PARSERS: dict[str, Callable[[dict[str, Any], _Reader], ParseResult]] = {
    "Namespace": _parse_namespace,
    "Pod": _parse_pod,
    "Service": _parse_service,
    "Endpoints": _parse_endpoints,
    "EndpointSlice": _parse_endpoint_slice,
    "Node": _parse_node,
    "NetworkPolicy": _parse_network_policy,
    "Event": _parse_event,
    **dict.fromkeys(WORKLOAD_KINDS, _parse_workload),
}
#: The plain shapes of the two kinds a cluster has thousands of, read without the
#: _Reader; None back: the parser above reads the object, findings and all.
_FAST_READERS: dict[str, Callable[[dict[str, Any], ObjectRef], Pod | NetworkPolicy | None]] = {
    "Pod": fast_pod,
    "NetworkPolicy": fast_network_policy,
}
