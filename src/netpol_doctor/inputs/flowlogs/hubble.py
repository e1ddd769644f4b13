"""Hubble (Cilium) flows: the JSON lines of `hubble observe -o json` / `-o jsonpb`
(each a GetFlowsResponse, `{"flow": {...}, "node_name": ..., "time": ...}`) and bare
`Flow` objects (the legacy `-o json`, Hubble exporter files).

Field names and enum values are those of Cilium's own definition, api/v1/flow/flow.proto
(github.com/cilium/cilium; read at the copy vendored in cilium/hubble 75d3a68), as
protojson writes them with `UseProtoNames` (hubble/pkg/printer, flow.pb.json.go):
`verdict`, `drop_reason_desc`, `IP.source`/`IP.destination`, `l4.TCP.destination_port`,
`source`/`destination` Endpoint (`namespace`, `pod_name`, `labels`), `traffic_direction`,
`is_reply`, `Type`, `node_name`, `egress_denied_by`/`ingress_denied_by` and
`*_allowed_by` (Policy: `name`, `namespace`, `kind`). protojson also reads lowerCamelCase
names and enum numbers, so both are accepted here.
"""

from __future__ import annotations

from typing import Any

from .records import FlowPeer, FlowRecord, Observed
from .timeparse import rfc3339

__all__ = ["HubbleParser", "NotAFlow", "looks_like_hubble", "parse_hubble"]

#: Verdict enum (flow.proto): the ones that are a policy outcome
_VERDICTS = {
    "FORWARDED": Observed.ALLOWED,
    "REDIRECTED": Observed.ALLOWED,  # to the L7 proxy: L3/L4 policy admitted it
    "DROPPED": Observed.DROPPED,
    "AUDIT": Observed.AUDIT,
    1: Observed.ALLOWED,
    5: Observed.ALLOWED,
    2: Observed.DROPPED,
    4: Observed.AUDIT,
}
#: DropReason numbers of the two policy drops, for logs that write numbers
_DROP_NAMES = {133: "POLICY_DENIED", 181: "POLICY_DENY", 189: "AUTH_REQUIRED"}
_L4 = (("TCP", "TCP"), ("UDP", "UDP"), ("SCTP", "SCTP"), ("ICMPv4", "ICMP"), ("ICMPv6", "ICMP"))

_EMPTY: dict[str, Any] = {}
_FLOW_KEYS = frozenset({"verdict", "IP", "l4", "source", "destination", "Type", "event_type"})


class NotAFlow(Exception):
    """A valid line that is not a flow (node_status, lost_events): skipped, not a problem."""


def looks_like_hubble(doc: Any) -> bool:
    return isinstance(doc, dict) and (
        isinstance(doc.get("flow"), dict)
        or "node_status" in doc
        or "lost_events" in doc
        or len(_FLOW_KEYS & doc.keys()) >= 2
    )


def _get(d: Any, snake: str, camel: str | None = None) -> Any:
    if not isinstance(d, dict):
        return None
    value = d.get(snake)
    if value is None and camel is not None:
        value = d.get(camel)
    return value


def _peer(
    endpoint: dict[str, Any], ip: Any, seen: dict[tuple[Any, ...], FlowPeer] | None
) -> FlowPeer:
    ns = endpoint.get("namespace")
    pod = endpoint.get("pod_name", endpoint.get("podName"))
    key = (ip, ns, pod)
    if seen is not None:
        found = seen.get(key)
        if found is not None:
            return found
    peer = FlowPeer(
        ip=ip if isinstance(ip, str) and ip else None,
        namespace=ns if isinstance(ns, str) and ns else None,
        pod=pod if isinstance(pod, str) and pod else None,
    )
    if seen is not None and len(seen) < _PEERS_KEPT:
        seen[key] = peer
    return peer


#: distinct (address, namespace, pod) kept per log: the same few repeat millions of times
_PEERS_KEPT = 100_000


class HubbleParser:
    """`parse_hubble` that shares the peers of one log between its records."""

    def __init__(self) -> None:
        self.peers: dict[tuple[Any, ...], FlowPeer] = {}

    def __call__(self, doc: Any) -> FlowRecord | None:
        return parse_hubble(doc, self.peers)


def _policies(flow: dict[str, Any], *keys: tuple[str, str]) -> tuple[str, ...]:
    out: list[str] = []
    for snake, camel in keys:
        items = _get(flow, snake, camel)
        if not isinstance(items, list):
            continue
        for p in items:
            name = _get(p, "name")
            if not isinstance(name, str) or not name:
                continue
            kind = _get(p, "kind") or "Policy"
            ns = _get(p, "namespace")
            out.append(f"{kind} {ns}/{name}" if ns else f"{kind} {name}")
    return tuple(dict.fromkeys(out))


def parse_hubble(
    doc: Any, peers: dict[tuple[Any, ...], FlowPeer] | None = None
) -> FlowRecord | None:
    """One decoded JSON line -> a record; None when the flow carries no policy verdict
    or is a reply (policy judges the connection's first direction); raises
    `NotAFlow` for other response types and ValueError with a sentence for a line
    that is not a flow at all."""
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    flow = doc.get("flow")
    if flow is None:
        if "node_status" in doc or "lost_events" in doc:
            raise NotAFlow
        flow = doc
    if not isinstance(flow, dict):
        raise ValueError("field flow is not an object")
    get = flow.get  # the hot path: one lookup per field, the camelCase one if absent
    verdict = get("verdict")
    if verdict is None:
        raise ValueError("the flow has no verdict field")
    observed = _VERDICTS.get(verdict)
    if observed is None:
        return None  # TRACED, TRANSLATED, ERROR, VERDICT_UNKNOWN: no policy outcome
    reply = get("is_reply", get("isReply"))
    if reply is True:
        return None
    ip = get("IP", get("ip")) or _EMPTY
    if not isinstance(ip, dict):
        raise ValueError("field IP is not an object")
    protocol, port = "", None
    l4 = get("l4") or _EMPTY
    if not isinstance(l4, dict):
        raise ValueError("field l4 is not an object")
    for key, name in _L4:
        layer = l4.get(key)
        if isinstance(layer, dict):
            protocol = name
            if name != "ICMP":
                raw = layer.get("destination_port", layer.get("destinationPort"))
                port = raw if isinstance(raw, int) and raw > 0 else None
            break
    if not protocol:
        return None  # no L4 (ARP, IGMP, VRRP): nothing NetworkPolicy decides
    reason = get("drop_reason_desc", get("dropReasonDesc"))
    if isinstance(reason, int):
        reason = _DROP_NAMES.get(reason, str(reason))
    if observed is Observed.DROPPED and get("Type") in ("L7", 2):
        reason = f"{reason or 'L7'} (L7 proxy)"
    when = get("time") or doc.get("time")
    node = get("node_name", get("nodeName")) or doc.get("node_name")
    direction = get("traffic_direction", get("trafficDirection"))
    src, dst = get("source") or _EMPTY, get("destination") or _EMPTY
    if not isinstance(src, dict) or not isinstance(dst, dict):
        raise ValueError("field source or destination is not an object")
    return FlowRecord(
        source=_peer(src, ip.get("source"), peers),
        destination=_peer(dst, ip.get("destination"), peers),
        protocol=protocol,
        port=port,
        observed=observed,
        time=rfc3339(when) if isinstance(when, str) else None,
        reason=reason if isinstance(reason, str) and reason != "DROP_REASON_UNKNOWN" else None,
        policies=_policies(
            flow,
            ("egress_denied_by", "egressDeniedBy"),
            ("ingress_denied_by", "ingressDeniedBy"),
        )
        if observed is not Observed.ALLOWED
        else _policies(
            flow,
            ("egress_allowed_by", "egressAllowedBy"),
            ("ingress_allowed_by", "ingressAllowedBy"),
        ),
        node=node if isinstance(node, str) and node else None,
        direction=direction if isinstance(direction, str) else None,
    )
