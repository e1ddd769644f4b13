"""Cilium policy (SEMANTICS.md §4): CiliumNetworkPolicy (CNP, namespaced, `spec` and/or
`specs[]`) and CiliumClusterwideNetworkPolicy (CCNP), compiled once from the raw objects and
merged with standard NetworkPolicy into the final answer for one side of a flow.

Model. A pod's identity is its labels plus `io.kubernetes.pod.namespace`, its namespace's
labels as `io.cilium.k8s.namespace.labels.<key>` and `io.cilium.k8s.policy.serviceaccount`,
each also under the `k8s:` source prefix (a selector key without a source, or with `any:`,
matches any source). Nodes, hostNetwork pods (CIL-61) and outside addresses carry only reserved
labels (`reserved:host`, `remote-node`, `world`, `kube-apiserver`). Per direction (CIL-2, CIL-4,
CIL-8): isolated if NetworkPolicy isolates the pod or a selecting Cilium rule has an allow or
deny list for the direction (or `enableDefaultDeny` says so); allowed if not isolated or if any
NetworkPolicy or Cilium allow admits it (a union); never if a deny rule matches (deny wins).

Agent defaults assumed: `enable-policy: default` (CIL-1); `allow-localhost` admits the pod's own
node (CIL-9; a deny still wins); CIDR rules match node IPs only as `FlowSide.semantics` says
(CIL-31, off by default); the default identity-label filter. UNKNOWN, never a guess: L7 `rules`,
listeners, TLS server names and mutual authentication on matching traffic (CIL-42); `toFQDNs`,
groups and CIDR groups toward outside addresses (CIL-43); `toServices` (CIL-16); `fromNodes` /
`toNodes` (CIL-14); `fromRequires`/`toRequires` (CIL-15); CNP selectors on namespace labels
across namespaces (CIL-12); the cluster-name label; label keys the default filter drops; CEL
selectors; unknown rule fields; host policies (`nodeSelector`, CIL-7) when the subject is a node.

Imports `model`, `selectors`, `findings`, `validation`, `parse`, `snapshot`, `engine`, `extended`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from ipaddress import ip_network
from typing import Any

from .engine import Endpoint, EndpointKind, Exemption
from .extended import Action, FamilyVerdict, FlowSide, Note, Step, derived
from .findings import Finding, Severity
from .model import (
    NAMESPACE_NAME_LABEL,
    Direction,
    IPAddress,
    IPBlock,
    IPNetwork,
    LabelSelector,
    ObjectRef,
    Operator,
    Pod,
    Protocol,
    Requirement,
)
from .parse import ExtendedObject, parse_selector
from .selectors import Tri, match_ip_block, match_requirement, tri_all, tri_any
from .snapshot import Snapshot
from .validation import Level, show_value, validate_label_selector

__all__ = ["CCNP", "CNP", "CiliumPolicy", "CiliumRule", "Peer", "PeerKind", "PeerRule"]
__all__ += ["PortRule", "PortSpec", "compile", "direction"]

CNP, CCNP = "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"
NS_KEY = "io.kubernetes.pod.namespace"  # CIL-10
NS_LABELS = "io.cilium.k8s.namespace.labels."  # CIL-12
SA_KEY = "io.cilium.k8s.policy.serviceaccount"
CLUSTER_KEY = "io.cilium.k8s.policy.cluster"  # CIL-62: the cluster name is not in the input
#: [CIL-ENTITY] EntitySelectorMapping (`world-ipv4`/`-ipv6`: some versions only)
_RESERVED = ("host", "remote-node", "world", "world-ipv4", "world-ipv6", "kube-apiserver")
ENTITIES = frozenset(
    (*_RESERVED, "all", "cluster", "ingress", "init", "health", "unmanaged", "none")
)
_PROTOCOLS = frozenset({"TCP", "UDP", "SCTP", "ANY", "ICMP", "ICMPV6", "VRRP", "IGMP"})
_ECHO = {4: frozenset({"8", "echo", "echorequest"}), 6: frozenset({"128", "echorequest"})}
_SVC_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")  # iana.IsSvcName
#: Keys Cilium's default identity-label filter drops (pkg/labels/filter.go) or keeps
_FILTERED = re.compile(
    r"io\.kubernetes|kubernetes\.io|k8s\.io|^(pod-template-|controller-rev|annotation\.|etcd_node)"
)
_KEPT = (NS_KEY, NS_LABELS, "io.cilium.", "app.kubernetes.io")
_NS_NAME = NS_LABELS + NAMESPACE_NAME_LABEL  # the one namespace label always known (NP-81)
_LISTS = ("ingress", "ingressDeny", "egress", "egressDeny")
_COMMON = {"toPorts", "icmps", "authentication"}
_INGRESS_PEERS = ("Endpoints", "CIDR", "CIDRSet", "Entities", "Groups", "Nodes")
_PEER_FIELDS = {True: _INGRESS_PEERS, False: (*_INGRESS_PEERS, "Services", "FQDNs")}
_WORD = {Tri.YES: "matches", Tri.NO: "does not match", Tri.UNKNOWN: "cannot be decided"}


class PeerKind(Enum):
    ENDPOINTS = "endpoints"  # fromEndpoints/toEndpoints: a label selector (CIL-10, CIL-11)
    ENTITY = "entity"  # fromEntities/toEntities (CIL-20..26)
    CIDR = "cidr"  # fromCIDR/toCIDR/...CIDRSet: outside addresses only (CIL-30)
    LEARNT = "learnt"  # toFQDNs, groups, CIDR group refs: addresses learnt at run time (CIL-43)
    SERVICES = "services"  # toServices (CIL-16)
    NODES = "nodes"  # fromNodes/toNodes (CIL-14)


@dataclass(frozen=True, slots=True)
class Peer:
    field: str  # "fromEndpoints[0]"
    kind: PeerKind
    selector: LabelSelector | None = None
    entity: str | None = None
    block: IPBlock | None = None
    #: CIL-12: a CNP selector on namespace labels; older agents also pin it to this namespace
    older_namespace: str | None = None
    opaque: str | None = None  # a part of the selector not evaluated (a CEL expression)


@dataclass(frozen=True, slots=True)
class PortSpec:
    port: int | str  # 0: every port (CIL-40); str: a named port, lower-cased
    end_port: int | None
    protocol: str  # TCP UDP SCTP ANY ICMP ICMPV6 VRRP IGMP

    def __str__(self) -> str:
        port = "all" if self.port == 0 else self.port
        return f"{self.protocol}/{port}" + (f"-{self.end_port}" if self.end_port else "")


@dataclass(frozen=True, slots=True)
class PortRule:
    index: int
    ports: tuple[PortSpec, ...]
    l7: str | None  # what decides each request ("HTTP rules"); None: plain L4 or L7 allow-all
    #: the requests the L7 rules let through, one phrase each ("GET /public")
    requests: tuple[str, ...] = ()


def _requests(rules: object, kind: str | None) -> tuple[str, ...]:
    """What each L7 entry admits, in plain words ([CIL-L7]: a request passes when at
    least one entry matches it; the fields of one entry must all match)."""
    if not isinstance(rules, dict):
        return ()
    entries = rules.get("l7" if kind == "l7proto" else kind or "")
    out = []
    for e in entries if isinstance(entries, list) else ():
        if not isinstance(e, dict):
            continue
        if kind == "http":
            words = [str(e.get("method") or "any method"), str(e.get("path") or "any path")]
            if e.get("host"):
                words.append(f"host {e['host']}")
            headers = e.get("headers")
            if isinstance(headers, list) and headers:
                words.append("with headers " + ", ".join(str(h) for h in headers))
            out.append(" ".join(words))
        elif kind == "dns":
            name = e.get("matchName") or e.get("matchPattern")
            out.append(f"DNS lookups of {name}")
        elif kind == "kafka":
            what = e.get("role") or e.get("apiKey") or "any request"
            topic = f" on topic {e['topic']}" if e.get("topic") else ""
            client = f" from client {e['clientID']}" if e.get("clientID") else ""
            out.append(f"Kafka {what}{topic}{client}")
        else:
            out.append(f"{rules.get('l7proto')} requests {e}")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class PeerRule:
    """One item of ingress/ingressDeny/egress/egressDeny."""

    path: str  # "spec.ingress[0]"
    deny: bool
    peers: tuple[Peer, ...]
    to_ports: tuple[PortRule, ...] = ()
    icmps: tuple[tuple[int, str], ...] = ()  # (IP family, type) of `icmps[].fields[]`
    requires: bool = False  # fromRequires/toRequires present (CIL-15)
    opaque: str | None = None  # decided at run time or not understood: UNKNOWN when it matches


@dataclass(frozen=True, slots=True)
class CiliumRule:
    """One `spec` or `specs[i]` (an api.Rule)."""

    path: str
    selector: LabelSelector | None  # endpointSelector, namespace applied; None: a host policy
    opaque: str | None
    lists: tuple[tuple[PeerRule, ...], ...]  # ingress, ingressDeny, egress, egressDeny
    default_deny: tuple[bool, bool]  # (ingress, egress), CIL-2

    def items(self, d: Direction) -> tuple[PeerRule, ...]:
        i = 2 * (d is Direction.EGRESS)
        return self.lists[i] + self.lists[i + 1]

    def isolates(self, d: Direction) -> bool:
        return self.default_deny[d is Direction.EGRESS]


@dataclass(frozen=True, slots=True)
class CiliumPolicy:
    ref: ObjectRef
    namespace: str | None  # None: a CiliumClusterwideNetworkPolicy
    rules: tuple[CiliumRule, ...]


# --- compile: raw objects -> CiliumPolicy, rejecting what Cilium rejects ([CIL-VALID]) -------


def compile(objects: list[ExtendedObject]) -> tuple[list[CiliumPolicy], list[Finding]]:
    """CNP and CCNP objects of `objects` -> policies; a rejected object becomes one
    `policy-invalid` finding per problem and is left out (it does nothing in a cluster)."""
    policies: list[CiliumPolicy] = []
    findings: list[Finding] = []
    for obj in objects:
        if obj.api_group != "cilium.io" or obj.ref.kind not in (CNP, CCNP):
            continue
        c = _Compiler((obj.ref.namespace or "default") if obj.ref.kind == CNP else None)
        specs = [("spec", obj.raw["spec"])] if obj.raw.get("spec") is not None else []
        specs += [(f"specs[{i}]", s) for i, s in enumerate(c.seq(obj.raw.get("specs"), "specs"))]
        if not specs and not c.problems:
            c.add("spec", "spec or specs is required: an empty policy is rejected")
        rules = [r for path, raw in specs if (r := c.spec(raw, path)) is not None]
        for path, message in c.problems:
            msg = f"{path}: {message} (Cilium rejects this policy: it does nothing)"
            findings.append(Finding("policy-invalid", Severity.ERROR, msg, (obj.ref,), path))
        if not c.problems:
            policies.append(CiliumPolicy(obj.ref, c.ns, tuple(rules)))
    return policies, findings


class _Compiler:
    """Walks one object, collecting (field path, problem) like the agent's Sanitize."""

    def __init__(self, ns: str | None) -> None:
        self.ns, self.host = ns, False
        self.problems: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def seq(self, v: object, path: str) -> list[Any]:
        if v is not None and not isinstance(v, list):
            self.add(path, "must be a list")
        return v if isinstance(v, list) else []

    def obj(self, v: object, path: str) -> Mapping[str, Any] | None:
        if not isinstance(v, Mapping):
            self.add(path, "must be a mapping")
        return v if isinstance(v, Mapping) else None

    def spec(self, raw: object, path: str) -> CiliumRule | None:
        if (spec := self.obj(raw, path)) is None:
            return None
        es, nsel = spec.get("endpointSelector"), spec.get("nodeSelector")
        if (es is None) == (nsel is None):  # CIL-5
            self.add(path, "exactly one of endpointSelector and nodeSelector is required")
        if nsel is not None and self.ns is not None:  # CIL-7
            self.add(f"{path}.nodeSelector", "a host policy (nodeSelector) must be a CCNP")
        self.host, field = nsel is not None, "nodeSelector" if es is None else "endpointSelector"
        sel = self.selector(spec[field], f"{path}.{field}") if (es is None) == self.host else None
        subject, opaque = sel if sel is not None and not self.host else (None, None)
        if subject is not None and self.ns is not None:  # CIL-6: always the CNP's namespace
            pin = f"k8s:{NS_KEY}"  # AddMatch replaces only this matchLabels key
            keep = [r for r in subject.requirements if not (r.key == pin and r.from_match_labels)]
            own = Requirement(pin, Operator.IN, (self.ns,), from_match_labels=True)
            subject = LabelSelector((*keep, own))
        lists = tuple(
            tuple(
                r
                for i, item in enumerate(self.seq(spec.get(name), f"{path}.{name}"))
                if (r := self.rule(item, f"{path}.{name}[{i}]", name)) is not None
            )
            for name in _LISTS
        )
        edd = self.obj(spec.get("enableDefaultDeny") or {}, f"{path}.enableDefaultDeny") or {}
        default = []
        for d in ("ingress", "egress"):  # CIL-2 [Rule.Sanitize]
            v = edd.get(d)
            if v is not None and not isinstance(v, bool):
                self.add(f"{path}.enableDefaultDeny.{d}", "must be true or false")
            default.append(v if isinstance(v, bool) else bool(spec.get(d) or spec.get(d + "Deny")))
        return CiliumRule(path, subject, opaque, lists, (default[0], default[1]))

    def rule(self, item: object, path: str, name: str) -> PeerRule | None:
        if (rule := self.obj(item, path)) is None:
            return None
        ingress, deny = name.startswith("ingress"), name.endswith("Deny")
        pre = "from" if ingress else "to"
        for k in ("toFQDNs", "authentication"):
            if deny and k in rule:  # CIL-44
                self.add(f"{path}.{k}", f"deny rules do not support {k}")
        l3 = [pre + k for k in _PEER_FIELDS[ingress] if rule.get(pre + k)]
        if len(l3) > 1:  # CIL-13
            self.add(path, f"combining {l3[0]} and {l3[1]} is not supported: use two rules")
        peers: list[Peer] = []
        for k in _PEER_FIELDS[ingress]:
            for i, v in enumerate(self.seq(rule.get(pre + k), f"{path}.{pre}{k}")):
                peer = self.peer(k, v, f"{pre}{k}[{i}]", f"{path}.{pre}{k}[{i}]")
                peers += [peer] if peer is not None else []
        requires = self.seq(rule.get(pre + "Requires"), f"{path}.{pre}Requires")
        for i, s in enumerate(requires):
            self.selector(s, f"{path}.{pre}Requires[{i}]")
        to_ports = self.to_ports(rule.get("toPorts"), f"{path}.toPorts", ingress, deny)
        icmps = self.icmps(rule.get("icmps"), f"{path}.icmps")
        if rule.get("icmps") and rule.get("toPorts"):  # CIL-50
            self.add(path, "icmps may only be present without toPorts: use a separate rule")
        if rule.get("toServices") and rule.get("toPorts"):
            self.add(path, "combining toServices and toPorts is not supported")
        known = {pre + k for k in (*_PEER_FIELDS[ingress], "Requires")}
        unknown = sorted(str(k) for k in rule if k not in known | _COMMON)
        auth = rule.get("authentication")
        opaque = f"field {unknown[0]} is not evaluated" if unknown else None
        if isinstance(auth, Mapping) and auth.get("mode") not in (None, "disabled"):
            opaque = "mutual authentication is decided at run time"
        return PeerRule(path, deny, tuple(peers), to_ports, icmps, bool(requires), opaque)

    def peer(self, kind: str, v: object, field: str, path: str) -> Peer | None:
        if kind == "Endpoints":
            sel = self.selector(v, path)
            return _endpoint_peer(field, sel[0], sel[1], self.ns) if sel else None
        if kind == "Entities":
            if not isinstance(v, str) or v not in ENTITIES:
                self.add(path, f"unsupported entity {show_value(v)}")
            return Peer(field, PeerKind.ENTITY, entity=v if isinstance(v, str) else "?")
        if kind == "CIDR":
            net = self.cidr(v, path, bare_ip=True)  # CIL-32: a bare IP is accepted here
            return Peer(field, PeerKind.CIDR, block=IPBlock(net)) if net else None
        if kind == "CIDRSet":
            if (c := self.obj(v, path)) is None:
                return None
            if c.get("cidrGroupRef") or c.get("cidrGroupSelector"):
                return Peer(field, PeerKind.LEARNT)  # CiliumCIDRGroups are not read
            net, excepts = self.cidr(c.get("cidr"), f"{path}.cidr"), []
            for i, e in enumerate(self.seq(c.get("except"), f"{path}.except")):
                ex = self.cidr(e, f"{path}.except[{i}]")
                if ex and net and (ex.version != net.version or ex.network_address not in net):
                    self.add(f"{path}.except[{i}]", f"{ex} is not inside cidr {net}")
                excepts += [ex] if ex else []
            return Peer(field, PeerKind.CIDR, block=IPBlock(net, tuple(excepts))) if net else None
        if kind == "Nodes":
            self.selector(v, path)
        kinds = {"Nodes": PeerKind.NODES, "Services": PeerKind.SERVICES}
        return Peer(field, kinds.get(kind, PeerKind.LEARNT))

    def selector(self, v: object, path: str) -> tuple[LabelSelector, str | None] | None:
        """An EndpointSelector: a k8s LabelSelector whose keys may carry a `source:` prefix."""
        if not isinstance(v, Mapping):
            self.add(path, "must be a label selector (matchLabels, matchExpressions)")
            return None
        extra = sorted(str(k) for k in v if k not in ("matchLabels", "matchExpressions"))
        plain = {k: v[k] for k in ("matchLabels", "matchExpressions") if k in v}
        # Keys may carry a `source:` prefix, which k8s key syntax (VAL-43) does not allow.
        errors = [x for x in validate_label_selector(plain, path) if x.level is Level.ERROR]
        errors = [x for x in errors if x.rule != "VAL-43"]
        for x in errors:
            self.add(x.path, x.message)
        if errors:
            return None
        reqs = tuple(
            Requirement(r.key[4:], r.operator, r.values, r.from_match_labels)
            if r.key.startswith("any:")
            else r
            for r in parse_selector(plain).requirements
        )
        return LabelSelector(reqs), (f"{extra[0]} is not evaluated" if extra else None)

    def cidr(self, v: object, path: str, *, bare_ip: bool = False) -> IPNetwork | None:
        """CIL-32 [CIL-VALID]: a prefix (host bits allowed), or a bare IP where allowed."""
        try:
            if isinstance(v, str) and ("/" in v or bare_ip):
                return ip_network(v, strict=False)
        except ValueError:
            pass
        self.add(path, f"{show_value(v)} is not a CIDR such as 10.0.0.0/8")
        return None

    def to_ports(self, v: object, path: str, ingress: bool, deny: bool) -> tuple[PortRule, ...]:
        """CIL-40, CIL-41 [CIL-VALID PortRule.sanitize]."""
        out: list[PortRule] = []
        for i, item in enumerate(self.seq(v, path)):
            if (pr := self.obj(item, here := f"{path}[{i}]")) is None:
                continue
            raw = self.seq(pr.get("ports"), f"{here}.ports")
            specs = [s for j, x in enumerate(raw) if (s := self.port(x, f"{here}.ports[{j}]"))]
            l7, kind = self.l7(pr.get("rules"), f"{here}.rules")
            requests = _requests(pr.get("rules"), kind) if l7 else ()
            problems = {
                "deny rules cannot carry L7 rules": deny,
                "host policies do not support L7 rules": self.host,
                "DNS rules are not allowed on ingress": kind == "dns" and ingress,
                "port 53 must be given for DNS rules": kind == "dns" and not specs,
                "L7 rules cannot be used when a port is 0": any(s.port == 0 for s in specs),
                "L7 rules other than DNS only apply to protocol TCP": kind != "dns"
                and any(s.protocol != "TCP" for s in specs),
            }
            for message, bad in problems.items() if kind is not None else ():
                if bad:
                    self.add(f"{here}.rules", message)
            if pr.get("listener") or pr.get("serverNames"):
                l7 = "an Envoy listener" if pr.get("listener") else "TLS server names"
            out.append(PortRule(i, tuple(specs), l7, requests))
        return tuple(out)

    def port(self, v: object, path: str) -> PortSpec | None:
        if (x := self.obj(v, path)) is None:
            return None
        port, end, proto = x.get("port"), x.get("endPort"), x.get("protocol") or "ANY"
        number: int | str | None = None
        if isinstance(port, str) and _svc_name(port):
            number = port.lower()  # a named port: "0x10" too (iana.IsSvcName)
        elif isinstance(port, str) and _digits(port) and int(port) <= 65535:
            number = int(port)
        else:
            problem = f"port must be a number or name in a string, not {show_value(port)}"
            self.add(f"{path}.port", problem)
        if end is not None and (not isinstance(end, int) or isinstance(end, bool) or end < 0):
            self.add(f"{path}.endPort", f"endPort must be a port number, not {show_value(end)}")
        if not isinstance(proto, str) or proto.upper() not in _PROTOCOLS:
            problem = f"protocol {show_value(proto)} is not TCP, UDP, SCTP or ANY"
            self.add(f"{path}.protocol", problem)
            return None
        end = end if isinstance(end, int) and not isinstance(end, bool) else None
        return PortSpec(number, end, proto.upper()) if number is not None else None

    def l7(self, v: object, path: str) -> tuple[str | None, str | None]:
        """(what decides each request or None, the L7 kind or None) of a toPorts `rules`."""
        rules = self.obj(v, path) if v is not None else None
        kinds = [k for k in ("http", "kafka", "dns", "l7proto") if rules and rules.get(k)]
        if len(kinds) > 1:
            self.add(path, "one L7 protocol per port rule")
        if not rules or not kinds:
            return None, None
        entries = rules.get("l7" if kinds[0] == "l7proto" else kinds[0])
        # An empty entry admits every request ([CIL-L7]); so does the DNS pattern "*".
        if isinstance(entries, list) and any(e in ({}, {"matchPattern": "*"}) for e in entries):
            return None, kinds[0]
        return f"{kinds[0].upper()} rules", kinds[0]

    def icmps(self, v: object, path: str) -> tuple[tuple[int, str], ...]:
        out: list[tuple[int, str]] = []
        for i, item in enumerate(self.seq(v, path)):
            rule = self.obj(item, f"{path}[{i}]") or {}
            for j, f in enumerate(self.seq(rule.get("fields"), f"{path}[{i}].fields")):
                field = self.obj(f, here := f"{path}[{i}].fields[{j}]") or {}
                family, kind = field.get("family") or "IPv4", field.get("type")
                if family not in ("IPv4", "IPv6") or not isinstance(kind, int | str):
                    self.add(here, "needs a type (number or name) and family IPv4 or IPv6")
                text = kind.lower() if isinstance(kind, str) else str(kind) if _small(kind) else "?"
                out.append((6 if family == "IPv6" else 4, text))
        return tuple(out)


def _digits(s: str) -> bool:
    """ASCII digits, at most five (str.isdigit accepts "²", which int() refuses)."""
    return s.isascii() and s.isdigit() and len(s) <= 5


def _bare(key: str) -> str:
    return key.partition(":")[2] if ":" in key else key


def _small(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and abs(v) < 10**30


def _svc_name(s: str) -> bool:
    """iana.IsSvcName (CIL-40): at most 15 of [A-Za-z0-9-], a letter, no "--"."""
    ok = len(s) <= 15 and "--" not in s and _SVC_NAME.fullmatch(s) is not None
    return ok and any(c.isalpha() for c in s)


def _endpoint_peer(field: str, sel: LabelSelector, opaque: str | None, ns: str | None) -> Peer:
    """CIL-11 [CIL-UTILS getEndpointSelector]: a peer selector without the namespace key is
    pinned to the CNP's namespace, or to any pod namespace in a CCNP; reserved keys untouched."""
    keys = [
        (r.key.partition(":")[0] if ":" in r.key else "", _bare(r.key)) for r in sel.requirements
    ]
    k8s = [k for src, k in keys if src in ("", "k8s")]
    if any(src == "reserved" for src, _ in keys) or NS_KEY in k8s:
        return Peer(field, PeerKind.ENDPOINTS, sel, opaque=opaque)
    if ns is not None and any(k.startswith(NS_LABELS) for k in k8s):  # CIL-12
        return Peer(field, PeerKind.ENDPOINTS, sel, older_namespace=ns, opaque=opaque)
    pin = Requirement(f"k8s:{NS_KEY}", Operator.EXISTS)
    if ns is not None:
        pin = Requirement(f"k8s:{NS_KEY}", Operator.IN, (ns,), from_match_labels=True)
    return Peer(field, PeerKind.ENDPOINTS, LabelSelector((*sel.requirements, pin)), opaque=opaque)


# --- evaluation: one side of one flow -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Identity:
    """Labels as Cilium's selectors see them (source-prefixed and bare)."""

    labels: Mapping[str, str]
    pod: bool  # a Cilium-managed pod (not a reserved identity)
    unknown: frozenset[str] = frozenset()  # bare keys whose presence cannot be known
    ns_synthesized: bool = False  # NP-81: only the namespace name label is known


@dataclass(frozen=True, slots=True)
class _Hit:
    """How a rule admits: outright (L3-only, or ports without L7), or by a port rule whose L7
    part decides each request (CIL-42)."""

    plain: Tri = Tri.NO
    l7: Tri = Tri.NO

    def scoped(self, selected: Tri) -> _Hit:
        return _Hit(tri_all([selected, self.plain]), tri_all([selected, self.l7]))

    @property
    def any(self) -> Tri:
        return tri_any([self.plain, self.l7])

    @property
    def matched(self) -> Tri:  # as a step reports it: an L7 match is not a sure one
        return tri_any([self.plain, Tri.UNKNOWN if self.l7 is Tri.YES else self.l7])


def _not(t: Tri) -> Tri:
    return {Tri.YES: Tri.NO, Tri.NO: Tri.YES, Tri.UNKNOWN: Tri.UNKNOWN}[t]


def _union(hits: list[_Hit]) -> Tri:
    """CIL-8 union; CIL-42 [CIL-L7]: an L3-only or L4-only allow covering the peer makes the
    L7 part of another rule moot (pkg/policy `wildcardL3L4Rule` wildcards it)."""
    if any(h.plain is Tri.YES for h in hits):
        return Tri.YES
    if any(h.l7 is not Tri.NO for h in hits):
        return Tri.UNKNOWN
    return tri_any(h.any for h in hits)


def direction(ctx: FlowSide) -> FamilyVerdict:
    """The final answer for one side of a flow on a Cilium cluster (NetworkPolicy included)."""
    policies = [p for p in ctx.policies if isinstance(p, CiliumPolicy)]
    subject = ctx.subject
    if subject.kind is not EndpointKind.POD or subject.pod is None:
        return _not_an_endpoint(ctx, policies)
    if ctx.network_policy.exemption is Exemption.SELF:  # NP-93
        why = "a pod talking to itself is not subject to policy"
        return FamilyVerdict(
            Action.ALLOW, steps=(Step(subject.pod.ref, None, Action.ALLOW, Tri.YES, why),)
        )
    return _Side(ctx, subject.pod).verdict(policies)


def _not_an_endpoint(ctx: FlowSide, policies: list[CiliumPolicy]) -> FamilyVerdict:
    """CIL-61: nodes and hostNetwork pods are reserved identities, not endpoints; only host
    policies (nodeSelector, CIL-7, host firewall) could apply: not evaluated."""
    d = ctx.direction
    host = [(p, r) for p in policies for r in p.rules if r.selector is None and r.items(d)]
    if ctx.subject.kind is not EndpointKind.HOST or not host:
        return FamilyVerdict(Action.ALLOW)
    why = "host policy (nodeSelector) not evaluated: it applies to nodes with the host firewall"
    steps = tuple(Step(p.ref, r.path, Action.NONE, Tri.UNKNOWN, why) for p, r in host)
    return FamilyVerdict(Action.ALLOW, Tri.UNKNOWN, steps, why)


class _Side:
    def __init__(self, ctx: FlowSide, pod: Pod) -> None:
        self.ctx, self.pod, self.other = ctx, pod, ctx.other
        self.ingress = ctx.direction is Direction.INGRESS
        snap = ctx.snapshot
        self.apiserver = derived(snap, "cilium-apiserver-ips", lambda: _apiserver_ips(snap))
        node, other_node = ctx.subject.node, ctx.other.node  # host vs remote-node (CIL-20/21)
        self.same_node = Tri.NO if ctx.other.kind is not EndpointKind.HOST else Tri.UNKNOWN
        if self.same_node is Tri.UNKNOWN and node is not None and other_node is not None:
            self.same_node = Tri.YES if node == other_node else Tri.NO
        self.me = _pod_identity(snap, pod)
        self.peer = self._identity(ctx.other)
        dst = ctx.subject if self.ingress else ctx.other
        self.dst_ports = dst.pod.ports if dst.kind is EndpointKind.POD and dst.pod else None
        ips = ctx.subject.ips + ctx.other.ips
        self.family = 6 if ips and all(ip.version == 6 for ip in ips) else 4
        self.steps: list[Step] = []
        self.isolators: list[str] = []  # policies that put the pod into default deny
        #: each allow rule that selects the pod: (object, rule, how it admits, L7 requests)
        self.allows: list[tuple[ObjectRef, str | None, _Hit, tuple[str, ...]]] = []

    def verdict(self, policies: list[CiliumPolicy]) -> FamilyVerdict:
        d = self.ctx.direction
        isolation, hits = self._network_policy()
        denies: list[_Hit] = []
        requires = False
        for policy in policies:
            if policy.namespace not in (None, self.pod.namespace):
                continue  # CIL-6: a CNP selects in its own namespace only
            for rule in policy.rules:
                if rule.selector is None:
                    continue  # a host policy (CIL-7) never selects a pod
                selected = self._selects(rule.selector, self.me, rule.opaque)
                if selected is Tri.NO:
                    continue
                if rule.isolates(d):
                    isolation.append(selected)
                    self.isolators.append(policy.ref.key)
                for pr in rule.items(d):
                    hit, why = self._rule(pr)
                    hit, requires = hit.scoped(selected), requires or pr.requires
                    (denies if pr.deny else hits).append(hit)
                    if not pr.deny:
                        self.allows.append((policy.ref, pr.path, hit, self._requests(pr)))
                    if selected is Tri.UNKNOWN:
                        why = f"may select the pod (labels unknown); {why}"
                    action = Action.DENY if pr.deny else Action.ALLOW
                    self.steps.append(Step(policy.ref, pr.path, action, hit.matched, why))
        return self._combine(tri_any(isolation), hits, denies, requires)

    def _network_policy(self) -> tuple[list[Tri], list[_Hit]]:
        """CIL-8: standard NetworkPolicy is one more set of allow rules for the union."""
        np = self.ctx.network_policy
        self.isolators = [p.ref.key for p in np.isolated_by]
        if not np.isolated_by and not np.unreadable:
            return [], []
        if np.exemption is Exemption.OWN_NODE:  # its rules were not evaluated; CIL-9 decides
            return [Tri.YES], []
        # A rule without ports admits ICMP too, one with ports does not (CIL-51): the
        # engine's outcomes say so already (no NetworkPolicy port is ICMP).
        admits = tri_any(o.result for o in np.outcomes if o.rule is not None)
        hit = _Hit(Tri.UNKNOWN if np.unreadable else admits)
        names = ", ".join(self.isolators) or "(unreadable)"
        ref = np.isolated_by[0].ref if np.isolated_by else self.pod.ref
        why = f"NetworkPolicy {names} isolates the pod; its rules admit this: {_WORD[hit.any]}"
        self.steps.append(Step(ref, None, Action.ALLOW, hit.any, why))
        self.allows.append((ref, None, hit, ()))
        return [Tri.YES if np.isolated_by else Tri.UNKNOWN], [hit]

    def _combine(
        self, isolated: Tri, hits: list[_Hit], denies: list[_Hit], requires: bool
    ) -> FamilyVerdict:
        allowed = _union(hits)
        if self.ingress and self.same_node is Tri.YES:
            allowed = Tri.YES  # CIL-9: allow-localhost admits the own node; a deny still wins
            why = "traffic from the pod's own node is allowed by Cilium's allow-localhost default"
            self.steps.append(Step(self.pod.ref, None, Action.ALLOW, Tri.YES, why))
        denied = tri_any(h.matched for h in denies)
        result = tri_all([tri_any([_not(isolated), allowed]), _not(denied)])
        reasons = [s.reason for s in self.steps if s.matched is Tri.UNKNOWN]
        if requires and result is Tri.YES and isolated is not Tri.NO:
            result = Tri.UNKNOWN
            reasons.append("fromRequires/toRequires narrow every endpoint rule (gone in 1.19)")
        if isolated is Tri.UNKNOWN:
            reasons.append("whether a policy selects the pod depends on labels not in the input")
        # With UNKNOWN certainty, the action is what happens if every undecided rule applies.
        ok = denied is Tri.NO and (isolated is Tri.NO or allowed is not Tri.NO)
        action = Action.ALLOW if ok else Action.DENY
        state = "not isolated, allowed by default"
        if isolated is not Tri.NO:
            by = ", ".join(dict.fromkeys(self.isolators))
            state = "isolated" if isolated is Tri.YES else "may be isolated"
            state = f"{state} by {by}; an allow rule {_WORD[allowed]}"
        summary = f"{self.ctx.direction.value.lower()}: {state}"
        summary += f"; a deny rule {_WORD[denied]}" if denies else ""
        self.steps.append(Step(self.pod.ref, None, action, result, summary))
        sure = Tri.UNKNOWN if result is Tri.UNKNOWN else Tri.YES
        reason = "; ".join(dict.fromkeys(reasons)) if sure is Tri.UNKNOWN else None
        notes = self._l7_notes(denied, result)
        return FamilyVerdict(action, sure, tuple(self.steps), reason, notes)

    def _requests(self, pr: PeerRule) -> tuple[str, ...]:
        """The requests the L7 rules of this rule admit on the flow's port."""
        return tuple(
            r
            for rule in pr.to_ports
            if rule.l7 and tri_any(self._port(s) for s in rule.ports) is not Tri.NO
            for r in rule.requests
        )

    def _l7_notes(self, denied: Tri, result: Tri) -> tuple[Note, ...]:
        """CIL-42 [CIL-L7]: rules are ORed, so an allow without L7 rules for the same peer
        and port lets every request through, and the L7 rules of another rule have no
        effect there; where only L7 rules admit, they decide request by request."""
        plain = [a for a in self.allows if a[2].plain is Tri.YES]
        l7 = [a for a in self.allows if a[2].l7 is Tri.YES and a[2].plain is not Tri.YES]
        if not l7 or denied is not Tri.NO:
            return ()
        port = f"{self.ctx.protocol.value}/{self.ctx.port}"
        if plain:
            by_ref, by_rule = plain[0][0], plain[0][1]
            by = f"{by_ref} {by_rule}" if by_rule else str(by_ref)
            return tuple(
                Note(
                    "cilium-l7-shadowed",
                    (ref, by_ref),
                    rule,
                    f"the L7 rules of {ref} {rule} ({'; '.join(requests) or 'L7 rules'}) have no "
                    f"effect for {self.other.label} on {port}: {by} allows the same peer and port "
                    "without L7 rules, and Cilium ORs the rules, so every request passes",
                )
                for ref, rule, _, requests in l7
            )
        if result is not Tri.UNKNOWN:
            return ()
        passing = [r for a in l7 for r in a[3]]
        refs = tuple(dict.fromkeys(a[0] for a in l7))
        rules = ", ".join(f"{a[0]} {a[1]}" for a in l7)
        what = "; ".join(passing) if passing else "the requests its L7 rules match"
        return (
            Note(
                "cilium-l7-decides",
                refs,
                l7[0][1],
                f"at L4 the connection on {port} is allowed, for these requests only: {what} "
                f"({rules}); Cilium's proxy refuses every other request (HTTP 403, a DNS "
                "refusal, a Kafka error), so whether this request passes depends on it",
            ),
        )

    def _rule(self, pr: PeerRule) -> tuple[_Hit, str]:
        parts: list[str] = []
        peers = Tri.YES  # [CIL-L4] ports without a peer: every peer
        if pr.peers:
            results = [self._peer(peer) for peer in pr.peers]
            parts += [
                f"{peer.field} {why}" for peer, (_, why) in zip(pr.peers, results, strict=True)
            ]
            peers = tri_any(t for t, _ in results)
        elif not pr.to_ports and not pr.icmps:  # CIL-3: `[{}]` isolates and admits nothing
            return _Hit(), "an empty rule selects no peer: it admits nothing"
        hit = _Hit(peers)  # L3 only: every port and protocol, ICMP included (CIL-50)
        if pr.to_ports or pr.icmps:
            plain: list[Tri] = []
            l7: list[Tri] = []
            if pr.icmps:
                icmp = self.ctx.protocol is Protocol.ICMP
                echo = icmp and any(f == self.family and t in _ECHO[f] for f, t in pr.icmps)
                plain.append(Tri.YES if echo else Tri.NO)
                parts.append(f"icmps (ping) {_WORD[plain[-1]]}")
            for rule in pr.to_ports:
                t = tri_any(self._port(s) for s in rule.ports)
                (l7 if rule.l7 else plain).append(t)
                text = ", ".join(str(s) for s in rule.ports) or "no ports"
                decides = ""
                if rule.l7 and t is not Tri.NO:
                    passing = "; ".join(rule.requests)
                    decides = (
                        f" ({rule.l7} decide each request; these pass: {passing})"
                        if passing
                        else f" ({rule.l7} decide each request)"
                    )
                parts.append(f"toPorts[{rule.index}] {text} {_WORD[t]}{decides}")
            hit = _Hit(tri_all([peers, tri_any(plain)]), tri_all([peers, tri_any(l7)]))
        if pr.opaque is not None and hit.any is not Tri.NO:
            parts.append(pr.opaque)
            hit = _Hit(l7=hit.any)
        if pr.requires:
            parts.append("has fromRequires/toRequires (not evaluated)")
        return hit, "; ".join(parts)

    def _port(self, s: PortSpec) -> Tri:
        proto, port = self.ctx.protocol, self.ctx.port
        if proto is Protocol.ICMP:  # CIL-50: ANY means TCP, UDP and SCTP only
            ok = s.protocol == ("ICMP" if self.family == 4 else "ICMPV6")
            return Tri.YES if ok and (s.port == 0 or str(s.port) in _ECHO[self.family]) else Tri.NO
        if s.protocol not in ("ANY", proto.value):
            return Tri.NO
        if isinstance(s.port, int):
            high = s.end_port if s.end_port is not None and s.end_port > s.port else s.port
            return Tri.YES if s.port == 0 or s.port <= port <= high else Tri.NO
        named = [cp for cp in self.dst_ports or () if cp.name == s.port]  # NP-64, NP-65
        return Tri.YES if any(cp.port == port and cp.protocol is proto for cp in named) else Tri.NO

    def _peer(self, peer: Peer) -> tuple[Tri, str]:
        kind, other = peer.kind, self.other
        if kind is PeerKind.ENDPOINTS and peer.selector is not None:
            t = self._selects(peer.selector, self.peer, peer.opaque)
            if peer.older_namespace and t is not Tri.NO and other.namespace != peer.older_namespace:
                return Tri.UNKNOWN, f"{peer.selector}: other namespaces depend on the version"
            return t, f"{peer.selector} {_WORD[t]}"
        if kind is PeerKind.ENTITY and peer.entity is not None:
            t, note = self._entity(peer.entity)
            return t, f"{peer.entity} {_WORD[t]}{note}"
        if kind is PeerKind.CIDR and peer.block is not None:
            if other.kind is EndpointKind.POD:  # CIL-30
                return Tri.NO, f"{peer.block}: CIDR rules never match a Cilium-managed pod"
            t = Tri.YES if match_ip_block(peer.block, other.ips).matched else Tri.NO
            if other.kind is EndpointKind.HOST and t is Tri.YES:  # CIL-31
                t = self.ctx.semantics.ipblock_matches_node_ips
                return t, f"{peer.block}: a node matches only in policy-cidr-match-mode=nodes"
            return t, f"{peer.block} {_WORD[t]}"
        if kind is PeerKind.LEARNT:  # CIL-43: outside addresses only, learnt at run time
            if other.kind is EndpointKind.EXTERNAL:
                return Tri.UNKNOWN, "addresses learnt at run time (DNS names, groups)"
            return Tri.NO, "selects outside addresses only"
        if kind is PeerKind.NODES and other.kind is not EndpointKind.HOST:
            return Tri.NO, "selects nodes only"
        return Tri.UNKNOWN, "not evaluated (Service selection or node labels)"

    def _entity(self, e: str) -> tuple[Tri, str]:
        """[CIL-L3] entities, [CIL-ENTITY] mapping (CIL-20..26)."""
        kind, ips = self.other.kind, self.other.ips
        if e in ("all", "cluster"):
            return Tri.NO if e == "cluster" and kind is EndpointKind.EXTERNAL else Tri.YES, ""
        if e.startswith("world"):
            family = {"world-ipv4": 4, "world-ipv6": 6}.get(e)
            ok = family is None or any(ip.version == family for ip in ips)
            return Tri.YES if ok and kind is EndpointKind.EXTERNAL else Tri.NO, ""
        if e in ("host", "remote-node"):
            same = self.same_node if e == "host" else _not(self.same_node)
            if kind is not EndpointKind.HOST:
                return Tri.NO, ""
            return same, " (which node, is unknown)" if same is Tri.UNKNOWN else ""
        if e == "kube-apiserver":
            if kind is EndpointKind.POD:
                return Tri.NO, ""
            if self.apiserver is None:
                return Tri.UNKNOWN, " (no default/kubernetes Endpoints in the input)"
            return Tri.YES if set(ips) & self.apiserver else Tri.NO, ""
        return Tri.NO, " (never a pod, node or outside address here)"

    def _identity(self, ep: Endpoint) -> _Identity:
        """A pod's labels; for a node or an address, the reserved labels of its entities."""
        if ep.kind is EndpointKind.POD and ep.pod is not None:
            return _pod_identity(self.ctx.snapshot, ep.pod)
        found = {name: self._entity(name)[0] for name in _RESERVED}
        labels = {
            k: "" for name, t in found.items() if t is Tri.YES for k in (name, f"reserved:{name}")
        }
        unknown = frozenset(name for name, t in found.items() if t is Tri.UNKNOWN)
        return _Identity(labels, False, unknown)

    def _selects(self, sel: LabelSelector, ident: _Identity, opaque: str | None) -> Tri:
        results = [_requirement(r, ident) for r in sel.requirements]
        return tri_all([*results, Tri.UNKNOWN] if opaque else results)


def _requirement(req: Requirement, ident: _Identity) -> Tri:
    bare = _bare(req.key)
    unknown = bare in ident.unknown or (
        ident.pod
        and (
            bare == CLUSTER_KEY
            or (
                not bare.startswith(_KEPT)
                and _FILTERED.search(bare) is not None
                and bare in ident.labels
            )
            or (ident.ns_synthesized and bare.startswith(NS_LABELS) and bare != _NS_NAME)
        )
    )
    if unknown:
        return Tri.UNKNOWN
    return Tri.YES if match_requirement(req, ident.labels) else Tri.NO


def _pod_identity(snap: Snapshot, pod: Pod) -> _Identity:
    ns = snap.namespace(pod.namespace)
    plain = {**dict(pod.labels), NS_KEY: pod.namespace, SA_KEY: pod.service_account or "default"}
    plain.update((NS_LABELS + k, v) for k, v in ns.labels)
    labels = {**plain, **{f"k8s:{k}": v for k, v in plain.items()}}
    return _Identity(labels, True, ns_synthesized=ns.synthesized)


def _apiserver_ips(snap: Snapshot) -> frozenset[IPAddress] | None:
    """CIL-22: the kube-apiserver identity covers the `kubernetes` Service's endpoints."""
    eps = [e for e in snap.endpoints if e.namespace == "default" and e.service == "kubernetes"]
    return frozenset(ip for e in eps for ip in e.addresses) or None
