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

__all__ = ["looks_like_hubble", "parse_hubble"]

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


def _peer(endpoint: Any, ip: Any) -> FlowPeer:
    ns = _get(endpoint, "namespace")
    pod = _get(endpoint, "pod_name", "podName")
    return FlowPeer(
        ip=ip if isinstance(ip, str) and ip else None,
        namespace=ns if isinstance(ns, str) and ns else None,
        pod=pod if isinstance(pod, str) and pod else None,
    )


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


def parse_hubble(doc: Any) -> FlowRecord | None:
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
    verdict = _get(flow, "verdict")
    if verdict is None:
        raise ValueError("the flow has no verdict field")
    observed = _VERDICTS.get(verdict)
    if observed is None:
        return None  # TRACED, TRANSLATED, ERROR, VERDICT_UNKNOWN: no policy outcome
    if _get(flow, "is_reply", "isReply") is True:
        return None
    ip = _get(flow, "IP", "ip") or {}
    if not isinstance(ip, dict):
        raise ValueError("field IP is not an object")
    protocol, port = "", None
    l4 = _get(flow, "l4") or {}
    for key, name in _L4:
        if isinstance(l4, dict) and isinstance(l4.get(key), dict):
            protocol = name
            if name != "ICMP":
                raw = _get(l4[key], "destination_port", "destinationPort")
                port = raw if isinstance(raw, int) and raw > 0 else None
            break
    if not protocol:
        return None  # no L4 (ARP, IGMP, VRRP): nothing NetworkPolicy decides
    reason = _get(flow, "drop_reason_desc", "dropReasonDesc")
    if isinstance(reason, int):
        reason = _DROP_NAMES.get(reason, str(reason))
    if observed is Observed.DROPPED and _get(flow, "Type") in ("L7", 2):
        reason = f"{reason or 'L7'} (L7 proxy)"
    when = _get(flow, "time") or doc.get("time")
    node = _get(flow, "node_name", "nodeName") or doc.get("node_name")
    direction = _get(flow, "traffic_direction", "trafficDirection")
    return FlowRecord(
        source=_peer(_get(flow, "source"), _get(ip, "source")),
        destination=_peer(_get(flow, "destination"), _get(ip, "destination")),
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
