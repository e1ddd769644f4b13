"""Calico flow logs: the JSON lines Felix writes for fluentd/Elasticsearch
(`/var/log/calico/flowlogs/flows.log`; Calico Enterprise and Calico Cloud).

Fields as Felix marshals them, projectcalico/calico felix/collector/flowlog
`JSONOutput` (documented at docs.tigera.io, "Flow log data types"): `start_time`,
`end_time` (Unix seconds), `action` (`allow`/`deny`), `reporter` (`src`/`dst`),
`proto` (`tcp`, `udp`, `icmp`, `sctp`, `icmp6` or a number), `source_ip`,
`source_namespace` (`-`: not namespaced), `source_name` (`-` when aggregated),
`source_name_aggr` (e.g. `api-7c9d8b6f5-*`; `pvt`/`pub` for a network endpoint),
`source_type` (`wep`, `hep`, `ns`, `net`), the same with `dest_`, `dest_port`,
`dest_service_namespace`/`dest_service_name`, `num_flows`, and
`policies.enforced_policies` (older logs: `policies.all_policies`), strings
`<index>|<tier>|<name>|<action>|<rule>`.
"""

from __future__ import annotations

from typing import Any

from .records import FlowPeer, FlowRecord, Observed

__all__ = ["looks_like_calico", "parse_calico"]

_ACTIONS = {"allow": Observed.ALLOWED, "deny": Observed.DROPPED}
#: felix/collector/flowlog protoNames
_PROTOCOLS = {
    "tcp": "TCP",
    "udp": "UDP",
    "sctp": "SCTP",
    "icmp": "ICMP",
    "icmp6": "ICMP",
    "6": "TCP",
    "17": "UDP",
    "132": "SCTP",
    "1": "ICMP",
    "58": "ICMP",
}


def looks_like_calico(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and "action" in doc
        and ("source_namespace" in doc or "source_name_aggr" in doc or "reporter" in doc)
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value not in ("", "-") else None


def _peer(doc: dict[str, Any], side: str) -> FlowPeer:
    kind = doc.get(f"{side}_type")
    aggr = _text(doc.get(f"{side}_name_aggr"))
    name = _text(doc.get(f"{side}_name"))
    outside = aggr if kind == "net" and aggr in ("pvt", "pub") else None
    return FlowPeer(
        ip=_text(doc.get(f"{side}_ip")),
        namespace=_text(doc.get(f"{side}_namespace")),
        pod=name if kind == "wep" else None,
        name_glob=aggr if kind == "wep" and aggr and name is None else None,
        outside=outside,
    )


def _policies(doc: dict[str, Any]) -> tuple[str, ...]:
    pols = doc.get("policies")
    if not isinstance(pols, dict):
        return ()
    items = pols.get("enforced_policies") or pols.get("all_policies") or []
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            parts = item.split("|")
            # <index>|<tier>|<name>|<action>|<rule>: the name and what it did
            out.append(f"Calico {parts[2]} ({parts[3]})" if len(parts) >= 4 else f"Calico {item}")
    return tuple(dict.fromkeys(out))


def parse_calico(doc: Any) -> FlowRecord | None:
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    action = doc.get("action")
    observed = _ACTIONS.get(action) if isinstance(action, str) else None
    if observed is None:
        raise ValueError(f"field action is {action!r}, not allow or deny")
    proto = doc.get("proto")
    protocol = _PROTOCOLS.get(str(proto).lower(), str(proto).upper()) if proto is not None else ""
    port = doc.get("dest_port")
    count = doc.get("num_flows")
    start, end = doc.get("start_time"), doc.get("end_time")
    when = end if isinstance(end, int | float) else start
    return FlowRecord(
        source=_peer(doc, "source"),
        destination=_peer(doc, "dest"),
        protocol=protocol,
        port=port if isinstance(port, int) and port > 0 and protocol != "ICMP" else None,
        observed=observed,
        time=float(when) if isinstance(when, int | float) else None,
        count=count if isinstance(count, int) and count > 0 else 1,
        policies=_policies(doc),
        node=_text(doc.get("host")),
        direction={"src": "EGRESS", "dst": "INGRESS"}.get(str(doc.get("reporter"))),
    )
