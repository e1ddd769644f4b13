"""Calico `projectcalico.org/v3` NetworkPolicy and GlobalNetworkPolicy (and their
`crd.projectcalico.org/v1` storage form), compiled once; one side of a flow answered in
Calico's order (SEMANTICS.md §5): tiers by order (CAL-1); in a tier, the policies that apply
(CAL-2) by (order, name) (CAL-3), the endpoint's Kubernetes NetworkPolicies among them at
order 1000 in tier `default` (CAL-40, from the engine's DirectionResult); first matching rule
acts (CAL-4); a tier that applies but does not act ends with its defaultAction (CAL-5); no
tier decides: Action.NONE (profiles, CAL-6). What cannot be decided yields several possible
actions: certainty UNKNOWN, `action` = the outcome under documented defaults with undecidable
matches taken as not matching, `unknown_reason` = what is missing.

Assumptions: built-in tier orders are Calico's fixed ones (`kube-admin`/`adminnetworkpolicy`
1,000 Pass, `default` 1,000,000 Deny, `kube-baseline`/`baselineadminnetworkpolicy`
10,000,000 Pass: calico `api/pkg/apis/projectcalico/v3/tier.go`, docs
`policy-tiers/tiered-policy.mdx`); another tier without a Tier object in the input gets the
documented defaults (order unset = last, defaultAction Deny: docs `resources/tier.mdx`) and
the answer is UNKNOWN where its place or default action matters. No HostEndpoints or network
sets exist: selectors match pods only; nodes and outside addresses match `nets` only.
Imports `model`, `selectors`, `findings`, `parse`, `snapshot`, `engine`, `extended`,
`calico_selector`, `validation`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from ipaddress import ip_network
from typing import Any, Final

from . import calico_selector as cs
from .calico_selector import Selector
from .engine import Endpoint, EndpointKind, Exemption, RuleOutcome
from .extended import Action, FamilyVerdict, FlowSide, Step
from .findings import Finding, Severity
from .model import NAMESPACE_NAME_LABEL, Direction, IPNetwork, ObjectRef, Pod, Protocol
from .parse import ExtendedObject
from .selectors import Tri, tri_all, tri_any
from .snapshot import Snapshot
from .validation import show_value

__all__ = ["CalicoPolicy", "CalicoRule", "EntityRule", "PortRange", "RuleAction", "TierInfo"]
__all__ += ["compile", "direction"]

_GROUPS: Final = frozenset({"projectcalico.org", "crd.projectcalico.org"})
#: Views of other objects: Kubernetes NPs (the engine evaluates them, CAL-7), admin-tier
#: policies (their own family, CAL-43), OpenStack security groups.
_VIEW_PREFIXES: Final = ("knp.default.", "kanp.", "kbanp.", "kcnp.", "ossg.")
_K8S_ORDER: Final = 1000.0  # CAL-40: conversion.go K8sNetworkPolicyToCalico
_DEFAULT: Final = "default"


class RuleAction(Enum):
    ALLOW = "Allow"
    DENY = "Deny"
    PASS = "Pass"
    LOG = "Log"


_ACTION: Final = {a: Action.__members__.get(a.name, Action.NONE) for a in RuleAction}  # Log: NONE
#: [CAL-RULE] protocol names; ports need TCP, UDP, SCTP or UDPLite ([CAL-VALIDATOR]).
_PROTOCOLS: Final = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPV6": 58, "SCTP": 132, "UDPLITE": 136}
_PROTOCOL_NAMES: Final = {v: k for k, v in _PROTOCOLS.items()}
_PORT_PROTOCOLS: Final = frozenset({6, 17, 132, 136})
_BUILTIN_TIERS: Final = {  # CAL-1
    **dict.fromkeys(("kube-admin", "adminnetworkpolicy"), (1_000.0, RuleAction.PASS)),
    _DEFAULT: (1_000_000.0, RuleAction.DENY),
    **dict.fromkeys(("kube-baseline", "baselineadminnetworkpolicy"), (1e7, RuleAction.PASS)),
}


def _keys(names: str) -> frozenset[str]:
    return frozenset(names.split())


_NP_KEYS: Final = _keys("order tier selector types ingress egress serviceAccountSelector")
_SPEC_KEYS: Final = {  # fields of each kind; others are unknown to this tool
    "NetworkPolicy": _NP_KEYS | {"performanceHints"},
    "GlobalNetworkPolicy": _NP_KEYS
    | _keys("performanceHints namespaceSelector doNotTrack preDNAT applyOnForward"),
}
_RULE_KEYS: Final = _keys("action protocol notProtocol icmp notICMP ipVersion source destination")
_RULE_KEYS_ALL: Final = _RULE_KEYS | {"http", "metadata"}
_ENTITY_KEYS: Final = _keys("nets notNets selector notSelector namespaceSelector services ports")
_ENTITY_KEYS_ALL: Final = _ENTITY_KEYS | {"serviceAccounts", "notPorts"}


# --- the compiled form ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortRange:
    """One `ports`/`notPorts` item [CAL-PORTS]: `first:last` inclusive, or a named port."""

    text: str
    first: int = 0
    last: int = 0
    name: str | None = None


@dataclass(frozen=True, slots=True)
class EntityRule:
    """`source`/`destination` [CAL-ENTITY]: every criterion present must match (CAL-31).
    A selector of None is not set: it matches every packet, unlike `all()` (CAL-20)."""

    nets: tuple[IPNetwork, ...] | None = None
    not_nets: tuple[IPNetwork, ...] = ()
    selector: Selector | None = None
    not_selector: Selector | None = None
    namespace_selector: Selector | None = None
    sa_names: tuple[str, ...] = ()
    sa_selector: Selector | None = None
    services: bool = False
    ports: tuple[PortRange, ...] = ()
    not_ports: tuple[PortRange, ...] = ()


@dataclass(frozen=True, slots=True)
class CalicoRule:
    path: str  # "spec.ingress[2]"
    action: RuleAction
    protocol: int | None = None
    not_protocol: int | None = None
    icmp: bool = False  # icmp/notICMP type or code criteria
    ip_version: int | None = None
    source: EntityRule = field(default_factory=EntityRule)
    destination: EntityRule = field(default_factory=EntityRule)
    http: bool = False  # an L7 match (application layer policy)
    unknown: tuple[str, ...] = ()  # paths of fields this module does not know


@dataclass(frozen=True, slots=True)
class TierInfo:
    name: str
    order: float | None
    default_action: RuleAction
    known: bool  # False: not built in and no Tier object in the input (documented defaults)
    ref: ObjectRef


@dataclass(frozen=True, slots=True)
class CalicoPolicy:
    ref: ObjectRef
    tier: TierInfo
    order: float | None  # None: unset, after every ordered policy (CAL-3)
    sort_name: str  # Felix's name: "<ns>/<tier>.<name>" or "<tier>.<name>"
    namespace: str | None  # None: GlobalNetworkPolicy
    selector: Selector
    namespace_selector: Selector | None
    sa_selector: Selector
    types: frozenset[Direction]
    ingress: tuple[CalicoRule, ...]
    egress: tuple[CalicoRule, ...]
    host_only: bool = False  # doNotTrack/preDNAT: host endpoints only (CAL-13)
    unknown: tuple[str, ...] = ()

    def rules(self, direction: Direction) -> tuple[CalicoRule, ...]:
        return self.ingress if direction is Direction.INGRESS else self.egress


# --- compile -------------------------------------------------------------------------


class _Invalid(ValueError):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(problem)
        self.path, self.problem = path, problem


def compile(objects: list[ExtendedObject]) -> tuple[list[CalicoPolicy], list[Finding]]:
    """(Global)NetworkPolicy objects -> CalicoPolicy, with order and defaultAction from Tier
    objects when given. Staged kinds never enforce (CAL-8); other families are ignored."""
    findings: list[Finding] = []
    tiers: dict[str, TierInfo] = {}
    for obj in objects:
        if obj.api_group in _GROUPS and obj.ref.kind == "Tier":
            try:
                tiers[obj.ref.name] = _tier(obj)
            except _Invalid as e:
                msg = f"{e.problem}; the tier's documented defaults are assumed"
                findings.append(Finding("input-invalid", Severity.ERROR, msg, (obj.ref,), e.path))
    policies: list[CalicoPolicy] = []
    for obj in objects:
        if obj.api_group not in _GROUPS or obj.ref.kind not in _SPEC_KEYS:
            continue
        if obj.ref.name.startswith(_VIEW_PREFIXES):
            continue
        try:
            policies.append(_policy(obj, tiers))
        except _Invalid as e:
            msg = f"{e.problem} (Calico rejects this policy: it does nothing)"
            findings.append(Finding("policy-invalid", Severity.ERROR, msg, (obj.ref,), e.path))
    return policies, findings


def _tier(obj: ExtendedObject) -> TierInfo:
    spec = _mapping(obj.raw.get("spec") or {}, "spec")
    action = spec.get("defaultAction") or "Deny"
    if action not in ("Deny", "Pass"):
        problem = f"defaultAction {show_value(action)}: expected Deny or Pass"
        raise _Invalid("spec.defaultAction", problem)
    order = _order(spec.get("order"), "spec.order")
    return TierInfo(obj.ref.name, order, RuleAction(action), True, obj.ref)


def _tier_info(name: str, tiers: Mapping[str, TierInfo]) -> TierInfo:
    if name in tiers:
        return tiers[name]
    order, action = _BUILTIN_TIERS.get(name, (None, RuleAction.DENY))  # docs tier.mdx defaults
    return TierInfo(name, order, action, name in _BUILTIN_TIERS, ObjectRef("Tier", None, name))


def _mapping(raw: object, path: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise _Invalid(path, f"expected a mapping, got {show_value(raw)}")
    return raw


def _order(raw: object, path: str) -> float | None:
    if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int | float)):
        raise _Invalid(path, f"order must be a number, got {show_value(raw)}")
    if isinstance(raw, int) and abs(raw) > 2**1023:  # float() would overflow
        raise _Invalid(path, "order is too large for a float64")
    return None if raw is None else float(raw)


def _policy(obj: ExtendedObject, tiers: Mapping[str, TierInfo]) -> CalicoPolicy:
    kind, name = obj.ref.kind, obj.ref.name
    spec = _mapping(obj.raw.get("spec") or {}, "spec")
    tier = spec.get("tier") or ""
    if not isinstance(tier, str):
        raise _Invalid("spec.tier", f"tier must be a string, got {show_value(tier)}")
    if not tier:  # stored names carry "<tier>." (CAL-7, names.TierFromPolicyName)
        stored = obj.api_group == "crd.projectcalico.org" and "." in name
        tier = name.split(".", 1)[0] if stored else _DEFAULT
    namespace = (obj.ref.namespace or "default") if kind == "NetworkPolicy" else None
    rules: dict[Direction, tuple[CalicoRule, ...]] = {}
    for d in Direction:
        raw_rules = spec.get(d.rules_field) or []
        if not isinstance(raw_rules, list):
            raise _Invalid(f"spec.{d.rules_field}", "expected a list of rules")
        rules[d] = tuple(_rule(d, i, r) for i, r in enumerate(raw_rules))
    untracked = bool(spec.get("doNotTrack") or spec.get("preDNAT"))
    if spec.get("doNotTrack") and spec.get("preDNAT"):
        raise _Invalid("spec.preDNAT", "doNotTrack and preDNAT cannot both be true")
    if untracked and not spec.get("applyOnForward"):
        raise _Invalid("spec.applyOnForward", "must be true with doNotTrack or preDNAT")
    ns_sel = spec.get("namespaceSelector") if kind == "GlobalNetworkPolicy" else None
    tiered = name if name.startswith(f"{tier}.") else f"{tier}.{name}"
    return CalicoPolicy(
        ref=obj.ref,
        tier=_tier_info(tier, tiers),
        order=_order(spec.get("order"), "spec.order"),
        sort_name=f"{namespace}/{tiered}" if namespace else tiered,  # PolicyNameLessThan
        namespace=namespace,
        selector=_selector(spec.get("selector"), "spec.selector"),
        namespace_selector=_selector(ns_sel, "spec.namespaceSelector") if ns_sel else None,
        sa_selector=_selector(spec.get("serviceAccountSelector"), "spec.serviceAccountSelector"),
        types=_types(spec.get("types"), rules),
        ingress=rules[Direction.INGRESS],
        egress=rules[Direction.EGRESS],
        host_only=untracked,
        unknown=tuple(f"spec.{k}" for k in sorted(set(spec) - _SPEC_KEYS[kind])),
    )


def _types(raw: object, rules: Mapping[Direction, tuple[CalicoRule, ...]]) -> frozenset[Direction]:
    if raw:
        if not isinstance(raw, list) or any(t not in ("Ingress", "Egress") for t in raw):
            raise _Invalid(
                "spec.types", f"types {show_value(raw)}: expected a list of Ingress, Egress"
            )
        return frozenset(Direction(t) for t in raw)
    # CAL-12 (defaultPolicyTypesField): no egress rules -> Ingress (also with no rules at all);
    # egress rules only -> Egress alone (Kubernetes would add Ingress, NP-22); both -> both.
    if not rules[Direction.EGRESS]:
        return frozenset({Direction.INGRESS})
    return frozenset(Direction) if rules[Direction.INGRESS] else frozenset({Direction.EGRESS})


def _selector(raw: object, path: str, *, allow_global: bool = False) -> Selector:
    if not isinstance(raw, str | None):
        raise _Invalid(path, f"a selector must be a string, got {show_value(raw)}")
    try:
        return cs.parse(raw or "", allow_global=allow_global)
    except cs.CalicoSelectorError as e:
        raise _Invalid(path, f"{e.problem} in selector {show_value(raw)}") from None


def _protocol(raw: object, path: str) -> int | None:
    text = str(raw).upper() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if raw is None or text in _PROTOCOLS or (_number(text, 3) and 1 <= int(text) <= 255):
        return None if raw is None else _PROTOCOLS.get(text) or int(text)
    message = "expected TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite, 1-255"
    raise _Invalid(path, f"protocol {show_value(raw)}: {message}")


def _number(text: str, digits: int) -> bool:
    """ASCII digits only (str.isdigit accepts "²", which int() refuses), short enough."""
    return text.isascii() and text.isdigit() and len(text) <= digits


def _ports(raw: object, path: str) -> tuple[PortRange, ...]:
    if not isinstance(raw, list | None):
        raise _Invalid(path, "expected a list of ports")
    out: list[PortRange] = []
    for i, item in enumerate(raw or []):
        text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        first, sep, last = text.partition(":") if isinstance(text, str) else ("", "", "")
        if _number(first, 9) and (not sep or _number(last, 9)):
            if not int(first) <= int(last or first) <= 65535:
                problem = f"port {show_value(item)}: out of 0-65535 or reversed"
                raise _Invalid(f"{path}[{i}]", problem)
            out.append(PortRange(text, int(first), int(last or first)))
        elif isinstance(text, str) and text and not sep:
            out.append(PortRange(text, name=text))
        else:
            problem = f"port {show_value(item)}: expected a number, 'a:b' or a name"
            raise _Invalid(f"{path}[{i}]", problem)
    return tuple(out)


def _nets(raw: object, path: str) -> tuple[IPNetwork, ...]:
    try:
        if not isinstance(raw, list):
            raise ValueError("expected a list of CIDRs")
        return tuple(ip_network(n if isinstance(n, str) else "?", strict=False) for n in raw)
    except ValueError as e:
        raise _Invalid(path, f"invalid CIDR: {e}") from None


def _entity(raw: object, path: str, unknown: list[str]) -> EntityRule:
    e = _mapping(raw or {}, path)
    unknown.extend(f"{path}.{k}" for k in sorted(set(e) - _ENTITY_KEYS_ALL))
    sa = _mapping(e.get("serviceAccounts") or {}, f"{path}.serviceAccounts")
    if not isinstance(sa.get("names") or [], list):
        raise _Invalid(f"{path}.serviceAccounts.names", "expected a list of names")

    def sel(
        m: Mapping[str, Any], key: str, where: str, allow_global: bool = False
    ) -> Selector | None:
        return (
            _selector(m[key], f"{where}.{key}", allow_global=allow_global) if m.get(key) else None
        )

    out = EntityRule(
        nets=None if e.get("nets") is None else _nets(e["nets"], f"{path}.nets"),
        not_nets=_nets(e.get("notNets") or [], f"{path}.notNets"),
        selector=sel(e, "selector", path),
        not_selector=sel(e, "notSelector", path),
        namespace_selector=sel(e, "namespaceSelector", path, allow_global=True),
        sa_names=tuple(n for n in sa.get("names") or [] if isinstance(n, str)),
        sa_selector=sel(sa, "selector", f"{path}.serviceAccounts"),
        services=e.get("services") is not None,
        ports=_ports(e.get("ports"), f"{path}.ports"),
        not_ports=_ports(e.get("notPorts"), f"{path}.notPorts"),
    )
    if out.services and (out.selector or out.not_selector or out.nets or out.not_nets):
        raise _Invalid(f"{path}.services", "cannot be combined with selectors or nets (CAL-36)")
    if any(n.prefixlen == 0 for n in out.not_nets):
        raise _Invalid(f"{path}.notNets", "a catch-all CIDR in notNets matches no traffic")
    return out


def _rule(direction: Direction, index: int, raw: object) -> CalicoRule:
    path = f"spec.{direction.rules_field}[{index}]"
    r = _mapping(raw, path)
    action = r.get("action")
    if not isinstance(action, str) or action not in {a.value for a in RuleAction}:
        raise _Invalid(f"{path}.action", f"action {show_value(action)}: not Allow/Deny/Log/Pass")
    unknown = [f"{path}.{k}" for k in sorted(set(r) - _RULE_KEYS_ALL)]
    protocol = _protocol(r.get("protocol"), f"{path}.protocol")
    src = _entity(r.get("source"), f"{path}.source", unknown)
    dst = _entity(r.get("destination"), f"{path}.destination", unknown)
    for side, e in (("source", src), ("destination", dst)):
        items = e.ports + e.not_ports  # with no protocol, only named ports ([CAL-VALIDATOR])
        numbered = any(p.name is None for p in items)
        if numbered if protocol is None else bool(items) and protocol not in _PORT_PROTOCOLS:
            raise _Invalid(f"{path}.{side}.ports", "protocol does not support ports (CAL-34)")
    version = r.get("ipVersion")
    if version not in (None, 4, 6):
        raise _Invalid(f"{path}.ipVersion", f"ipVersion {show_value(version)}: expected 4 or 6")
    families = {n.version for e in (src, dst) for n in (e.nets or ()) + e.not_nets}
    if len(families | ({version} if version else set())) > 1:
        raise _Invalid(path, "the rule mixes IPv4 and IPv6 (nets, notNets, ipVersion)")
    if r.get("http") is not None and (direction is Direction.EGRESS or r["action"] != "Allow"):
        raise _Invalid(f"{path}.http", "an HTTP match needs an ingress Allow rule")
    if (dst if direction is Direction.INGRESS else src).services:
        raise _Invalid(path, "services: only in an egress destination or ingress source (CAL-36)")
    return CalicoRule(
        path=path,
        action=RuleAction(r["action"]),
        protocol=protocol,
        not_protocol=_protocol(r.get("notProtocol"), f"{path}.notProtocol"),
        icmp=r.get("icmp") is not None or r.get("notICMP") is not None,
        ip_version=version,
        source=src,
        destination=dst,
        http=r.get("http") is not None,
        unknown=tuple(unknown),
    )


# --- matching ------------------------------------------------------------------------

Check = tuple[Tri, str]
_WORDS: Final = {Tri.YES: "matches", Tri.NO: "does not match", Tri.UNKNOWN: "undecidable"}
_NOT: Final = {Tri.YES: Tri.NO, Tri.NO: Tri.YES, Tri.UNKNOWN: Tri.UNKNOWN}
_NS_CERTAIN: Final = frozenset({cs.NAME_LABEL, NAMESPACE_NAME_LABEL})  # NP-81


def _num(x: float | None) -> str:
    return "unset" if x is None else (str(int(x)) if x == int(x) else str(x))


def _say(what: str, t: Tri, why_unknown: str = "") -> Check:
    suffix = f" ({why_unknown})" if t is Tri.UNKNOWN and why_unknown else ""
    return t, f"{what}: {_WORDS[t]}{suffix}"


def _combine(checks: list[Check], empty: str = "") -> Check:
    """AND of the criteria (CAL-30, CAL-31), worded by those that decide it."""
    result = tri_all(t for t, _ in checks)
    words = [w for t, w in checks if w and (result is Tri.YES or t is result)]
    return result, "; ".join(words) or empty


def _one_of(value: int, possible: frozenset[int]) -> Tri:
    if value not in possible:
        return Tri.NO
    return Tri.YES if len(possible) == 1 else Tri.UNKNOWN


def _sa(pod: Pod) -> str:
    return pod.service_account or "default"  # the API server's default


@dataclass(frozen=True, slots=True)
class _Labels:
    """Labels Calico selects on, and which of their keys the input really shows."""

    values: Mapping[str, str]
    known: Callable[[str], bool]
    why_unknown: str

    def check(self, what: str, sel: Selector) -> Check:
        if not all(self.known(k) for k in sel.keys()):  # noqa: SIM118 (Selector.keys())
            return _say(what, Tri.UNKNOWN, self.why_unknown)
        return _say(what, Tri.YES if sel.matches(self.values) else Tri.NO)


def _namespace_labels(snapshot: Snapshot, name: str) -> _Labels:
    """Namespace labels plus `projectcalico.org/name` (CAL-10, CAL-32)."""
    ns = snapshot.namespace(name)
    why = f"namespace {name} is not in the input: its labels are unknown (NP-81)"
    known = (lambda k: k in _NS_CERTAIN) if ns.synthesized else (lambda k: True)
    return _Labels({**ns.label_map, cs.NAME_LABEL: name}, known, why)


def _sa_labels(pod: Pod) -> _Labels:
    why = f"ServiceAccount {pod.namespace}/{_sa(pod)} is not in the input: labels unknown"
    return _Labels({cs.NAME_LABEL: _sa(pod)}, lambda k: k == cs.NAME_LABEL, why)


def _workload_labels(snapshot: Snapshot, pod: Pod) -> _Labels:
    """A pod's WorkloadEndpoint labels: its own, Calico's `projectcalico.org/*`, and those its
    namespace (`pcns.`) and service account (`pcsa.`) profiles give it."""
    ns = _namespace_labels(snapshot, pod.namespace)
    values = {f"pcns.{k}": v for k, v in ns.values.items()}
    values.update(
        {f"pcsa.{cs.NAME_LABEL}": _sa(pod), **pod.label_map, cs.NAMESPACE_LABEL: pod.namespace}
    )
    values.update({cs.ORCHESTRATOR_LABEL: cs.ORCHESTRATOR_K8S, cs.SERVICEACCOUNT_LABEL: _sa(pod)})

    def known(key: str) -> bool:
        if key.startswith("pcns."):
            return ns.known(key[5:])
        return not key.startswith("pcsa.") or key == f"pcsa.{cs.NAME_LABEL}"

    return _Labels(values, known, f"{ns.why_unknown}, or a ServiceAccount's labels")


def _in_nets(nets: tuple[IPNetwork, ...], ep: Endpoint) -> Tri:
    """CAL-35: nets match pod IPs too. A template pod has no IP yet."""
    if not ep.ips:
        return Tri.UNKNOWN
    hit = any(ip in n for ip in ep.ips for n in nets if ip.version == n.version)
    return Tri.YES if hit else Tri.NO


class _Eval:
    """One side of one flow, with label maps kept per pod."""

    def __init__(self, ctx: FlowSide) -> None:
        self.ctx = ctx
        self._workloads: dict[str, _Labels] = {}
        fams = [{ip.version for ip in ep.ips} for ep in (ctx.subject, ctx.other)]
        self.families = frozenset((fams[0] & fams[1] if all(fams) else fams[0] | fams[1]) or {4, 6})
        icmp = ctx.protocol is Protocol.ICMP  # ICMP for IPv4, ICMPv6 for IPv6
        names = (
            [{4: "ICMP", 6: "ICMPV6"}[f] for f in self.families] if icmp else [ctx.protocol.value]
        )
        self.protocols = frozenset(_PROTOCOLS[n] for n in names)

    def workload(self, pod: Pod) -> _Labels:
        if pod.key not in self._workloads:
            self._workloads[pod.key] = _workload_labels(self.ctx.snapshot, pod)
        return self._workloads[pod.key]

    def applies(self, p: CalicoPolicy, pod: Pod) -> Check:
        """CAL-2, CAL-10, CAL-11: does the policy select the subject for this direction?"""
        if self.ctx.direction not in p.types or p.host_only:
            return Tri.NO, ""
        if p.namespace is not None and p.namespace != pod.namespace:
            return Tri.NO, ""
        checks = [self.workload(pod).check(f"selector {p.selector}", p.selector)]
        if p.namespace_selector is not None:
            what = f"namespaceSelector {p.namespace_selector} ({pod.namespace})"
            ns = _namespace_labels(self.ctx.snapshot, pod.namespace)
            checks.append(ns.check(what, p.namespace_selector))
        what = f"serviceAccountSelector {p.sa_selector} ({_sa(pod)})"
        checks.append(_sa_labels(pod).check(what, p.sa_selector))
        checks += [(Tri.UNKNOWN, f"{f}: a field this tool does not know") for f in p.unknown]
        return _combine(checks)

    def rule(self, r: CalicoRule, p: CalicoPolicy) -> Check:
        ctx = self.ctx
        ingress = ctx.direction is Direction.INGRESS
        src, dst = (ctx.other, ctx.subject) if ingress else (ctx.subject, ctx.other)
        checks: list[Check] = []
        for value, negate in ((r.protocol, False), (r.not_protocol, True)):
            if value is not None:
                name = _PROTOCOL_NAMES.get(value, value)
                what = f"{'notProtocol' if negate else 'protocol'} {name}"
                t = _one_of(value, self.protocols)
                checks.append(_say(f"{what} (flow {ctx.protocol.value})", _NOT[t] if negate else t))
        if r.ip_version is not None:
            checks.append(_say(f"ipVersion {r.ip_version}", _one_of(r.ip_version, self.families)))
        if r.icmp and ctx.protocol is Protocol.ICMP:
            checks.append((Tri.UNKNOWN, "icmp type/code: the question names no ICMP type"))
        checks.append(self.entity(r.source, src, p, "source"))
        checks.append(self.entity(r.destination, dst, p, "destination"))
        if r.http:
            checks.append((Tri.UNKNOWN, "http: L7 (application layer policy) is not evaluated"))
        checks += [(Tri.UNKNOWN, f"{f}: a field this tool does not know") for f in r.unknown]
        return _combine(checks, "no match criteria: every packet")

    def entity(self, e: EntityRule, ep: Endpoint, p: CalicoPolicy, side: str) -> Check:
        checks: list[Check] = []
        for nets, negate in ((e.nets, False), (e.not_nets, True)):
            if nets is not None and (nets or not negate):
                what = f"{side} {'notNets' if negate else 'nets'} {', '.join(map(str, nets))}"
                t = _in_nets(nets, ep)
                checks.append(_say(f"{what} ({ep.label})", _NOT[t] if negate else t, "no IP yet"))
        scope = self.scope(e, ep, p, side)
        if scope is not None:
            checks.append(scope)
        if e.not_selector is not None:  # CAL-33: negates the packet match, over all endpoints
            pod = ep.pod if ep.kind is EndpointKind.POD else None
            t = self.workload(pod).check("", e.not_selector)[0] if pod else Tri.NO
            checks.append(_say(f"{side} notSelector {e.not_selector} ({ep.label})", _NOT[t]))
        if e.services:
            checks.append((Tri.UNKNOWN, f"{side} services: Service matching is not evaluated"))
        if side == "source" and (e.ports or e.not_ports):
            checks.append((Tri.UNKNOWN, "source ports: the client's port is not known"))
        for items, negate in ((e.ports, False), (e.not_ports, True)):
            if items and side == "destination":
                listed = ", ".join(x.text for x in items)
                what = f"destination {'notPorts' if negate else 'ports'} {listed}"
                t = tri_any(self.port(x, ep) for x in items)
                checks.append(_say(f"{what} (port {self.ctx.port})", _NOT[t] if negate else t))
        return _combine(checks)

    def scope(self, e: EntityRule, ep: Endpoint, p: CalicoPolicy, side: str) -> Check | None:
        """The positive endpoint match of an entity rule as libcalico-go's updateprocessors
        build it (rules.go): namespace scope AND service accounts AND selector (CAL-32)."""
        sa = bool(e.sa_names) or e.sa_selector is not None
        scoped = p.namespace is not None and e.not_selector is not None
        if not (e.selector or sa or e.namespace_selector or scoped):
            return None
        if ep.kind is not EndpointKind.POD or ep.pod is None:
            return Tri.NO, f"{side} selects endpoints: {ep.label} is none (CAL-13, CAL-20)"
        pod, checks = ep.pod, list[Check]()
        if e.namespace_selector is not None and e.namespace_selector.is_global:
            checks.append((Tri.NO, f"{side} namespaceSelector global(): never a pod"))
        elif e.namespace_selector is not None:
            what = f"{side} namespaceSelector {e.namespace_selector} ({pod.namespace})"
            ns = _namespace_labels(self.ctx.snapshot, pod.namespace)
            checks.append(ns.check(what, e.namespace_selector))
        elif p.namespace is not None:
            what = f"{side} in the policy's namespace {p.namespace} (CAL-32; {pod.display})"
            checks.append(_say(what, Tri.YES if pod.namespace == p.namespace else Tri.NO))
        if e.sa_names:
            what = f"{side} serviceAccounts {', '.join(e.sa_names)} ({_sa(pod)})"
            checks.append(_say(what, Tri.YES if _sa(pod) in e.sa_names else Tri.NO))
        if e.sa_selector is not None:
            what = f"{side} serviceAccounts selector {e.sa_selector}"
            checks.append(_sa_labels(pod).check(what, e.sa_selector))
        if e.selector is not None:
            what = f"{side} selector {e.selector} ({pod.display})"
            checks.append(self.workload(pod).check(what, e.selector))
        return _combine(checks)

    def port(self, x: PortRange, dst: Endpoint) -> Tri:
        """A numeric range, or a named port of the destination pod [CAL-PORTS]."""
        if x.name is None:
            return Tri.YES if x.first <= self.ctx.port <= x.last else Tri.NO
        ports = dst.pod.ports if dst.kind is EndpointKind.POD and dst.pod else ()
        want = (x.name, self.ctx.port, self.ctx.protocol)
        return Tri.YES if any((c.name, c.port, c.protocol) == want for c in ports) else Tri.NO


# --- order of evaluation -------------------------------------------------------------

_Hits = Iterator[tuple[RuleAction, Step]]


@dataclass(frozen=True, slots=True)
class _Entry:
    """A policy that applies (or may) to the subject, at its place in its tier."""

    key: tuple[bool, float, str]
    ref: ObjectRef
    applies: Check
    hits: _Hits  # a generator: rules are evaluated only until one acts


@dataclass(frozen=True, slots=True)
class _TierResult:
    tier: TierInfo
    possible: frozenset[Action]  # PASS: on to the next tier
    primary: Action
    steps: tuple[Step, ...]


def _where(tier: TierInfo) -> str:
    note = "" if tier.known else ", assumed: no Tier object in the input"
    return f"tier {tier.name} (order {_num(tier.order)}{note})"


def _calico_hits(ev: _Eval, p: CalicoPolicy) -> _Hits:
    label = f"{_where(p.tier)}, {p.ref} (order {_num(p.order)})"
    for r in p.rules(ev.ctx.direction):
        t, words = ev.rule(r, p)
        step = Step(p.ref, r.path, _ACTION[r.action], t, f"{label}: {words} -> {r.action.value}")
        yield r.action, step


def _k8s_hits(ctx: FlowSide, outcomes: list[RuleOutcome], where: str) -> _Hits:
    for o in outcomes:
        if o.rule is None:
            why = f"{where}: no {ctx.direction.rules_field} rules, admits nothing"
            yield RuleAction.LOG, Step(o.policy.ref, None, Action.NONE, Tri.NO, why)
            continue
        words = {Tri.YES: "admits", Tri.NO: "does not admit", Tri.UNKNOWN: "may admit"}[o.result]
        why = f"{where}: {words} {ctx.other.label} -> Allow"
        yield RuleAction.ALLOW, Step(o.policy.ref, o.rule.path, Action.ALLOW, o.result, why)


def _k8s_entries(ctx: FlowSide, tier: TierInfo) -> list[_Entry]:
    """CAL-40: the subject's Kubernetes NetworkPolicies for this direction, as Allow-only
    Calico policies `knp.default.<name>` at order 1000 in the default tier."""
    np, ns = ctx.network_policy, ctx.subject.namespace or "default"
    entries = []
    for policy in np.isolated_by:
        name = f"knp.default.{policy.ref.name}"
        where = f"{_where(tier)}, {policy.ref} as {name} (order 1000, CAL-40)"
        hits = _k8s_hits(ctx, [o for o in np.outcomes if o.policy == policy], where)
        entries.append(_Entry((False, _K8S_ORDER, f"{ns}/{name}"), policy.ref, (Tri.YES, ""), hits))
    if np.unreadable:  # a live read was refused: any of them might allow
        ref, why = ObjectRef("NetworkPolicy", ns, "*"), f"NetworkPolicies of {ns} unreadable"
        hit = Step(ref, None, Action.ALLOW, Tri.UNKNOWN, f"{_where(tier)}: {why}")
        key = (False, _K8S_ORDER, f"{ns}/knp.")
        entries.append(_Entry(key, ref, (Tri.UNKNOWN, why), iter([(RuleAction.ALLOW, hit)])))
    return entries


def _run_tier(tier: TierInfo, entries: list[_Entry]) -> _TierResult:
    """One tier: the first rule that acts, Log goes on (CAL-4); else defaultAction (CAL-5)."""
    possible: set[Action] = set()
    steps: list[Step] = []
    applies = Tri.NO
    for entry in sorted(entries, key=lambda e: e.key):
        sel, why = entry.applies
        applies = tri_any([applies, sel])
        if sel is Tri.UNKNOWN:
            steps.append(Step(entry.ref, None, Action.NONE, sel, f"{_where(tier)}: applies? {why}"))
        for action, step in entry.hits:
            steps.append(step)
            effect = tri_all([sel, step.matched])
            if effect is not Tri.NO and action is not RuleAction.LOG:
                possible.add(_ACTION[action])
                if effect is Tri.YES:
                    return _TierResult(tier, frozenset(possible), _ACTION[action], tuple(steps))
    end = {_ACTION[tier.default_action]} if tier.known else {Action.DENY, Action.PASS}
    if applies is Tri.UNKNOWN:
        end.add(Action.PASS)
    primary = _ACTION[tier.default_action] if applies is Tri.YES else Action.PASS
    why = f"{_where(tier)}: end of tier, no rule acted -> {tier.default_action.value} (CAL-5)"
    steps.append(Step(tier.ref, None, primary, applies, why))
    return _TierResult(tier, frozenset(possible | end), primary, tuple(steps))


def _chain(tiers: list[_TierResult]) -> tuple[frozenset[Action], Action]:
    """Across tiers: the first that Allows or Denies decides; all Pass: NONE (CAL-6)."""
    possible: set[Action] = set()
    primary: Action | None = None
    for t in tiers:
        possible |= t.possible - {Action.PASS}
        if primary is None and t.primary is not Action.PASS:
            primary = t.primary
        if Action.PASS not in t.possible:
            return frozenset(possible), primary or Action.NONE
    return frozenset(possible | {Action.NONE}), primary or Action.NONE


_EXEMPT: Final = {
    Exemption.SELF: "a pod's traffic to itself does not leave the pod (NP-93)",
    Exemption.OWN_NODE: "Calico allows all connections from a host to its local workloads (NP-90)",
}


def direction(ctx: FlowSide) -> FamilyVerdict:
    """One side of a flow on a Calico cluster: the subject's policies, in Calico's order."""
    pod, np = ctx.subject.pod, ctx.network_policy
    if pod is None:
        return FamilyVerdict(Action.NONE)
    if ctx.subject.kind is not EndpointKind.POD:
        why = "a hostNetwork pod is a host endpoint to Calico, never a workload (CAL-13)"
        return FamilyVerdict(Action.NONE, steps=(Step(pod.ref, None, Action.NONE, Tri.NO, why),))
    if np.exemption in _EXEMPT:
        step = Step(pod.ref, None, Action.ALLOW, Tri.YES, _EXEMPT[np.exemption])
        return FamilyVerdict(Action.ALLOW, steps=(step,))
    ev = _Eval(ctx)
    policies = [p for p in ctx.policies if isinstance(p, CalicoPolicy)]
    tiers = {p.tier.name: p.tier for p in policies}
    tiers.setdefault(_DEFAULT, _tier_info(_DEFAULT, {}))
    entries: dict[str, list[_Entry]] = {_DEFAULT: _k8s_entries(ctx, tiers[_DEFAULT])}
    for p in policies:
        applies = ev.applies(p, pod)
        if applies[0] is not Tri.NO:
            key = (p.order is None, p.order or 0.0, p.sort_name)
            entries.setdefault(p.tier.name, []).append(
                _Entry(key, p.ref, applies, _calico_hits(ev, p))
            )
    results = sorted(
        (_run_tier(tiers[name], found) for name, found in entries.items() if found),
        key=lambda r: (r.tier.order is None, r.tier.order or 0.0, r.tier.name),  # CAL-1
    )
    # A tier without its Tier object could sit anywhere. If it decides, its outcome is possible
    # (put it first); the others' is possible too (put it last): for one such tier, exactly so.
    unplaced = [[u] + [t for t in results if t is not u] for u in results if not u.tier.known]
    possible = frozenset().union(*(_chain(o)[0] for o in [results, *unplaced]))
    primary = _chain(results)[1]
    steps: list[Step] = []
    for t in results:  # the tiers that can be reached
        steps += t.steps
        if Action.PASS not in t.possible and not unplaced:
            break
    if len(possible) <= 1:
        return FamilyVerdict(primary, Tri.YES, tuple(steps))
    unknowns = [f"{s.ref} {s.rule or ''}: {s.reason}" for s in steps if s.matched is Tri.UNKNOWN]
    unknowns += [
        f"Tier {u[0].tier.name} is not in the input: order, defaultAction unknown" for u in unplaced
    ]
    outcomes = ", ".join(sorted(a.value for a in possible))
    reason = "; ".join(dict.fromkeys(unknowns)) + f" (possible outcomes: {outcomes})"
    return FamilyVerdict(primary, Tri.UNKNOWN, tuple(steps), reason)
