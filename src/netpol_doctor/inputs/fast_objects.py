"""The plain, well-typed Pod and NetworkPolicy, read without `parse`'s generic reader.

`parse` stays the reference: each function here returns None the moment its input is
anything but the plain shape (a wrong or unusual type, a value the reference path
would report or convert, Multus annotations, whose problems only the reference path
reports, an unknown policy field, ...), and `parse` then reads the object the slow
way, findings and all. So nothing here makes a finding or builds a message, and every
object built here equals the reference path's own (tests/test_parse_fast.py runs both
over real, generated and mutated objects).

Why: a `kubectl get pods -o yaml` dump of 20,000 pods spent 2 s in the reference path
(a type ladder and a field path string per field read, built even when nothing is
wrong) and 5,000 policies almost 1 s in the generic schema walk of `validation`.

Imports `model`, the syntax checks of `validation` (a leaf) and other input modules.
"""

from __future__ import annotations

import json
from functools import lru_cache
from ipaddress import IPv4Address, ip_address
from socket import AF_INET, inet_pton
from typing import Any, TypeVar

from ..model import (
    ContainerPort,
    Direction,
    IPAddress,
    IPBlock,
    IPNetwork,
    LabelSelector,
    NetworkPolicy,
    ObjectRef,
    Operator,
    Peer,
    Pod,
    PolicyPort,
    Protocol,
    Requirement,
    Rule,
    fast_constructor,
)
from ..validation import (
    parse_cidr,
    valid_dns_subdomain,
    valid_label_key,
    valid_label_value,
    valid_port_name,
)
from . import multus
from .pod_needs import env_targets, health_probes

__all__ = [
    "LAST_APPLIED",
    "author_declared_types",
    "fast_network_policy",
    "fast_pod",
    "parse_ip",
]

T = TypeVar("T")

#: kubectl's copy of the whole manifest as applied: never kept (it can hold a Secret).
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@lru_cache(maxsize=65536)
def parse_ip(text: str) -> IPAddress | None:
    """An IP address, or None. inet_pton is strict (no "10.1" shorthand, no leading
    zeros) and several times faster than ipaddress' own parser; node IPs repeat."""
    try:
        return IPv4Address(int.from_bytes(inet_pton(AF_INET, text), "big"))
    except (OSError, ValueError):  # ValueError: a NUL or a lone surrogate in the text
        pass
    try:
        return ip_address(text)
    except ValueError:
        return None


def author_declared_types(raw: dict[str, Any]) -> bool:
    """Did the author write policyTypes? A policy read back from the API server always
    has it (defaulting), so look at what `kubectl apply` recorded, when it did. Only
    this one fact is taken from the annotation; nothing of it is kept."""
    meta = raw.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    applied = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    if not isinstance(applied, str):
        return True
    try:
        spec = json.loads(applied).get("spec")
    except (ValueError, AttributeError):
        return True
    return not isinstance(spec, dict) or bool(spec.get("policyTypes"))


# Positional constructors: the values below are checked before they are stored.
_new_pod = fast_constructor(Pod)
_new_container_port = fast_constructor(ContainerPort)
_new_policy = fast_constructor(NetworkPolicy)
_new_rule = fast_constructor(Rule)
_new_peer = fast_constructor(Peer)
_new_policy_port = fast_constructor(PolicyPort)
_new_requirement = fast_constructor(Requirement)
_new_selector = fast_constructor(LabelSelector)

_PROTOCOLS = {p.value: p for p in Protocol}  # ICMP too: the reference path reads it silently
_TCP = Protocol.TCP
_MULTUS_KEYS = frozenset((multus.NETWORKS, multus.NETWORK_STATUS, multus.OLD_NETWORK_STATUS))
#: ContainerPort by (name, containerPort, protocol, container) as written: frozen and
#: shared, so the thousands of pods of one workload cost one object per port (and
#: the lookup costs less than building one).
_CONTAINER_PORTS: dict[tuple[str | None, int, str | None, str], ContainerPort] = {}
#: container fields inputs/pod_needs.py reads
_HELPER_KEYS = frozenset({"readinessProbe", "livenessProbe", "startupProbe", "env"})


_OPERATORS = {op.value: op for op in Operator}
_DIRECTIONS = {d.value: d for d in Direction}
_RULE_PROTOCOLS = {p.value: p for p in (Protocol.TCP, Protocol.UDP, Protocol.SCTP)}
_INGRESS_ONLY = frozenset({Direction.INGRESS})  # NP-20..25: the defaulted policyTypes
_BOTH = frozenset({Direction.INGRESS, Direction.EGRESS})
_EMPTY_SELECTOR = LabelSelector()

# The fields of each struct `validation` is strict about: any other is a warning.
_SPEC_KEYS = frozenset({"podSelector", "ingress", "egress", "policyTypes"})
_INGRESS_KEYS = frozenset({"from", "ports"})
_EGRESS_KEYS = frozenset({"to", "ports"})
_PEER_KEYS = frozenset({"podSelector", "namespaceSelector", "ipBlock"})
_IP_BLOCK_KEYS = frozenset({"cidr", "except"})
_PORT_KEYS = frozenset({"protocol", "port", "endPort"})
_SELECTOR_KEYS = frozenset({"matchLabels", "matchExpressions"})
_REQUIREMENT_KEYS = frozenset({"key", "operator", "values"})

# Syntax checks are regular expressions, run on the same few keys, values and names in
# policy after policy. Only strings short enough to be valid are looked up, so the
# caches never hold a large one.
_label_key_ok = lru_cache(maxsize=4096)(valid_label_key)
_label_value_ok = lru_cache(maxsize=4096)(valid_label_value)
_dns_subdomain_ok = lru_cache(maxsize=4096)(valid_dns_subdomain)
_port_name_ok = lru_cache(maxsize=1024)(valid_port_name)
_MAX_LABEL_KEY = 253 + 1 + 63  # DNS-subdomain prefix, "/", name


class _Unusual(Exception):
    """Not the plain shape: the reference path reads the object (and reports on it)."""


def _unset(value: object, default: T) -> T:
    """The default of a field found null or absent; of any other value: unusual."""
    if value is not None:
        raise _Unusual
    return default


def _plain(value: object, kind: type[T], default: T) -> T:
    """A field of exactly `kind` (a bool is no int, a subclass is unusual), or unset:
    what the reference path takes without a word."""
    if value is None:
        return default
    if type(value) is not kind:
        raise _Unusual
    return value


# --- Pod ---------------------------------------------------------------------------


def fast_pod(raw: dict[str, Any], ref: ObjectRef) -> Pod | None:
    """The Pod `parse` builds, when it has nothing to report; None: read it the
    reference way. `raw`'s metadata has a name (parse_object found it); `ref` is the
    reference parse_object built, namespace defaulted."""
    try:
        return _pod(raw, ref)
    except Exception:  # _Unusual, or a surprise no test has shown yet:
        return None  # the reference path reads the object and says what is wrong


def _pod(raw: dict[str, Any], ref: ObjectRef) -> Pod:
    # Fields are tested inline (`type(x) is list`) rather than through _plain where
    # they are read for every container and port: a call costs more than the test.
    meta, spec = raw["metadata"], raw.get("spec")
    if type(meta) is not dict or type(spec) is not dict:
        raise _Unusual
    status = raw.get("status")
    if type(status) is not dict:
        status = _unset(status, {})
    containers = spec.get("containers")
    if type(containers) is not list:
        containers = _unset(containers, [])
    init = spec.get("initContainers")
    if type(init) is not list:
        init = _unset(init, [])

    ports: list[ContainerPort] = []
    names: list[str] = []
    helpers = False  # probes or env: rare in dumps, read by their (finding-free) readers
    for c in containers:
        name = _container_ports(c, ports)
        if name is not None:
            names.append(name)
        helpers = helpers or not _HELPER_KEYS.isdisjoint(c)
    for c in init:
        if type(c) is not dict:
            raise _Unusual
        if c.get("restartPolicy") == "Always":
            _container_ports(c, ports)  # a sidecar serves ports like any container
        helpers = helpers or "env" in c

    ips: list[IPAddress] = []
    pod_ips = status.get("podIPs")
    for entry in pod_ips if type(pod_ips) is list else _unset(pod_ips, ()):
        if type(entry) is not dict:
            raise _Unusual
        ip = _ip(entry.get("ip"))
        if ip is not None and ip not in ips:
            ips.append(ip)
    first = _ip(status.get("podIP"))
    if first is not None and first not in ips:
        ips.insert(0, first)

    owner = None
    owners = meta.get("ownerReferences")
    for o in owners if type(owners) is list else _unset(owners, ()):
        # The reference path's own test, which never reports: the last controller wins.
        if isinstance(o, dict) and o.get("controller") and isinstance(o.get("name"), str):
            kind = o.get("kind")
            owner = (kind if isinstance(kind, str) and kind else "?", o["name"])

    ready: bool | None = None
    restarts = 0
    waiting: list[Any] = []
    statuses = status.get("containerStatuses")
    for s in statuses if type(statuses) is list else _unset(statuses, ()):
        if not s:
            continue  # the reference path skips empty entries, for `ready` too
        if type(s) is not dict:
            raise _Unusual
        ready = ready is not False and bool(s.get("ready"))
        count = s.get("restartCount")
        if type(count) is int:
            restarts += count
        elif count is not None:
            raise _Unusual  # the reference path's int() decides what else counts
        state = s.get("state")
        if isinstance(state, dict) and isinstance(state.get("waiting"), dict):
            reason = state["waiting"].get("reason", "")
            if reason:
                waiting.append(reason)

    node, account, phase = spec.get("nodeName"), spec.get("serviceAccountName"), status.get("phase")
    for text in (node, account, phase):
        if text is not None and type(text) is not str:
            raise _Unusual
    host_network = spec.get("hostNetwork")
    automount = spec.get("automountServiceAccountToken")
    for flag in (host_network, automount):
        if flag is not None and type(flag) is not bool:
            raise _Unusual
    return _new_pod(
        ref,
        tuple(sorted(_strings(meta.get("labels")).items())),
        tuple(ips),
        host_network is True,
        node or None,
        _ip(status.get("hostIP")),
        phase or None,
        tuple(ports),
        None,  # template_of: a live pod
        owner,
        account or None,
        automount is not False,
        _annotations(meta.get("annotations")),
        tuple(names),
        ready,
        restarts,
        tuple(waiting),
        health_probes(containers) if helpers else (),
        env_targets([*containers, *init]) if helpers else (),  # init containers' env too
    )


def _container_ports(c: object, ports: list[ContainerPort]) -> str | None:
    """Adds the ports of container `c` to `ports`; its name, None if it has none."""
    if type(c) is not dict:
        raise _Unusual
    name = c.get("name")
    if type(name) is not str:
        name = _unset(name, None)
    container_ports = c.get("ports")
    if type(container_ports) is not list:
        container_ports = _unset(container_ports, ())
    for port in container_ports:
        if type(port) is not dict:
            raise _Unusual
        number, port_name = port.get("containerPort"), port.get("name")
        protocol = port.get("protocol")
        # Exact types before the lookup: True == 1 and 80.0 == 80 as keys.
        if (
            type(number) is not int
            or (port_name is not None and type(port_name) is not str)
            or (protocol is not None and type(protocol) is not str)
        ):
            raise _Unusual
        key = (port_name, number, protocol, name or "")  # "": the reference path's unnamed
        known = _CONTAINER_PORTS.get(key)
        ports.append(known if known is not None else _container_port(key))
    return name


def _container_port(key: tuple[str | None, int, str | None, str]) -> ContainerPort:
    """A container port first met (its fields' types checked); kept, as the pods of a
    workload repeat their ports."""
    port_name, number, protocol, container = key
    if not 1 <= number <= 65535:
        raise _Unusual
    known = _TCP if protocol is None else _PROTOCOLS.get(protocol)
    if known is None:
        raise _Unusual
    made = _new_container_port(port_name or None, number, known, container)
    if len(container) + len(port_name or "") <= 256:  # never keep a huge string alive
        if len(_CONTAINER_PORTS) >= 4096:
            _CONTAINER_PORTS.clear()  # a bound, whatever the input holds
        _CONTAINER_PORTS[key] = made
    return made


def _strings(value: object) -> dict[str, str]:
    """Labels or annotations, all strings. The reference path reads a number as a
    label value's text and drops other annotations without a word: unusual here."""
    if type(value) is not dict:
        return _unset(value, {})
    pairs: dict[str, str] = value
    for k, v in pairs.items():
        if type(k) is not str or type(v) is not str:
            raise _Unusual
    return pairs


def _annotations(value: object) -> tuple[tuple[str, str], ...]:
    annotations = _strings(value)
    if not annotations:
        return ()
    if not _MULTUS_KEYS.isdisjoint(annotations):
        raise _Unusual  # the reference path reads the networks and reports on them
    if LAST_APPLIED in annotations:
        return tuple(sorted((k, v) for k, v in annotations.items() if k != LAST_APPLIED))
    return tuple(sorted(annotations.items()))


def _ip(value: object) -> IPAddress | None:
    if type(value) is not str:
        return _unset(value, None)
    if not value:
        return None
    address = parse_ip(value)
    if address is None:
        raise _Unusual
    return address


# --- NetworkPolicy -----------------------------------------------------------------


def fast_network_policy(raw: dict[str, Any], ref: ObjectRef) -> NetworkPolicy | None:
    """The NetworkPolicy `parse` builds when `validation` has nothing at all to say
    (no error, no warning); None: validate and read it the reference way."""
    try:
        return _policy(raw, ref)
    except Exception:  # _Unusual, or a surprise: the reference path reports it
        return None


def _policy(raw: dict[str, Any], ref: ObjectRef) -> NetworkPolicy:
    meta = raw["metadata"]
    if type(meta) is not dict:
        raise _Unusual
    name, namespace = meta.get("name"), meta.get("namespace")
    if type(name) is not str or len(name) > 253 or not _dns_subdomain_ok(name):
        raise _Unusual  # VAL-1
    if namespace is not None and (type(namespace) is not str or not _namespace_ok(namespace)):
        raise _Unusual  # VAL-2
    for key, value in _plain(meta.get("labels"), dict, {}).items():
        _label(key, value)  # VAL-3
    annotations = _plain(meta.get("annotations"), dict, {})
    for key, value in annotations.items():
        _label_key(key)  # VAL-3: the keys of labels, any string value
        if type(value) is not str:
            raise _Unusual

    spec = _struct(_plain(raw.get("spec"), dict, {}), _SPEC_KEYS)
    selector = spec.get("podSelector")
    ingress = _rules(spec.get("ingress"), Direction.INGRESS, "from", _INGRESS_KEYS)
    egress = _rules(spec.get("egress"), Direction.EGRESS, "to", _EGRESS_KEYS)
    declared = _plain(spec.get("policyTypes"), list, [])
    if len(declared) > 2:
        raise _Unusual  # VAL-20
    if declared:
        types = frozenset(_direction(t) for t in declared)  # NP-26: used verbatim
        explicit = author_declared_types(raw)
    else:
        types = _BOTH if egress else _INGRESS_ONLY
        explicit = False
    return _new_policy(
        ref,
        _EMPTY_SELECTOR if selector is None else _selector(selector),  # NP-11
        types,
        explicit,
        ingress,
        egress,
        tuple(sorted((k, v) for k, v in annotations.items() if k != LAST_APPLIED)),
    )


def _namespace_ok(namespace: str) -> bool:
    # VAL-2: empty (the client's namespace), or a DNS-1123 label: a subdomain without dots
    return not namespace or (
        len(namespace) <= 63 and "." not in namespace and _dns_subdomain_ok(namespace)
    )


def _label(key: object, value: object) -> None:
    """VAL-3, VAL-43, VAL-44: a qualified-name key and a label value."""
    _label_key(key)
    _label_value(value)


def _label_key(key: object) -> None:
    if type(key) is not str or len(key) > _MAX_LABEL_KEY or not _label_key_ok(key):
        raise _Unusual


def _label_value(value: object) -> None:
    if type(value) is not str or len(value) > 63 or not _label_value_ok(value):
        raise _Unusual


def _struct(value: object, fields: frozenset[str]) -> dict[str, Any]:
    """A mapping of known fields only (an unknown one is a warning, or NP-12)."""
    if type(value) is not dict or not value.keys() <= fields:
        raise _Unusual
    return value


def _direction(value: object) -> Direction:
    known = _DIRECTIONS.get(value) if type(value) is str else None
    if known is None:
        raise _Unusual  # VAL-21
    return known


def _rules(
    value: object, direction: Direction, peers_key: str, fields: frozenset[str]
) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for index, item in enumerate(_plain(value, list, [])):
        rule = _struct(item, fields)
        peers = [_peer(i, p) for i, p in enumerate(_plain(rule.get(peers_key), list, []))]
        ports = [_rule_port(i, p) for i, p in enumerate(_plain(rule.get("ports"), list, []))]
        # No peers (absent or []): all peers.
        rules.append(_new_rule(direction, index, tuple(peers) if peers else None, tuple(ports)))
    return tuple(rules)


def _peer(index: int, value: object) -> Peer:
    peer = _struct(value, _PEER_KEYS)
    pods, namespaces = peer.get("podSelector"), peer.get("namespaceSelector")
    block = peer.get("ipBlock")
    if block is not None:
        if pods is not None or namespaces is not None:
            raise _Unusual  # VAL-13
        return _new_peer(index, None, None, _ip_block(block))
    if pods is None and namespaces is None:
        raise _Unusual  # VAL-11
    return _new_peer(
        index,
        None if pods is None else _selector(pods),
        None if namespaces is None else _selector(namespaces),
        None,
    )


def _ip_block(value: object) -> IPBlock:
    block = _struct(value, _IP_BLOCK_KEYS)
    cidr = _cidr(block.get("cidr"))
    excepts = tuple(_cidr(e) for e in _plain(block.get("except"), list, []))
    for e in excepts:
        # VAL-16. Neither network is IPv4-mapped IPv6 (parse_cidr warns of those), so
        # the containment Go tests needs no unwrapping; across families it is False.
        if e.network_address not in cidr or cidr.prefixlen >= e.prefixlen:
            raise _Unusual
    return IPBlock(cidr, excepts)


def _cidr(value: object) -> IPNetwork:
    if type(value) is not str or not value:
        raise _Unusual  # VAL-14
    net, problems = parse_cidr(value, "")
    if net is None or problems:
        raise _Unusual  # VAL-15, or a VAL-17/VAL-50 warning
    return net


def _rule_port(index: int, value: object) -> PolicyPort:
    item = _struct(value, _PORT_KEYS)
    protocol = item.get("protocol")
    if protocol is None:
        protocol = _TCP  # NP-60
    elif type(protocol) is not str or (protocol := _RULE_PROTOCOLS.get(protocol)) is None:
        raise _Unusual  # VAL-30
    port, end = item.get("port"), item.get("endPort")
    if type(port) is int:
        if not 1 <= port <= 65535:
            raise _Unusual  # VAL-31
        if end is not None and (type(end) is not int or not port <= end <= 65535):
            raise _Unusual  # VAL-32
    elif end is not None:
        raise _Unusual  # VAL-34, VAL-35: a range needs a numeric port
    elif port is not None and (type(port) is not str or len(port) > 15 or not _port_name_ok(port)):
        raise _Unusual  # VAL-33 (a name has a letter: never a quoted number)
    return _new_policy_port(index, protocol, port, end)


def _selector(value: object) -> LabelSelector:
    selector = _struct(value, _SELECTOR_KEYS)
    requirements: list[Requirement] = []
    for key, label in _plain(selector.get("matchLabels"), dict, {}).items():
        _label(key, label)
        requirements.append(_new_requirement(key, Operator.IN, (label,), True))
    for item in _plain(selector.get("matchExpressions"), list, []):
        expression = _struct(item, _REQUIREMENT_KEYS)
        key, operator = expression.get("key"), expression.get("operator")
        known = _OPERATORS.get(operator) if type(operator) is str else None
        if known is None:
            raise _Unusual  # VAL-40
        _label_key(key)  # VAL-43
        values = _plain(expression.get("values"), list, [])
        if bool(values) != (known is Operator.IN or known is Operator.NOT_IN):
            raise _Unusual  # VAL-41, VAL-42
        for v in values:
            _label_value(v)  # VAL-45
        requirements.append(_new_requirement(key, known, tuple(values), False))
    return _new_selector(tuple(requirements))
