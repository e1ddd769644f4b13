"""One flow record, whatever log it came from: the vocabulary the readers produce and
`analysis.flows` consumes. Imports nothing from the package."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["FlowPeer", "FlowRecord", "LineProblem", "Observed"]


class Observed(Enum):
    """What the data plane did, as the log says."""

    ALLOWED = "allowed"
    DROPPED = "dropped"
    #: Cilium policy audit mode: would have been dropped, was let through
    AUDIT = "audit"


@dataclass(frozen=True, slots=True)
class FlowPeer:
    """One end as the log names it; any field may be missing."""

    ip: str | None = None
    namespace: str | None = None
    pod: str | None = None
    #: an aggregated name (Calico `*_name_aggr`, e.g. `api-7c9d8b6f5-*`)
    name_glob: str | None = None
    #: Calico `net` endpoints: `pvt` or `pub` (an outside address of that kind)
    outside: str | None = None


@dataclass(frozen=True, slots=True)
class FlowRecord:
    source: FlowPeer
    destination: FlowPeer
    protocol: str  # TCP, UDP, SCTP, ICMP (ICMPv6 too), or what the log said
    port: int | None  # destination port; None for ICMP or when the log has none
    observed: Observed
    #: seconds since the epoch (UTC); None when the record has no time
    time: float | None
    count: int = 1  # records this line stands for (Calico num_flows, Antrea dedup)
    #: why it was dropped, as the log says (Hubble drop_reason_desc)
    reason: str | None = None
    #: policies the log says decided it, as "Kind namespace/name" or "Kind name"
    policies: tuple[str, ...] = ()
    node: str | None = None
    #: the log's own direction word (INGRESS/EGRESS), when it has one
    direction: str | None = None


@dataclass(frozen=True, slots=True)
class LineProblem:
    """A line that is not a record of the format: where, and one sentence why."""

    line: int
    message: str
