"""Who a pod talks to, learnt from evidence rather than from its env: the flows a log
recorded (`triage --flows`) and the flows a `verify` contract declares (`triage
--contract`). Each becomes an `Edge`: one source, one destination, one port, asked of
`diagnose` for the pod being triaged.

Owns: `Edge`, `edges_from_flows`, `edges_from_contract`. Must not import render or
shells.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..contract import Contract, Side
from ..engine import Verdict
from ..inputs.flowlogs.records import FlowRecord, Observed
from ..model import Pod, Protocol
from ..snapshot import Snapshot
from .flowmap import Resolver, workload_label

__all__ = ["MAX_EDGES", "Edge", "edges_from_contract", "edges_from_flows"]

#: Distinct (source, destination, port) a log may add: a scan of the internet from one
#: pod is one group per address, and triage is not the place to list them all.
MAX_EDGES = 10_000


@dataclass(frozen=True, slots=True)
class Edge:
    """Traffic between two ends. `*_group` is what a pod is recognised by (its
    workload, `ns/name`, or a Service `svc/ns/name`); `*_spec` is what `diagnose` is
    asked for that end (a pod key, `svc/...`, `ip/...`, `dns`, `apiserver`)."""

    source_group: str
    source_spec: str
    destination_group: str
    destination_spec: str
    port: int
    protocol: Protocol
    how: str  # "seen in the flow log (3 records, dropped)", "contract flow web-to-api"

    def leaves(self, pod: Pod) -> bool:
        return self.source_group in (pod.key, workload_label(pod))

    def enters(self, pod: Pod) -> bool:
        return self.destination_group in (pod.key, workload_label(pod))


_PROTOCOLS = {p.value: p for p in Protocol}


def edges_from_flows(snapshot: Snapshot, records: Iterable[object]) -> list[Edge]:
    """Edges from flow records (`inputs.flowlogs.read_records` items; problems and the
    format marker are skipped), forwarded or dropped alike: a dependency the data plane
    drops is exactly what triage is after."""
    resolve = Resolver(snapshot)
    seen: dict[tuple[str, str, int, Protocol], list[int]] = {}
    specs: dict[tuple[str, str, int, Protocol], tuple[str, str]] = {}
    for item in records:
        record = item[1] if isinstance(item, tuple) else None
        if not isinstance(record, FlowRecord) or record.port is None:
            continue
        protocol: Protocol | None = _PROTOCOLS.get(record.protocol)
        if protocol is None or protocol is Protocol.ICMP:
            continue
        src = resolve(record.source, False)
        dst = resolve(record.destination, True)
        if src.spec is None or dst.spec is None:
            continue
        key: tuple[str, str, int, Protocol] = (src.label, dst.label, record.port, protocol)
        counts = seen.get(key)
        if counts is None:
            if len(seen) >= MAX_EDGES:
                continue
            counts = seen[key] = [0, 0]
            specs[key] = (src.spec, dst.spec)
        counts[record.observed is Observed.DROPPED] += record.count
    edges = []
    for key, (passed, dropped) in seen.items():
        parts = [f"{passed} forwarded"] if passed else []
        parts += [f"{dropped} dropped"] if dropped else []
        how = f"seen in the flow log: {', '.join(parts)}"
        edges.append(Edge(key[0], specs[key][0], key[1], specs[key][1], key[2], key[3], how))
    return edges


def edges_from_contract(snapshot: Snapshot, contract: Contract) -> list[Edge]:
    """Edges for the contract's `allowed` flows that name a port: each end stands for
    the pods it selects (one edge per selected workload), or for its target."""
    edges: list[Edge] = []
    for flow in contract.flows:
        if flow.expect is not Verdict.ALLOWED or flow.port is None:
            continue
        how = f"contract flow {flow.name}, {contract.path}"
        sources = _ends(snapshot, flow.source)
        destinations = _ends(snapshot, flow.destination)
        for s_group, s_spec in sources:
            for d_group, d_spec in destinations:
                if s_spec == d_spec:
                    continue
                edges.append(Edge(s_group, s_spec, d_group, d_spec, flow.port, flow.protocol, how))
                if len(edges) >= MAX_EDGES:
                    return edges
    return edges


def _ends(snapshot: Snapshot, side: Side) -> list[tuple[str, str]]:
    """(group, spec) per workload the side selects, one pod standing for each; a target
    (a Service, an address, DNS, the API server) as itself."""
    if side.target is not None:
        return [(side.target, side.target)]
    chosen: dict[str, str] = {}
    for pod in sorted(snapshot.pods, key=lambda p: p.key):
        if pod.is_template or not side.selects(snapshot, pod):
            continue
        chosen.setdefault(workload_label(pod), pod.key)
    return sorted(chosen.items())
