"""What the API server refuses in the policy kinds beyond NetworkPolicy, checked when the
manifest is read (so `check` reports it and no later stage sees a wrong type):
AdminNetworkPolicy, BaselineAdminNetworkPolicy and ClusterNetworkPolicy
(policy.networking.k8s.io, SEMANTICS.md §3), CiliumNetworkPolicy and
CiliumClusterwideNetworkPolicy (cilium.io/v2, §4), Calico NetworkPolicy,
GlobalNetworkPolicy and Tier (projectcalico.org/v3 and its crd.projectcalico.org/v1
storage form, §5).

Owns the schema level: field types, enums, integer ranges, required fields, one-of
groups, CIDR and selector syntax, at any depth. An object with any violation here never
exists in a cluster (the CRD's OpenAPI schema, its CEL rules or Calico's API server
refuse it), so the caller drops it. Checks that need the whole rule (Cilium's
Sanitize, Calico's cross-field validator) stay in the family modules' `compile`.
Unknown fields are not reported: a structural CRD schema prunes them, and the family
modules decide what an unevaluated field means for a verdict.

Sources: kubernetes-sigs/network-policy-api `apis/v1alpha1/*_types.go` (v0.1.7) and
`apis/v1alpha2/clusternetworkpolicy_types.go`; cilium `pkg/policy/api/*.go` kubebuilder
markers; calico `api/pkg/apis/projectcalico/v3/{policy_common,networkpolicy,tier}.go`.
Every function is total: any input yields violations, never an exception. Imports
`validation`, `calico_selector`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from ipaddress import ip_network
from typing import TypeGuard

from . import calico_selector as cs
from .validation import Level, Violation, show_value, type_error, validate_label_selector

__all__ = ["CILIUM_ENTITIES", "validate_extended"]

Check = Callable[[object, str], Iterator[Violation]]  # (value, path); value is never None


def _err(path: str, message: str) -> Violation:
    return Violation(path, message, "CRD", Level.ERROR)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- building blocks ----------------------------------------------------------------


def _mapping(
    fields: Mapping[str, Check],
    required: tuple[str, ...] = (),
    one_of: bool = False,
    unknown_alone: bool = False,
    whole: Callable[[Mapping[object, object], str], Iterator[Violation]] | None = None,
) -> Check:
    """A struct. A null field is absent (the API server prunes it). `one_of`: exactly one
    known field set (`unknown_alone`: or only fields of a newer API version, ADM-21)."""

    def check(v: object, path: str) -> Iterator[Violation]:
        if not isinstance(v, Mapping):
            yield type_error(path, "a mapping", v)
            return
        for key, value in v.items():
            if isinstance(key, str) and key in fields and value is not None:
                yield from fields[key](value, _join(path, key))
        for key in required:
            if v.get(key) is None:
                yield _err(_join(path, key), f"{key} is required")
        if one_of:
            present = [k for k in fields if v.get(k) is not None]
            if len(present) > 1:
                yield _err(path, f"set exactly one of {', '.join(fields)}, not {len(present)}")
            elif not present and not (unknown_alone and v):
                yield _err(path, f"set one of {', '.join(fields)}")
        if whole is not None:
            yield from whole(v, path)

    return check


def _seq(item: Check, least: int = 0, most: int | None = None) -> Check:
    def check(v: object, path: str) -> Iterator[Violation]:
        if not isinstance(v, list):
            yield type_error(path, "a list", v)
            return
        if len(v) < least:
            yield _err(path, f"needs at least {least} item{'s' * (least > 1)}")
        if most is not None and len(v) > most:
            yield _err(path, f"{len(v)} items given; at most {most}")
        for i, x in enumerate(v):
            yield from item(x, f"{path}[{i}]")

    return check


def _string(most: int | None = None) -> Check:
    def check(v: object, path: str) -> Iterator[Violation]:
        if not isinstance(v, str):
            yield type_error(path, "a string", v)
        elif most is not None and len(v) > most:
            yield _err(path, f"{len(v)} characters; at most {most}")

    return check


_STRING = _string()


def _enum(*values: str, fold: bool = False) -> Check:
    """One of `values`; `fold`: compared upper-cased, as the agent normalises it."""
    words = " ".join(values).upper().split() if fold else list(values)

    def check(v: object, path: str) -> Iterator[Violation]:
        if not isinstance(v, str):
            yield type_error(path, f"a string, one of {', '.join(values)}", v)
        elif (v.upper() if fold else v) not in words:
            yield _err(path, f"{show_value(v)} is not one of {', '.join(values)}")

    return check


def _is_int(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _integer(low: int, high: int) -> Check:
    def check(v: object, path: str) -> Iterator[Violation]:
        if not isinstance(v, int) or isinstance(v, bool):
            yield type_error(path, "an integer", v)
        elif not low <= v <= high:
            yield _err(path, f"{show_value(v)} is out of range {low}-{high}")

    return check


def _boolean(v: object, path: str) -> Iterator[Violation]:
    if not isinstance(v, bool):
        yield type_error(path, "true or false", v)


def _number(v: object, path: str) -> Iterator[Violation]:
    """A float64: finite, and an integer small enough to convert."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        yield type_error(path, "a number", v)
    elif isinstance(v, int) and abs(v) > 2**1023:
        yield _err(path, "a huge integer is not a float64 number")
    elif not math.isfinite(v):
        yield _err(path, f"{show_value(v)} is not a finite number")


def _any_mapping(v: object, path: str) -> Iterator[Violation]:
    if not isinstance(v, Mapping):
        yield type_error(path, "a mapping", v)


def _string_map(v: object, path: str) -> Iterator[Violation]:
    if not isinstance(v, Mapping):
        yield type_error(path, "a mapping of strings", v)
        return
    for key, value in v.items():
        if not isinstance(key, str) or not isinstance(value, str):
            yield _err(path, f"{show_value(key)}: expected a string key and a string value")


def _cidr(bare_ip: bool = True) -> Check:
    """An address block such as 10.0.0.0/8 (`bare_ip`: a single address is accepted too)."""

    def check(v: object, path: str) -> Iterator[Violation]:
        if not isinstance(v, str):
            yield type_error(path, "a CIDR string such as 10.0.0.0/8", v)
            return
        try:
            if "/" in v or bare_ip:
                ip_network(v, strict=False)
                return
        except ValueError:
            pass
        yield _err(path, f"{show_value(v)} is not a CIDR such as 10.0.0.0/8")

    return check


def _label_selector(source_prefixes: bool = False) -> Check:
    """A Kubernetes LabelSelector (VAL-40..45); Cilium keys may carry `k8s:` and the like,
    which the qualified-name rule (VAL-43) would refuse."""

    def check(v: object, path: str) -> Iterator[Violation]:
        for x in validate_label_selector(v, path):
            if x.level is Level.ERROR and not (source_prefixes and x.rule == "VAL-43"):
                yield x

    return check


def _calico_selector(allow_global: bool) -> Check:
    def check(v: object, path: str) -> Iterator[Violation]:
        if not isinstance(v, str):
            yield type_error(path, "a selector expression (a string)", v)
            return
        try:
            cs.parse(v, allow_global=allow_global)
        except cs.CalicoSelectorError as e:
            yield _err(path, f"{e.problem} in selector {show_value(v)}")

    return check


# --- admin tiers: policy.networking.k8s.io -----------------------------------------

_LS = _label_selector()
_PODS = _mapping(
    {"namespaceSelector": _LS, "podSelector": _LS}, required=("namespaceSelector", "podSelector")
)
_SUBJECT = _mapping({"namespaces": _LS, "pods": _PODS}, one_of=True)
_PORT = _integer(1, 65535)
_ADMIN_PROTOCOL = _enum("TCP", "UDP", "SCTP")


def _start_before_end(v: Mapping[object, object], path: str) -> Iterator[Violation]:
    start, end = v.get("start"), v.get("end")
    if _is_int(start) and _is_int(end) and start >= end:  # ADM-35, a CEL rule
        yield _err(_join(path, "end"), f"start {start} must be less than end {end}")


def _admin_peer(egress: bool) -> Check:
    fields: dict[str, Check] = {"namespaces": _LS, "pods": _PODS}
    if egress:
        fields |= {
            "nodes": _LS,
            "networks": _seq(_cidr(bare_ip=False), 1, 25),
            "domainNames": _seq(_string(253), 1, 25),
        }
    return _mapping(fields, one_of=True, unknown_alone=True)


_V1_PORT = _mapping(
    {
        "portNumber": _mapping({"protocol": _ADMIN_PROTOCOL, "port": _PORT}, required=("port",)),
        "namedPort": _STRING,
        "portRange": _mapping(
            {"protocol": _ADMIN_PROTOCOL, "start": _PORT, "end": _PORT},
            required=("start", "end"),  # start < end is documented, not enforced (ADM-42)
        ),
    },
    one_of=True,
)
_DESTINATION = _mapping(  # ADM-35
    {
        "destinationPort": _mapping(
            {
                "number": _PORT,
                "range": _mapping(
                    {"start": _PORT, "end": _PORT},
                    required=("start", "end"),
                    whole=_start_before_end,
                ),
            },
            one_of=True,
        )
    },
    required=("destinationPort",),
)
_V2_PROTOCOL = _mapping(
    {
        "tcp": _DESTINATION,
        "udp": _DESTINATION,
        "sctp": _DESTINATION,
        "destinationNamedPort": _STRING,
    },
    one_of=True,
)


def _admin_spec(kind: str) -> Check:
    v2 = kind == "ClusterNetworkPolicy"
    most = 25 if v2 else 100
    actions = {
        "AdminNetworkPolicy": ("Allow", "Deny", "Pass"),
        "BaselineAdminNetworkPolicy": ("Allow", "Deny"),  # ADM-18
        "ClusterNetworkPolicy": ("Accept", "Deny", "Pass"),
    }[kind]
    ports: tuple[str, Check] = (
        ("protocols", _seq(_V2_PROTOCOL, 1, most))
        if v2
        else (
            "ports",
            _seq(_V1_PORT, 1, most),
        )
    )

    def rule(egress: bool) -> Check:
        peers = "to" if egress else "from"
        fields = {
            "name": _string(100),
            "action": _enum(*actions),
            peers: _seq(_admin_peer(egress), 1, most),
            ports[0]: ports[1],
        }
        return _mapping(fields, required=("action", peers))

    fields: dict[str, Check] = {
        "subject": _SUBJECT,
        "ingress": _seq(rule(False), 0, most),
        "egress": _seq(rule(True), 0, most),
    }
    required = ["subject"]
    if kind != "BaselineAdminNetworkPolicy":
        fields["priority"] = _integer(0, 1000)
        required.append("priority")
    if v2:
        fields["tier"] = _enum("Admin", "Baseline")
        required.append("tier")
    return _mapping(fields, required=tuple(required))


def _banp_name(v: Mapping[object, object], path: str) -> Iterator[Violation]:
    meta = v.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if name != "default":  # ADM-18: a singleton, by a CEL rule on the CRD
        yield _err(
            "metadata.name",
            f"{show_value(name)}: the one BaselineAdminNetworkPolicy is named default",
        )


# --- Cilium: cilium.io/v2 --------------------------------------------------------------

#: [CIL-ENTITY] EntitySelectorMapping (`world-ipv4`/`-ipv6`: some versions only)
CILIUM_ENTITIES = (
    "host",
    "remote-node",
    "world",
    "world-ipv4",
    "world-ipv6",
    "kube-apiserver",
    "all",
    "cluster",
    "ingress",
    "init",
    "health",
    "unmanaged",
    "none",
)
_ES = _label_selector(source_prefixes=True)
_SVC_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")  # iana.IsSvcName


def _cilium_port(v: object, path: str) -> Iterator[Violation]:
    """PortProtocol.Port: a string, "0"-"65535" or an IANA service name (CIL-40)."""
    if not isinstance(v, str):
        hint = "; quote the number" if _is_int(v) else ""
        yield type_error(path, "a port number or name, as a string", v, hint)
    elif _digits(v):
        if _port_number(v) is None:
            yield _err(path, f"port {show_value(v)} is out of range 0-65535")
    elif not (
        len(v) <= 15 and "--" not in v and _SVC_NAME.fullmatch(v) and any(c.isalpha() for c in v)
    ):
        yield _err(path, f"port {show_value(v)} is neither a number nor a port name")


_FQDN = _mapping({"matchName": _string(255), "matchPattern": _string(255)})
_TO_PORT = _mapping(
    {
        "ports": _seq(
            _mapping(
                {
                    "port": _cilium_port,
                    "endPort": _integer(0, 65535),
                    "protocol": _enum(
                        "TCP", "UDP", "SCTP", "ICMP", "ICMPv6", "VRRP", "IGMP", "ANY", fold=True
                    ),
                }
            ),
            0,
            40,
        ),
        "rules": _mapping(
            {
                "http": _seq(_any_mapping),
                "kafka": _seq(_any_mapping),
                "dns": _seq(_FQDN),
                "l7proto": _STRING,
                "l7": _seq(_any_mapping),
            }
        ),
        "listener": _any_mapping,
        "serverNames": _seq(_STRING),
        "originatingTLS": _any_mapping,
        "terminatingTLS": _any_mapping,
    }
)


def _icmp_type(v: object, path: str) -> Iterator[Violation]:
    """ICMPField.Type: a number 0-255 or a message name such as EchoRequest."""
    if _is_int(v):
        if not 0 <= v <= 255:
            yield _err(path, f"ICMP type {show_value(v)} is out of range 0-255")
    elif not isinstance(v, str):
        yield type_error(path, "an ICMP type number or name", v)


_ICMP = _mapping(
    {
        "fields": _seq(
            _mapping(
                {"family": _enum("IPv4", "IPv6"), "type": _icmp_type},
                required=("type",),
            ),
            0,
            40,
        )
    }
)
_CIDR_SET = _mapping(
    {
        "cidr": _cidr(bare_ip=False),
        "except": _seq(_cidr(bare_ip=False)),
        "cidrGroupRef": _STRING,
        "cidrGroupSelector": _ES,
    }
)


def _cilium_rule(ingress: bool) -> Check:
    pre = "from" if ingress else "to"
    fields: dict[str, Check] = {
        f"{pre}Endpoints": _seq(_ES),
        f"{pre}Requires": _seq(_ES),
        f"{pre}Nodes": _seq(_ES),
        f"{pre}CIDR": _seq(_cidr(bare_ip=True)),  # CIL-32
        f"{pre}CIDRSet": _seq(_CIDR_SET),
        f"{pre}Entities": _seq(_enum(*CILIUM_ENTITIES)),
        f"{pre}Groups": _seq(_any_mapping),
        "toPorts": _seq(_TO_PORT),
        "icmps": _seq(_ICMP),
        "authentication": _mapping({"mode": _enum("disabled", "required", "test-always-fail")}),
    }
    if not ingress:
        fields |= {"toServices": _seq(_any_mapping), "toFQDNs": _seq(_FQDN)}
    return _mapping(fields)


_CILIUM_RULE = _mapping(
    {
        "endpointSelector": _ES,
        "nodeSelector": _ES,
        "ingress": _seq(_cilium_rule(True)),
        "ingressDeny": _seq(_cilium_rule(True)),
        "egress": _seq(_cilium_rule(False)),
        "egressDeny": _seq(_cilium_rule(False)),
        "enableDefaultDeny": _mapping({"ingress": _boolean, "egress": _boolean}),
        "description": _STRING,
        "labels": _seq(_any_mapping),
    }
)
_CILIUM = _mapping({"spec": _CILIUM_RULE, "specs": _seq(_CILIUM_RULE)})


# --- Calico: projectcalico.org/v3, crd.projectcalico.org/v1 ---------------------------

_CALICO_PROTOCOLS = ("TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite")


def _calico_protocol(v: object, path: str) -> Iterator[Violation]:
    """[CAL-RULE] Protocol: a name (any case, as Calico's NumOrString) or 1-255."""
    if _is_int(v):
        if not 1 <= v <= 255:
            yield _err(path, f"protocol {show_value(v)} is out of range 1-255")
    elif not isinstance(v, str):
        yield type_error(path, f"a protocol name ({', '.join(_CALICO_PROTOCOLS)}) or number", v)
    elif v.upper() not in {p.upper() for p in _CALICO_PROTOCOLS} and not (
        _digits(v) and len(v) <= 3 and 1 <= int(v) <= 255
    ):
        yield _err(
            path, f"protocol {show_value(v)} is not one of {', '.join(_CALICO_PROTOCOLS)}, 1-255"
        )


def _calico_port(v: object, path: str) -> Iterator[Violation]:
    """[CAL-PORTS] a number 0-65535, a range "a:b" (a <= b), or a named port."""
    if _is_int(v):
        if not 0 <= v <= 65535:
            yield _err(path, f"port {show_value(v)} is out of range 0-65535")
        return
    if not isinstance(v, str) or not v:
        yield type_error(path, "a port number, a range 'a:b' or a port name", v)
        return
    first, sep, last = v.partition(":")
    if sep or _digits(first):
        low, high = _port_number(first), _port_number(last if sep else first)
        if low is None or high is None or low > high:
            yield _err(path, f"port {show_value(v)} is not a number or range a:b within 0-65535")


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()  # str.isdigit alone accepts "²"


def _port_number(text: str) -> int | None:
    return int(text) if _digits(text) and len(text) <= 5 and int(text) <= 65535 else None


def _ip_version(v: object, path: str) -> Iterator[Violation]:
    if not _is_int(v):
        yield type_error(path, "4 or 6", v)
    elif v not in (4, 6):
        yield _err(path, f"ipVersion {show_value(v)} is not 4 or 6")


_ICMP_FIELDS = _mapping({"type": _integer(0, 254), "code": _integer(0, 255)})
_CALICO_ENTITY = _mapping(
    {
        "nets": _seq(_cidr()),
        "notNets": _seq(_cidr()),
        "selector": _calico_selector(allow_global=False),
        "notSelector": _calico_selector(allow_global=False),
        "namespaceSelector": _calico_selector(allow_global=True),
        "ports": _seq(_calico_port),
        "notPorts": _seq(_calico_port),
        "serviceAccounts": _mapping(
            {"names": _seq(_STRING), "selector": _calico_selector(allow_global=False)}
        ),
        "services": _mapping({"name": _STRING, "namespace": _STRING}),
    }
)
_CALICO_RULE = _mapping(
    {
        "action": _enum("Allow", "Deny", "Log", "Pass"),
        "protocol": _calico_protocol,
        "notProtocol": _calico_protocol,
        "icmp": _ICMP_FIELDS,
        "notICMP": _ICMP_FIELDS,
        "ipVersion": _ip_version,
        "source": _CALICO_ENTITY,
        "destination": _CALICO_ENTITY,
        "http": _mapping({"methods": _seq(_STRING), "paths": _seq(_string_map)}),
        "metadata": _mapping({"annotations": _string_map}),
    },
    required=("action",),
)


def _calico_spec(kind: str) -> Check:
    fields: dict[str, Check] = {
        "order": _number,
        "tier": _STRING,
        "selector": _calico_selector(allow_global=False),
        "serviceAccountSelector": _calico_selector(allow_global=False),
        "types": _seq(_enum("Ingress", "Egress"), 0, 2),
        "ingress": _seq(_CALICO_RULE),
        "egress": _seq(_CALICO_RULE),
        "performanceHints": _seq(_enum("AssumeNeededOnEveryNode")),
    }
    if kind == "GlobalNetworkPolicy":
        fields |= {
            "namespaceSelector": _calico_selector(allow_global=False),
            "doNotTrack": _boolean,
            "preDNAT": _boolean,
            "applyOnForward": _boolean,
        }
    return _mapping(fields)


_CALICO_TIER = _mapping({"order": _number, "defaultAction": _enum("Deny", "Pass")})


# --- entry point ---------------------------------------------------------------------

_ADMIN = "policy.networking.k8s.io"
_CALICO = ("projectcalico.org", "crd.projectcalico.org")


def _schema(group: str, kind: str) -> Check | None:
    if group == _ADMIN and kind in (
        "AdminNetworkPolicy",
        "BaselineAdminNetworkPolicy",
        "ClusterNetworkPolicy",
    ):
        whole = _banp_name if kind == "BaselineAdminNetworkPolicy" else None
        return _mapping({"spec": _admin_spec(kind)}, required=("spec",), whole=whole)
    if group == "cilium.io" and kind in ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"):
        return _CILIUM
    if group in _CALICO and kind in ("NetworkPolicy", "GlobalNetworkPolicy"):
        return _mapping({"spec": _calico_spec(kind)})
    if group in _CALICO and kind == "Tier":
        return _mapping({"spec": _CALICO_TIER})
    return None


def validate_extended(group: str, kind: str, raw: Mapping[str, object]) -> list[Violation]:
    """Every schema violation in one object of an extended policy kind, in document order;
    [] for kinds this module does not know. Total: never raises."""
    schema = _schema(group, kind)
    return [] if schema is None else list(schema(raw, ""))
