"""What the API server refuses in a ``networking.k8s.io/v1`` NetworkPolicy (SEMANTICS.md §2).

Owns the admission checks VAL-1…VAL-50, transcribed from Kubernetes' ``ValidateNetworkPolicy``
and apimachinery's syntax helpers; the decoding errors a typed client hits on wrong field types
(rule "TYPE"); and fields the schema does not know ("UNKNOWN-FIELD", or NP-12 for rules
mis-indented into a selector). Input is the raw manifest as loaded from YAML/JSON; every public
function is total (never raises) and reports violations in document order.

VAL-18 (update ratcheting) and VAL-46 (admitted oddities) need no code: a manifest is always a
create, and lint.py owns the oddities. A leaf: imports nothing from netpol_doctor.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import Any, TypeAlias, TypeGuard

__all__ = [
    "Level",
    "Violation",
    "parse_cidr",
    "show_value",
    "type_error",
    "valid_dns_subdomain",
    "valid_label_key",
    "valid_label_value",
    "valid_port_name",
    "validate_label_selector",
    "validate_network_policy",
]


class Level(Enum):
    """How the API server treats a violation."""

    ERROR = "error"  # the API server rejects the object: it does nothing in a real cluster
    WARNING = "warning"  # admitted, but the API server warns (VAL-17 without the gate, VAL-50)


@dataclass(frozen=True, slots=True)
class Violation:
    """One problem at one field, pointed at the way kubectl prints field paths."""

    path: str  # e.g. "spec.ingress[0].from[1].ipBlock.except[0]"
    message: str  # plain words, quoting the offending value
    rule: str  # SEMANTICS.md id ("VAL-31", "NP-12"), "TYPE" or "UNKNOWN-FIELD"
    level: Level


IPNetwork: TypeAlias = IPv4Network | IPv6Network
IPAddress: TypeAlias = IPv4Address | IPv6Address
Obj: TypeAlias = Mapping[Any, object]
Check: TypeAlias = Callable[[Obj, object, str], Iterator[Violation]]  # (parent, value, path)


def _err(path: str, message: str, rule: str) -> Violation:
    return Violation(path, message, rule, Level.ERROR)


# --- syntax, from apimachinery/pkg/util/validation/validation.go ------------------------------
# Always fullmatch: Python's "$" also matches before a trailing newline, Go's does not.
_DNS1123_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_RE = re.compile(rf"{_DNS1123_LABEL}(?:\.{_DNS1123_LABEL})*")
_QNAME_NAME_RE = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE_RE = re.compile(r"(?:(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_DIGITS_RE = re.compile(r"[0-9]+")  # not \d: that also accepts non-ASCII digits


def valid_dns_subdomain(n: str) -> bool:
    """IsDNS1123Subdomain (VAL-1): dot-joined lowercase DNS labels, at most 253 characters."""
    return len(n) <= 253 and _DNS1123_SUBDOMAIN_RE.fullmatch(n) is not None


def valid_label_key(k: str) -> bool:
    """IsQualifiedName (VAL-43): optional DNS-subdomain prefix and "/", then a 1-63 char name."""
    prefix, slash, name = k.rpartition("/")  # a second "/" lands in prefix and fails there
    if slash and not (prefix and valid_dns_subdomain(prefix)):
        return False
    return len(name) <= 63 and _QNAME_NAME_RE.fullmatch(name) is not None


def valid_label_value(v: str) -> bool:
    """IsValidLabelValue (VAL-44/45): empty, or at most 63 chars starting/ending alphanumeric."""
    return len(v) <= 63 and _LABEL_VALUE_RE.fullmatch(v) is not None


def _port_name_problems(n: str) -> list[str]:
    """What IsValidPortName (IANA service name, VAL-33) finds wrong with n, in Go's order."""
    rules = (
        (len(n) <= 15, "at most 15 characters"),
        (re.fullmatch(r"[-a-z0-9]+", n) is not None, "only a-z, 0-9 and '-'"),
        (re.search(r"[a-z]", n) is not None, "at least one letter"),
        ("--" not in n, "no '--'"),
        (not n.startswith("-") and not n.endswith("-"), "no leading or trailing '-'"),
    )
    return [need for ok, need in rules if not ok]


def valid_port_name(n: str) -> bool:
    """IsValidPortName (VAL-33)."""
    return not _port_name_problems(n)


# --- CIDRs: Go's ParseCIDRSloppy, then the warnings of GetWarningsForCIDR -----------------------


def _decimal(text: str, limit: int) -> int | None:
    """Go's dtoi as the sloppy parser uses it: ASCII digits, any leading zeros, read as decimal."""
    significant = text.lstrip("0")  # stripped first: int() refuses over 4300 digits
    if _DIGITS_RE.fullmatch(text) is None or len(significant) > 3:
        return None
    value = int(significant or "0")
    return value if value <= limit else None


def _ipv4_sloppy(text: str) -> IPv4Address | None:
    parts = text.split(".")
    octets = [octet for part in parts if (octet := _decimal(part, 255)) is not None]
    return IPv4Address(bytes(octets)) if len(octets) == len(parts) == 4 else None


def _ip_sloppy(text: str) -> IPAddress | None:
    v4 = _ipv4_sloppy(text)
    if v4 is not None or ":" not in text or "%" in text:  # Go has no zone in a CIDR
        return v4
    head, _, tail = text.rpartition(":")
    if "." in tail:  # an embedded IPv4 tail is parsed as sloppily as a plain IPv4 address
        embedded = _ipv4_sloppy(tail)
        if embedded is None:
            return None
        text = f"{head}:{embedded}"
    try:
        return IPv6Address(text)
    except ValueError:
        return None


def _as_go_sees_it(net: IPNetwork) -> IPNetwork:
    """Go's IPNet.Contains reads an IPv4-mapped IPv6 network as the IPv4 network it wraps."""
    mapped = net.network_address.ipv4_mapped if isinstance(net, IPv6Network) else None
    return net if mapped is None else IPv4Network((mapped, max(net.prefixlen - 96, 0)))


def _cidr_warning(s: str, path: str, addr: IPAddress, net: IPNetwork) -> list[Violation]:
    addr_text, _, prefix_text = s.partition("/")
    dotted = addr_text.rpartition(":")[2].split(".") if "." in addr_text else []
    zeros = any(len(p) > 1 and p[0] == "0" for p in [*dotted, prefix_text])
    mapped = isinstance(addr, IPv6Address) and addr.ipv4_mapped is not None
    host_bits = net.network_address != addr
    flags = ((zeros, "leading zeros"), (mapped, "IPv4-mapped IPv6"), (host_bits, "host bits set"))
    reasons = [reason for bad, reason in flags if bad]
    rule = "VAL-17" if reasons else "VAL-50"  # VAL-50 alone: a non-RFC 5952 IPv6 spelling
    if isinstance(addr, IPv6Address) and not mapped and addr_text != str(addr):
        reasons.append("IPv6 not in RFC 5952 form")
    if not reasons:
        return []
    advice = f"write {_as_go_sees_it(net) if mapped else net}"
    if host_bits:
        advice += f", or {addr}/{addr.max_prefixlen} for the single address"
    if rule == "VAL-17":
        advice += " (rejected once the StrictIPCIDRValidation gate is on)"
    message = f"{_show(s)} is not canonical ({', '.join(reasons)}): admitted with a warning"
    return [Violation(path, f"{message}, read as {net}; {advice}", rule, Level.WARNING)]


def parse_cidr(s: str, path: str) -> tuple[IPv4Network | IPv6Network | None, list[Violation]]:
    """Go ParseCIDRSloppy-compatible: leading zeros in IPv4 octets accepted as decimal (warning
    VAL-17), host bits masked (warning), IPv4-mapped IPv6 (warning); unparseable -> None + ERROR
    VAL-15."""
    if len(s) > 64:  # no CIDR is this long: not worth keeping in the cache
        return _parse_cidr(s, path)
    # Each CIDR is read twice (validation, then the parser) and clusters repeat the same
    # few blocks across thousands of policies; ipaddress is slow.
    net, found = _parse_cidr_cached(s)
    return net, [replace(v, path=path) for v in found]


@lru_cache(maxsize=16384)
def _parse_cidr_cached(s: str) -> tuple[IPv4Network | IPv6Network | None, tuple[Violation, ...]]:
    net, found = _parse_cidr(s, "")
    return net, tuple(found)


def _parse_cidr(s: str, path: str) -> tuple[IPv4Network | IPv6Network | None, list[Violation]]:
    addr_text, slash, prefix_text = s.partition("/")
    addr = _ip_sloppy(addr_text)
    prefix = _decimal(prefix_text, addr.max_prefixlen) if addr is not None and slash else None
    if addr is None or prefix is None:
        bad = f"{_show(s)} is not a valid CIDR: write address/prefix-length, e.g. 10.0.0.0/16"
        return None, [_err(path, bad, "VAL-15")]
    net = ip_network((addr, prefix), strict=False)
    return net, _cidr_warning(s, path, addr, net)


# --- field types: what a typed decoder accepts --------------------------------------------------


def _show(v: object) -> str:
    """The offending value for a message: JSON-quoted strings, short, never raising."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10**30:
        return "a huge integer"  # str() of a huge int raises (the 4300-digit limit)
    if v is None or isinstance(v, bool | int | float | str):
        text = json.dumps(v)
        return text if len(text) <= 80 else f"{text[:77]}..."
    return f"a {type(v).__name__}"


_TYPE_WORDS: tuple[tuple[type, str], ...] = (
    (type(None), "null"),
    (bool, "a boolean"),  # before int: bool is a subclass of int
    (int, "an integer"),
    (float, "a float"),
    (str, "a string"),
    (list, "a list"),
    (Mapping, "a mapping"),
)


def _type_error(path: str, expected: str, v: object, hint: str = "") -> Violation:
    got = next((word for t, word in _TYPE_WORDS if isinstance(v, t)), f"a {type(v).__name__}")
    shown = f" ({_show(v)})" if isinstance(v, int | float | str) else ""
    return _err(path, f"expected {expected}, got {got}{shown}{hint}", "TYPE")


#: Public for the schema checks of the other policy kinds (crd_validation).
show_value = _show
type_error = _type_error


def _is_int(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)  # `port: true` is not a port


def _list(v: object, path: str) -> tuple[list[object], list[Violation]]:
    """A list field; null decodes to an empty list."""
    if v is None or isinstance(v, list):
        return v or [], []
    return [], [_type_error(path, "a list", v)]


def _string(v: object, path: str, what: str = "") -> tuple[str | None, list[Violation]]:
    """A string field; null decodes to "" (Go's zero value); None back means a TYPE error."""
    if v is None or isinstance(v, str):
        return v or "", []
    quote = "; quote it in YAML if it is text" if isinstance(v, int | float) else ""
    return None, [_type_error(path, f"a string{what and ' for '}{what}", v, quote)]


# --- walking the schema -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Kind:
    """One API struct: its fields and the checks Go's validation runs on it."""

    name: str
    fields: Mapping[str, Check]
    zero_checked: tuple[str, ...] = ()  # absent fields whose zero value validation rejects
    whole: Callable[[Obj, str], Iterator[Violation]] | None = None  # checks across fields
    strict: bool = True  # report unknown fields (false where we model only part of a struct)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk(v: object, path: str, kind: _Kind) -> Iterator[Violation]:
    """Check a struct field by field in document order; null decodes to the zero struct."""
    # type() first: isinstance against the Mapping ABC is several times slower.
    if v is not None and type(v) is not dict and not isinstance(v, Mapping):
        yield _type_error(path, "a mapping", v)
        return
    obj: Obj = v or {}
    if kind.whole is not None:
        yield from kind.whole(obj, path)
    for key, value in obj.items():
        check = kind.fields.get(key) if isinstance(key, str) else None
        if check is not None:
            yield from check(obj, value, _join(path, key))
        elif kind.strict:
            yield _unknown(path, key, kind)
    for key in kind.zero_checked:
        if key not in obj:
            yield from kind.fields[key](obj, None, _join(path, key))


_NP12_KEYS = frozenset({"ingress", "egress", "policyTypes"})  # NP-12: spec fields in a selector
_HOME = {  # where a field found in the wrong struct does belong
    field: home
    for home, fields in (
        ("spec", "ingress egress policyTypes"),
        ("an ingress rule", "from"),
        ("an egress rule", "to"),
        ("an ingress or egress rule, beside from/to", "ports"),
        ("a from/to peer (or spec)", "podSelector namespaceSelector ipBlock"),
        ("a ports item", "port endPort protocol"),
        ("an ipBlock", "cidr except"),
        ("a podSelector or namespaceSelector", "matchLabels matchExpressions"),
    )
    for field in fields.split()
}


def _unknown(path: str, key: object, kind: _Kind) -> Violation:
    name = key if isinstance(key, str) else _show(key)
    if kind.name == "LabelSelector" and name in _NP12_KEYS:
        message = (
            f"{_show(name)} inside {path} is probably mis-indented: it belongs directly under "
            f"spec. Strict field validation rejects the object; where unknown fields are "
            f"dropped instead, the policy silently loses its {name}"
        )
        return _err(_join(path, name), message, "NP-12")
    if name in _HOME:
        hint = f": it belongs in {_HOME[name]}, probably mis-indented"
    elif close := difflib.get_close_matches(name[:100], list(kind.fields), n=1):
        hint = f': did you mean "{close[0]}"? (field names are case-sensitive)'
    elif kind.name == "LabelSelector":
        hint = f": labels go under matchLabels ({{matchLabels: {{{name}: ...}}}})"
    else:
        hint = f" (known fields: {', '.join(kind.fields)})"
    message = (
        f"unknown field {_show(name)} in {kind.name}{hint}; the API server drops it with a "
        f"warning (kubectl --validate=strict rejects the object)"
    )
    return Violation(_join(path, name), message, "UNKNOWN-FIELD", Level.WARNING)


def _struct(kind: _Kind, null_is_absent: bool = True) -> Check:
    """A struct field; for Go pointer fields null means absent and is not validated."""

    def check(_: Obj, v: object, path: str) -> Iterator[Violation]:
        if v is not None or not null_is_absent:
            yield from _walk(v, path, kind)

    return check


def _list_of(item: Check) -> Check:
    """A list field whose items are checked by item, each seeing the list's parent."""

    def check(obj: Obj, v: object, path: str) -> Iterator[Violation]:
        items, bad = _list(v, path)
        yield from bad
        for i, value in enumerate(items):
            yield from item(obj, value, f"{path}[{i}]")

    return check


def _each(kind: _Kind) -> Check:
    """A list of structs; a null item decodes to the zero struct and is validated as such."""
    return _list_of(_struct(kind, null_is_absent=False))


def _text(rule: str, ok: Callable[[str], bool], what: str, problem: str, null: str = "") -> Check:
    """A string field that ok must accept; null decodes to `null` (zero value or API default)."""

    def check(_: Obj, v: object, path: str) -> Iterator[Violation]:
        text, bad = _string(null if v is None else v, path, what)
        yield from bad
        if text is not None and not ok(text):
            yield _err(path, f"{what} {_show(text)} {problem}", rule)

    return check


# --- labels, names, selectors (VAL-1…3, VAL-40…45) ----------------------------------------------

_QNAME = "is not a qualified name: [DNS-subdomain/]name, name 1-63 of [A-Za-z0-9-_.]"
_LABEL_VALUE = "is not a label value: empty, or at most 63 of [A-Za-z0-9-_.]"
_ENDS = ", alphanumeric at both ends"


def _labels(key_rule: str, value_rule: str | None) -> Check:
    """A map of strings keyed by qualified names; value_rule None: any string (annotations)."""
    key_check = _text(key_rule, valid_label_key, "key", _QNAME + _ENDS)

    def check(obj: Obj, v: object, path: str) -> Iterator[Violation]:
        if v is not None and not isinstance(v, Mapping):
            yield _type_error(path, "a mapping of strings", v)
            return
        for key, value in (v or {}).items():
            # Well-formed labels are the common case by far: test them before building
            # any message (this runs for every label of every selector).
            if type(key) is str and valid_label_key(key):
                if type(value) is str and (value_rule is None or valid_label_value(value)):
                    continue
            else:
                yield from key_check(obj, key, path)
            if value_rule is None:  # annotations: any string
                yield from _string(value, path)[1]
                continue
            what = f"label {_show(key)} value"
            value_check = _text(value_rule, valid_label_value, what, _LABEL_VALUE + _ENDS)
            yield from value_check(obj, value, path)

    return check


def _name(obj: Obj, v: object, path: str) -> Iterator[Violation]:
    text, bad = _string(v, path)
    yield from bad
    generated = obj.get("generateName")
    if text == "" and not (isinstance(generated, str) and generated):  # else the server names it
        yield _err(path, "metadata.name is required", "VAL-1")
    elif text and not valid_dns_subdomain(text):
        need = "lowercase a-z, 0-9, '-' and '.', alphanumeric ends, at most 253 characters"
        yield _err(path, f"name {_show(text)} is not a DNS-1123 subdomain: {need}", "VAL-1")


_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_NOT_OPERATOR = f"is not one of {', '.join(_OPERATORS)} (case-sensitive)"
_VALUES = _list_of(_text("VAL-45", valid_label_value, "value", _LABEL_VALUE + _ENDS))


def _req_values(obj: Obj, v: object, path: str) -> Iterator[Violation]:
    operator = obj.get("operator")
    if (v is None or v == []) and operator in ("In", "NotIn"):  # VAL-41
        yield _err(path, f"operator {operator} needs at least one value", "VAL-41")
    if isinstance(v, list) and v and operator in ("Exists", "DoesNotExist"):  # VAL-42
        yield _err(path, f"operator {operator} takes no values; remove them", "VAL-42")
    yield from _VALUES(obj, v, path)


_REQUIREMENT = _Kind(
    "LabelSelectorRequirement",
    {
        "key": _text("VAL-43", valid_label_key, "key", _QNAME + _ENDS),
        "operator": _text("VAL-40", lambda op: op in _OPERATORS, "operator", _NOT_OPERATOR),
        "values": _req_values,
    },
    zero_checked=("key", "operator", "values"),
)
_SELECTOR = _Kind(
    "LabelSelector",
    {"matchLabels": _labels("VAL-43", "VAL-44"), "matchExpressions": _each(_REQUIREMENT)},
)


def validate_label_selector(sel: object, path: str) -> list[Violation]:
    """ValidateLabelSelector (VAL-10, VAL-40…45) plus types and unknown fields; null is valid."""
    return list(_walk(sel, path, _SELECTOR))


# --- peers and ipBlock (VAL-11…17) --------------------------------------------------------------


def _cidr(_: Obj, v: object, path: str) -> Iterator[Violation]:
    text, bad = _string(v, path)
    yield from bad
    if text == "":  # VAL-14; Go then skips every except entry, we still check their syntax
        yield _err(path, "cidr is required, e.g. 10.0.0.0/8 (0.0.0.0/0 for any IPv4)", "VAL-14")
    elif text is not None:
        yield from parse_cidr(text, path)[1]


def _strict_subset(exc: IPNetwork, cidr: IPNetwork) -> bool:
    """VAL-16 as Go writes it: cidr.Contains(except.IP) && cidr prefix < except prefix."""
    inside = _as_go_sees_it(exc).network_address in _as_go_sees_it(cidr)  # False across families
    return inside and cidr.prefixlen < exc.prefixlen


def _except(obj: Obj, v: object, path: str) -> Iterator[Violation]:
    text, bad = _string(v, path)
    yield from bad
    exc, problems = parse_cidr(text, path) if text is not None else (None, [])
    yield from problems
    cidr_text = obj.get("cidr")
    cidr = parse_cidr(cidr_text, path)[0] if isinstance(cidr_text, str) else None
    if exc is not None and cidr is not None and not _strict_subset(exc, cidr):
        message = f"except {_show(text)} is not a strict subset of cidr {cidr}"
        yield _err(path, f"{message}: it must be a smaller range inside it", "VAL-16")


_IP_BLOCK = _Kind("IPBlock", {"cidr": _cidr, "except": _list_of(_except)}, zero_checked=("cidr",))
_PEER_FIELDS = ("podSelector", "namespaceSelector", "ipBlock")


def _peer_whole(obj: Obj, path: str) -> Iterator[Violation]:
    # A null field is a nil pointer in Go: it neither counts as a peer nor gets validated.
    present = [key for key in _PEER_FIELDS if obj.get(key) is not None]
    if not present:  # VAL-11
        message = "peer sets none of podSelector, namespaceSelector, ipBlock; to match any peer, "
        yield _err(path, f"{message}leave from/to out instead", "VAL-11")
    elif "ipBlock" in present and len(present) > 1:  # VAL-13 (VAL-12: the two selectors may mix)
        others = " and ".join(key for key in present if key != "ipBlock")
        yield _err(path, f"ipBlock cannot share a peer with {others}: use two list items", "VAL-13")


_SELECTOR_FIELD = _struct(_SELECTOR)
_PEER = _Kind(
    "NetworkPolicyPeer",
    {f: _SELECTOR_FIELD for f in _PEER_FIELDS[:2]} | {"ipBlock": _struct(_IP_BLOCK)},
    whole=_peer_whole,
)


# --- ports (VAL-30…35), checked after defaulting: a null protocol has become TCP ---------------


def _port(_: Obj, v: object, path: str) -> Iterator[Violation]:
    if _is_int(v):
        if not 1 <= v <= 65535:
            yield _err(path, f"port {_show(v)} is out of range 1-65535", "VAL-31")
    elif isinstance(v, str):
        if _DIGITS_RE.fullmatch(v):  # NP-67: an IntOrString string is always a port name
            fix = f"not a number; write {v.lstrip('0') or '0'} without quotes"
            yield _err(path, f"quoted port {_show(v)} is a port name, {fix}", "VAL-33")
        elif problems := _port_name_problems(v):
            yield _err(path, f"port name {_show(v)} needs {', '.join(problems)}", "VAL-33")
    elif v is not None:
        yield _type_error(path, "an integer or a string", v)


def _end_port(obj: Obj, v: object, path: str) -> Iterator[Violation]:
    port = obj.get("port")
    if v is not None and not _is_int(v):
        yield _type_error(path, "an integer", v)
    elif v is None:
        return
    elif port is None:
        yield _err(path, f"endPort {_show(v)} needs a port to start the range", "VAL-35")
    elif isinstance(port, str):
        yield _err(path, f"endPort {_show(v)} needs a numeric port, not {_show(port)}", "VAL-34")
    elif _is_int(port):  # Go range-checks endPort only here
        if v < port:
            yield _err(path, f"endPort {_show(v)} is less than port {_show(port)}", "VAL-32")
        if not 1 <= v <= 65535:
            yield _err(path, f"endPort {_show(v)} is out of range 1-65535", "VAL-32")


_PROTOCOLS = ("TCP", "UDP", "SCTP")
_NOT_PROTOCOL = "is not TCP, UDP or SCTP (case-sensitive)"
_PORT = _Kind(
    "NetworkPolicyPort",
    {
        "protocol": _text(
            "VAL-30", lambda p: p in _PROTOCOLS, "protocol", _NOT_PROTOCOL, null="TCP"
        ),
        "port": _port,
        "endPort": _end_port,
    },
)


# --- spec and object (VAL-20/21, VAL-1…3) --------------------------------------------------------

_POLICY_TYPE_LIST = _list_of(
    _text(
        "VAL-21",
        lambda t: t in ("Ingress", "Egress"),
        "policyType",
        "is not Ingress or Egress (case-sensitive)",
    )
)


def _policy_types(obj: Obj, v: object, path: str) -> Iterator[Violation]:
    if isinstance(v, list) and len(v) > 2:  # VAL-20; Go returns before checking the entries
        yield _err(path, f"{len(v)} policyTypes given; at most two (Ingress, Egress)", "VAL-20")
    else:
        yield from _POLICY_TYPE_LIST(obj, v, path)


_RULE_PORTS = _each(_PORT)
_INGRESS_RULE = _Kind("NetworkPolicyIngressRule", {"from": _each(_PEER), "ports": _RULE_PORTS})
_EGRESS_RULE = _Kind("NetworkPolicyEgressRule", {"to": _each(_PEER), "ports": _RULE_PORTS})
_SPEC = _Kind(
    "NetworkPolicySpec",
    {
        "podSelector": _SELECTOR_FIELD,
        "ingress": _each(_INGRESS_RULE),
        "egress": _each(_EGRESS_RULE),
        "policyTypes": _policy_types,
    },
)
_NAMESPACE_RE = re.compile(_DNS1123_LABEL)  # IsDNS1123Label, at most 63 characters
_METADATA = _Kind(
    "ObjectMeta",
    {
        "name": _name,
        # VAL-2: absent or empty is fine in a file: the client fills in its context's namespace.
        "namespace": _text(
            "VAL-2",
            lambda n: not n or (len(n) <= 63 and bool(_NAMESPACE_RE.fullmatch(n))),
            "namespace",
            "is not a namespace name (DNS-1123 label: a-z, 0-9, '-', at most 63 characters)",
        ),
        "labels": _labels("VAL-3", "VAL-3"),
        "annotations": _labels("VAL-3", None),
    },
    zero_checked=("name",),
    strict=False,  # ObjectMeta has many fields (uid, finalizers, ...) we do not model
)
_POLICY = _Kind(
    "NetworkPolicy",
    {"metadata": _struct(_METADATA, null_is_absent=False), "spec": _struct(_SPEC)},
    zero_checked=("metadata",),
    strict=False,  # apiVersion, kind, status: not ours to judge
)


def validate_network_policy(obj: Mapping[str, Any]) -> list[Violation]:
    """Everything the API server would refuse or warn about in this manifest, in document order.

    Total: any input, including None and wrong types anywhere, yields violations, never raises.
    """
    if not isinstance(obj, Mapping):
        return [_type_error("<root>", "a mapping (a NetworkPolicy object)", obj)]
    return list(_walk(obj, "", _POLICY))
