"""Antrea NetworkPolicy audit logs: `/var/log/antrea/networkpolicy/np.log` on each Node.

The line format is the one documented in antrea-io/antrea docs/antrea-network-policy.md
("Audit logging"), space separated:

    <yyyy/mm/dd> <time> <ovs-table-name> <policy-reference> <rule-name> <direction>
    <action> <openflow-priority> <applied-to-reference> <source-ip> <source-port>
    <destination-ip> <destination-port> <protocol> <packet-length> <log-label>
    [<n> packets in <duration>]

`<nil>` marks an empty field. The policy reference is `Kind:namespace/name`
(`K8sNetworkPolicy:default/allow-tcp-80`, `AntreaNetworkPolicy:ns/name`,
`AntreaClusterNetworkPolicy:name`); the implicit default drop of an isolated pod is the
bare `K8sNetworkPolicy`. Actions: Allow, Drop, Reject, Redirect (L7), Pass. The time is
the Node's clock as the agent's logger writes it; it is read as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .records import FlowPeer, FlowRecord, Observed

__all__ = ["looks_like_antrea", "parse_antrea"]

_START = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}")
_DEDUP = re.compile(r"\[(\d+) packets in [^\]]*\]\s*$")
_ACTIONS = {
    "Allow": Observed.ALLOWED,
    "Redirect": Observed.ALLOWED,  # to the L7 engine: L3/L4 admitted it
    "Drop": Observed.DROPPED,
    "Reject": Observed.DROPPED,
}
_KINDS = {
    "K8sNetworkPolicy": "NetworkPolicy",
    "AntreaNetworkPolicy": "AntreaNetworkPolicy",
    "AntreaClusterNetworkPolicy": "AntreaClusterNetworkPolicy",
    "AdminNetworkPolicy": "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy": "BaselineAdminNetworkPolicy",
}
_FIELDS = 16  # date, time and the 14 documented fields up to the log label


def looks_like_antrea(line: str) -> bool:
    return bool(_START.match(line))


def _nil(text: str) -> str | None:
    return None if text in ("<nil>", "") else text


def _port(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None


def parse_antrea(line: str) -> FlowRecord | None:
    dedup = _DEDUP.search(line)
    count = int(dedup.group(1)) if dedup else 1
    head = line[: dedup.start()] if dedup else line
    f = head.split()
    if len(f) < _FIELDS - 1 or not _START.match(line):
        raise ValueError(
            f"{len(f)} fields where an Antrea np.log line has {_FIELDS} "
            "(date time table policy rule direction action priority applied-to src-ip "
            "src-port dst-ip dst-port protocol length label)"
        )
    date, clock, _table, ref, rule, direction, action = f[:7]
    applied_to, src_ip, _src_port, dst_ip, dst_port, proto = f[8:14]
    observed = _ACTIONS.get(action)
    if observed is None:
        if action == "Pass":
            return None  # handed on to the next tier: not the final verdict
        raise ValueError(f"action {action!r} is not Allow, Drop, Reject, Redirect or Pass")
    try:
        when = datetime.strptime(f"{date} {clock}", "%Y/%m/%d %H:%M:%S.%f")
    except ValueError:
        try:
            when = datetime.strptime(f"{date} {clock}", "%Y/%m/%d %H:%M:%S")
        except ValueError:
            raise ValueError(f"{date} {clock} is not a time") from None
    kind, _, name = ref.partition(":")
    policy = f"{_KINDS.get(kind, kind)} {name}" if name else None
    target_ns, _, target_pod = (_nil(applied_to) or "").partition("/")
    target = FlowPeer(
        ip=None, namespace=target_ns or None, pod=target_pod or None
    )  # the pod the rule is applied to
    src = FlowPeer(ip=_nil(src_ip))
    dst = FlowPeer(ip=_nil(dst_ip))
    if direction == "Ingress" and target.pod:
        dst = FlowPeer(ip=dst.ip, namespace=target.namespace, pod=target.pod)
    elif direction == "Egress" and target.pod:
        src = FlowPeer(ip=src.ip, namespace=target.namespace, pod=target.pod)
    protocol = proto.upper() if proto != "<nil>" else ""
    return FlowRecord(
        source=src,
        destination=dst,
        protocol="ICMP" if protocol.startswith("ICMP") else protocol,
        port=None if protocol.startswith("ICMP") else _port(dst_port),
        observed=observed,
        time=when.replace(tzinfo=UTC).timestamp(),
        count=count,
        reason=f"rule {rule}"
        if _nil(rule)
        else (None if name else "the default drop of a pod isolated by NetworkPolicy"),
        policies=(policy,) if policy else (),
        direction=direction.upper() if direction in ("Ingress", "Egress") else None,
    )
