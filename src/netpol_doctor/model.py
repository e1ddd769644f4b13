"""The typed vocabulary of netpol-doctor: cluster objects and policies, parsed once.

Owns plain frozen data classes and enums only. Imports nothing from the package
but the standard library: every other module builds on these names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any, TypeVar

__all__ = [
    "NAMESPACE_NAME_LABEL",
    "ContainerPort",
    "Direction",
    "Endpoints",
    "IPAddress",
    "IPBlock",
    "IPNetwork",
    "LabelSelector",
    "Namespace",
    "NetworkPolicy",
    "Node",
    "ObjectRef",
    "Operator",
    "Peer",
    "Pod",
    "PolicyPort",
    "Protocol",
    "Requirement",
    "Rule",
    "Service",
    "ServicePort",
    "Workload",
    "model_leaf_types",
]

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

#: Set by the API server on every Namespace since 1.21 (SEMANTICS NP-80).
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


class Direction(Enum):
    INGRESS = "Ingress"
    EGRESS = "Egress"

    @property
    def rules_field(self) -> str:
        return "ingress" if self is Direction.INGRESS else "egress"

    @property
    def peers_field(self) -> str:
        return "from" if self is Direction.INGRESS else "to"


class Protocol(Enum):
    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"
    #: Only ever in a question (ping): NetworkPolicy rules cannot name it (VAL-30), and
    #: its fate under an isolating policy is undefined (NP-100).
    ICMP = "ICMP"


class Operator(Enum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """Where an object came from, so every message can point at it."""

    kind: str
    namespace: str | None
    name: str
    file: str | None = field(default=None, compare=False)
    document: int | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"

    @property
    def location(self) -> str | None:
        if self.file is None:
            return None
        parts = [self.file]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.document is not None:
            parts.append(f"document {self.document}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Requirement:
    """One selector term; `matchLabels` entries become `In` with one value."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()
    from_match_labels: bool = False

    def __str__(self) -> str:
        if self.from_match_labels:
            return f"{self.key}={self.values[0]}"
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        op = "in" if self.operator is Operator.IN else "notin"
        return f"{self.key} {op} ({','.join(self.values)})"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed label selector. No requirements = the empty selector `{}`: matches all."""

    requirements: tuple[Requirement, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements) if self.requirements else "{}"


@dataclass(frozen=True, slots=True)
class IPBlock:
    cidr: IPNetwork
    excepts: tuple[IPNetwork, ...] = ()

    def __str__(self) -> str:
        if not self.excepts:
            return str(self.cidr)
        return f"{self.cidr} except {', '.join(str(e) for e in self.excepts)}"


@dataclass(frozen=True, slots=True)
class Peer:
    """One item of `from`/`to`. Absent selectors are None; `{}` is an empty LabelSelector."""

    index: int
    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


@dataclass(frozen=True, slots=True)
class PolicyPort:
    """One item of `ports`. `port` None = all ports of `protocol` (NP-61)."""

    index: int
    protocol: Protocol = Protocol.TCP
    port: int | str | None = None
    end_port: int | None = None

    def __str__(self) -> str:
        if self.port is None:
            return f"{self.protocol.value} (all ports)"
        if self.end_port is not None:
            return f"{self.protocol.value} {self.port}-{self.end_port}"
        return f"{self.protocol.value} {self.port}"


@dataclass(frozen=True, slots=True)
class Rule:
    """One ingress or egress rule. `peers` None = all peers; `ports` empty = all ports."""

    direction: Direction
    index: int
    peers: tuple[Peer, ...] | None
    ports: tuple[PolicyPort, ...] = ()

    @property
    def path(self) -> str:
        return f"spec.{self.direction.rules_field}[{self.index}]"


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    ref: ObjectRef
    pod_selector: LabelSelector
    policy_types: frozenset[Direction]
    #: True when policyTypes was written in the manifest; False when defaulted (NP-20..25).
    explicit_types: bool
    ingress: tuple[Rule, ...]
    egress: tuple[Rule, ...]
    #: metadata.annotations, without kubectl's last-applied-configuration
    annotations: tuple[tuple[str, str], ...] = ()

    @property
    def namespace(self) -> str:
        return self.ref.namespace or "default"

    def rules(self, direction: Direction) -> tuple[Rule, ...]:
        return self.ingress if direction is Direction.INGRESS else self.egress

    def controls(self, direction: Direction) -> bool:
        return direction in self.policy_types


@dataclass(frozen=True, slots=True)
class Namespace:
    ref: ObjectRef
    labels: tuple[tuple[str, str], ...]
    #: The namespace was referenced but not present in the input (NP-81): only the
    #: `kubernetes.io/metadata.name` label is known, every other label is unknown.
    synthesized: bool = False
    annotations: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True, slots=True)
class ContainerPort:
    name: str | None
    port: int
    protocol: Protocol = Protocol.TCP
    container: str = ""


@dataclass(frozen=True, slots=True)
class Pod:
    ref: ObjectRef
    labels: tuple[tuple[str, str], ...]
    ips: tuple[IPAddress, ...] = ()
    host_network: bool = False
    node_name: str | None = None
    host_ip: IPAddress | None = None
    phase: str | None = None
    ports: tuple[ContainerPort, ...] = ()
    #: Set for a pod synthesised from a workload's pod template (no live Pod seen).
    template_of: ObjectRef | None = None
    owner: tuple[str, str] | None = None  # (kind, name) of the controller owner
    service_account: str | None = None
    automount_token: bool = True
    annotations: tuple[tuple[str, str], ...] = ()
    container_names: tuple[str, ...] = ()
    ready: bool | None = None
    restarts: int = 0
    waiting_reasons: tuple[str, ...] = ()
    #: kubelet probes: (readiness|liveness|startup, httpGet|tcpSocket|grpc, port as written)
    health_probes: tuple[tuple[str, str, str], ...] = ()
    #: addresses the env names: (env name, host, port or ""); see inputs/pod_needs.py
    env_targets: tuple[tuple[str, str, str], ...] = ()

    @property
    def namespace(self) -> str:
        return self.ref.namespace or "default"

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def is_template(self) -> bool:
        return self.template_of is not None

    @property
    def finished(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    @property
    def display(self) -> str:
        if self.template_of is not None:
            return f"{self.key} (template of {self.template_of.kind} {self.template_of.key})"
        return self.key


@dataclass(frozen=True, slots=True)
class ServicePort:
    name: str | None
    port: int
    target_port: int | str
    protocol: Protocol = Protocol.TCP
    node_port: int | None = None


@dataclass(frozen=True, slots=True)
class Service:
    ref: ObjectRef
    #: None: the Service has no selector (endpoints are managed by hand).
    selector: tuple[tuple[str, str], ...] | None
    ports: tuple[ServicePort, ...]
    type: str = "ClusterIP"
    external_traffic_policy: str | None = None
    cluster_ips: tuple[str, ...] = ()

    @property
    def namespace(self) -> str:
        return self.ref.namespace or "default"

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Endpoints or an EndpointSlice, reduced to what the analysis needs."""

    ref: ObjectRef
    service: str  # name of the Service in the same namespace
    addresses: tuple[IPAddress, ...]
    target_pods: tuple[str, ...]  # names of pods from targetRef
    ports: tuple[tuple[str | None, int, Protocol], ...]

    @property
    def namespace(self) -> str:
        return self.ref.namespace or "default"


@dataclass(frozen=True, slots=True)
class Node:
    ref: ObjectRef
    labels: tuple[tuple[str, str], ...]
    addresses: tuple[IPAddress, ...]
    pod_cidrs: tuple[IPNetwork, ...] = ()
    kubelet_version: str | None = None


@dataclass(frozen=True, slots=True)
class Workload:
    """A controller (Deployment, StatefulSet, ...) kept for template pods and CNI detection."""

    ref: ObjectRef
    selector: LabelSelector | None
    template: Pod | None
    desired: int | None = None
    ready: int | None = None
    container_names: tuple[str, ...] = ()
    container_args: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    owner: tuple[str, str] | None = None  # (kind, name) of the controlling owner


def model_leaf_types() -> tuple[type, ...]:
    """The small value types inside the model objects (for compact serialisation)."""
    return (
        Requirement,
        LabelSelector,
        IPBlock,
        Peer,
        PolicyPort,
        Rule,
        ContainerPort,
        ServicePort,
    )


T = TypeVar("T")


_CONSTRUCTORS: dict[type, Callable[..., Any]] = {}


def fast_constructor(cls: type[T]) -> Callable[..., T]:
    """A constructor of the frozen, slotted dataclass `cls` taking every field
    positionally, in declaration order. A frozen dataclass's `__init__` sets each
    field through `object.__setattr__`, a generic attribute lookup per field; this one
    calls each slot's own setter: twice as fast, which counts when 100,000 pods are
    rebuilt from a compact file or from a loading child. Fields are stored as given:
    only for values already checked (no defaults, no conversion)."""
    made = _CONSTRUCTORS.get(cls)
    if made is None:
        made = _CONSTRUCTORS[cls] = _constructor(cls)
    return made


def _constructor(cls: type[T]) -> Callable[..., T]:
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    for i, name in enumerate(names):
        namespace[f"_set{i}"] = vars(cls)[name].__set__
    params = ", ".join(f"a{i}" for i in range(len(names)))
    sets = "".join(f"    _set{i}(o, a{i})\n" for i in range(len(names)))
    exec(f"def make({params}):\n    o = _new(_cls)\n{sets}    return o\n", namespace)
    make: Callable[..., T] = namespace["make"]
    return make
