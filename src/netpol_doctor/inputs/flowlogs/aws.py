"""AWS VPC CNI network policy agent flow logs (aws/aws-network-policy-agent,
`--enable-policy-event-logs`), in the two shapes the agent writes them
(pkg/ebpf/events/events.go at c8619c0):

- the node's log, `/var/log/aws-routed-eni/network-policy-agent.log`: zap JSON lines
  (`ts` ISO8601, `msg`) whose message is
  `Flow Info: Src IP: A Src Port: P Dest IP: B Dest Port: Q Proto TCP Verdict DENY
  Direction ingress, Tier NETWORK_POLICY` (IPv6 builds write `Proto: `, `Verdict: `,
  `Direction: `, ` Tier: `);
- CloudWatch (`--enable-cloudwatch-logs`): the message
  `Node: NAME;SIP: A;SPORT: P;DIP: B;DPORT: Q;PROTOCOL: TCP;PolicyVerdict: DENY;Tier: T`
  (older agents: without `;Tier:`), as a line of text or inside an exported event's
  JSON (`message`, `timestamp` in milliseconds).

Verdicts (getVerdict): `ACCEPT` -> allowed, `DENY` -> dropped, `EXPIRED/DELETED` ->
not a decision. DENY is always logged; ACCEPT only at log level debug (README). Other
lines of the agent's log are not flows and are skipped.
"""

from __future__ import annotations

import re
from typing import Any

from .records import FlowPeer, FlowRecord, Observed
from .timeparse import rfc3339

__all__ = ["looks_like_aws", "parse_aws"]

_FLOW_INFO = re.compile(
    r"Flow Info: Src IP: (?P<sip>\S+) Src Port: (?P<sport>\d+) Dest IP: (?P<dip>\S+) "
    r"Dest Port: (?P<dport>\d+) Proto:? (?P<proto>ANY PROTOCOL|\S+) Verdict:? (?P<verdict>\S+) "
    r"Direction:? (?P<direction>\w+),?(?: Tier:? (?P<tier>\w+))?"
)
_CLOUDWATCH = re.compile(
    r"Node: (?P<node>[^;]*);SIP: (?P<sip>[^;]+);SPORT: (?P<sport>\d+);DIP: (?P<dip>[^;]+);"
    r"DPORT: (?P<dport>\d+);PROTOCOL: (?P<proto>[^;]+);PolicyVerdict: (?P<verdict>[^;\s\"]+)"
    r"(?:;Tier: (?P<tier>[^;\s\"]+))?"
)
_VERDICTS = {"ACCEPT": Observed.ALLOWED, "DENY": Observed.DROPPED}
_MARKERS = ("Flow Info: Src IP:", ";PolicyVerdict: ")


def looks_like_aws(line: str) -> bool:
    return any(m in line for m in _MARKERS)


def parse_aws(line: str, doc: Any = None) -> FlowRecord | None:
    """One line (and its decoded JSON, if it is JSON) -> a record; None for the
    agent's other lines and for EXPIRED/DELETED."""
    text, when = line, None
    if isinstance(doc, dict):
        message = doc.get("msg", doc.get("message"))
        if not isinstance(message, str):
            return None
        text = message
        ts = doc.get("ts", doc.get("timestamp"))
        if isinstance(ts, str):
            when = rfc3339(ts)
        elif isinstance(ts, int | float):
            when = ts / 1000 if ts > 1e11 else float(ts)  # CloudWatch: milliseconds
    elif line[:1].isdigit():
        when = rfc3339(line.split(maxsplit=1)[0])  # an export with a leading time
    m = _FLOW_INFO.search(text) or _CLOUDWATCH.search(text)
    if m is None:
        return None
    observed = _VERDICTS.get(m["verdict"])
    if observed is None:
        return None
    proto = m["proto"].upper()
    port = int(m["dport"])
    groups = m.groupdict()
    direction = groups.get("direction")
    return FlowRecord(
        source=FlowPeer(ip=m["sip"]),
        destination=FlowPeer(ip=m["dip"]),
        protocol=proto,
        port=port if 0 < port < 65536 and proto not in ("ICMP",) else None,
        observed=observed,
        time=when,
        reason=f"tier {groups['tier']}" if groups.get("tier") else None,
        node=groups.get("node") or None,
        direction=direction.upper() if direction else None,
    )
