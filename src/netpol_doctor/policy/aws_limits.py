"""The AWS VPC CNI network-policy agent's port-entry limit, per peer address (CNI-10).

What the agent does, from its source (aws/aws-network-policy-agent):

- `pkg/utils/utils.go`: each BPF map value is `TRIE_VALUE_LENGTH = 288` bytes, 24
  entries of (protocol, start port, end port); `ComputeTrieValue` writes entries until
  the value is full and silently drops the rest (the C side: `MAX_PORT_PROTOCOL 24`).
- `pkg/ebpf/bpf_client.go` (later `pkg/fwruleprocessor`)
  `ComputeMapEntriesFromEndpointRules`: the map is keyed by
  address (a /32 for each peer pod, the CIDR of an ipBlock); the entries of one key are
  the rules naming that address, plus those of every ipBlock CIDR containing it, plus
  the catch-all ones, all protocols together; a rule without ports adds one "any
  protocol" entry. `mergeDuplicateL4Info` then removes duplicates through a Go map and
  rebuilds the list by iterating it, an order Go randomises.

So, for one flow side: the entries the agent holds for the other end's address are the
distinct (protocol, port, endPort) of every rule whose peers match that end. Up to 24,
all are kept. Past 24, *which* 24 are kept is random, so a port the policies admit may
or may not be enforced as admitted: the answer is `unknown`, never `allowed`.
(AWS's documentation states the limit per protocol per selector; the source counts per
address across protocols, which is never fewer.) Not modelled, so left `unknown`: a
0.0.0.0/0 rule without ports sets the agent's allow-all flag, whose entry is written
first and always kept.

Source read at aws/aws-network-policy-agent commits 00e231cf (utils.go) and the
fwruleprocessor of the current tree; the C side in `pkg/ebpf/c/tc.v4ingress.bpf.c`.

Imports `model`, `selectors`, `engine`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from ..engine import Decision, DirectionResult, Verdict, selecting_policies
from ..model import Direction, NetworkPolicy, Pod, Protocol, Rule
from ..selectors import Tri
from ..snapshot import Snapshot

__all__ = [
    "AWS_CNI",
    "ENTRY_LIMIT",
    "Entry",
    "Overflow",
    "apply_limit",
    "may_overflow",
    "overflows",
]

AWS_CNI = "aws-vpc-cni"
#: TRIE_VALUE_LENGTH 288 / 12 bytes per (protocol, port, endPort) entry
ENTRY_LIMIT = 24

#: (protocol or None for "any protocol", port or name or None, endPort)
Entry = tuple[Protocol | None, int | str | None, int | None]


@dataclass(frozen=True, slots=True)
class Overflow:
    """One side of a flow whose admitting entries may be among those the agent drops."""

    direction: Direction
    #: the distinct entries the agent holds for the other end's address
    entries: tuple[Entry, ...]
    #: the policies contributing them, and the ones among them admitting this flow
    policies: tuple[NetworkPolicy, ...]
    admitting: tuple[NetworkPolicy, ...]

    @property
    def dropped(self) -> int:
        return len(self.entries) - ENTRY_LIMIT


def _entries(rule: Rule) -> list[Entry]:
    if not rule.ports:
        return [(None, None, None)]
    return [(p.protocol, p.port, p.end_port) for p in rule.ports]


def _side(side: DirectionResult) -> Overflow | None:
    if side.result is not Tri.YES or side.exemption is not None:
        return None
    seen: dict[Entry, None] = {}
    policies: dict[str, NetworkPolicy] = {}
    for o in side.outcomes:
        # A rule whose peers may match also puts its entries under the address.
        if o.rule is None or o.peers_result is Tri.NO:
            continue
        policies.setdefault(o.policy.ref.key, o.policy)
        for e in _entries(o.rule):
            seen.setdefault(e, None)
    if len(seen) <= ENTRY_LIMIT:
        return None
    admitting = {o.policy.ref.key: o.policy for o in side.admitted_by}
    return Overflow(
        side.direction,
        tuple(seen),
        tuple(policies.values()),
        tuple(admitting.values()),
    )


def overflows(decision: Decision) -> tuple[Overflow, ...]:
    """The sides of this flow that policy admits through an over-full entry list."""
    if decision.semantics.cni != AWS_CNI:
        return ()
    return tuple(o for o in (_side(decision.egress), _side(decision.ingress)) if o is not None)


def apply_limit(decision: Decision) -> Decision:
    """An `allowed` that rests on entries the agent may drop becomes `unknown`."""
    if decision.verdict is not Verdict.ALLOWED or not overflows(decision):
        return decision
    return replace(decision, verdict=Verdict.UNKNOWN)


def overflow_zones(policies: Iterable[NetworkPolicy]) -> set[tuple[str, Direction]]:
    """(namespace, direction) where some address's entry list could pass the limit:
    all entries of one namespace's policies for one direction bound those of any pod in
    it. Cheap; tells `matrix` which pairs need the exact, per-pair answer."""
    union: dict[tuple[str, Direction], set[Entry]] = {}
    for p in policies:
        for d in Direction:
            bucket = union.setdefault((p.namespace, d), set())
            for rule in p.rules(d):
                bucket.update(_entries(rule))
    return {zone for zone, entries in union.items() if len(entries) > ENTRY_LIMIT}


def may_overflow(policies: Iterable[NetworkPolicy]) -> bool:
    return bool(overflow_zones(policies))


def overflow_subjects(snapshot: Snapshot, pods: Iterable[Pod]) -> set[tuple[str, Direction]]:
    """(pod key, direction) whose selecting policies hold more than the limit's worth of
    entries in all: only their flows can be affected."""
    zones = overflow_zones(snapshot.policies)
    out: set[tuple[str, Direction]] = set()
    for pod in pods:
        for d in Direction:
            if (pod.namespace, d) not in zones:
                continue
            entries: set[Entry] = set()
            for p in selecting_policies(snapshot, pod):
                if p.controls(d):
                    for rule in p.rules(d):
                        entries.update(_entries(rule))
            if len(entries) > ENTRY_LIMIT:
                out.add((pod.key, d))
    return out
