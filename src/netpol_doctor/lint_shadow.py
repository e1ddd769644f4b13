"""`rule-shadowed`: a rule that admits nothing another rule does not already admit for
the same pods and direction, so removing it changes no verdict (NCA's "redundant").

Decided conservatively, on structure alone, so a report is always right: rule R of
policy P is shadowed by rule R' of policy Q (Q = P allowed) when Q is in P's namespace,
controls the direction, selects every pod P selects (Q's podSelector is implied by
P's), every peer of R lies inside one peer of R' (selector implication; ipBlock
containment net of `except`) and every port of R inside one port of R'. Coverage by
the union of several rules is not looked for. Imports `model`, `findings`,
`explain`, `lint_rules`.
"""

from __future__ import annotations

from collections.abc import Iterator

from .explain import rule_name
from .findings import Finding, Fix, Severity
from .lint_rules import LintContext, subnet
from .model import (
    NAMESPACE_NAME_LABEL,
    Direction,
    IPBlock,
    LabelSelector,
    NetworkPolicy,
    Operator,
    Peer,
    PolicyPort,
    Requirement,
    Rule,
)

__all__ = ["rule_shadowed", "rule_within", "selector_within"]


def _implies(a: Requirement, b: Requirement) -> bool:
    """Every label set satisfying `a` satisfies `b` (same key; SEL-3 semantics)."""
    if a.key != b.key:
        return False
    av, bv = set(a.values), set(b.values)
    if b.operator is Operator.IN:
        return a.operator is Operator.IN and av <= bv
    if b.operator is Operator.EXISTS:
        return a.operator in (Operator.IN, Operator.EXISTS)
    if b.operator is Operator.NOT_IN:
        return (
            (a.operator is Operator.IN and not av & bv)
            or (a.operator is Operator.NOT_IN and bv <= av)
            or a.operator is Operator.DOES_NOT_EXIST
        )
    return a.operator is Operator.DOES_NOT_EXIST


def selector_within(a: LabelSelector, b: LabelSelector) -> bool:
    """Everything `a` selects, `b` selects: each term of `b` follows from a term of `a`."""
    return all(any(_implies(ra, rb) for ra in a.requirements) for rb in b.requirements)


def _by_name(namespace: str) -> LabelSelector:
    return LabelSelector((Requirement(NAMESPACE_NAME_LABEL, Operator.IN, (namespace,)),))


def _scope(peer: Peer, policy: NetworkPolicy) -> LabelSelector:
    """The peer's namespaces as a selector: absent = the policy's own (NP-40), by its
    immutable name label (NP-80)."""
    if peer.namespace_selector is None:
        return _by_name(policy.namespace)
    return peer.namespace_selector


def _block_within(a: IPBlock, b: IPBlock) -> bool:
    """a's addresses (cidr minus excepts) are all in b's."""
    if not subnet(a.cidr, b.cidr):
        return False
    for e in b.excepts:
        if not (subnet(e, a.cidr) or subnet(a.cidr, e)):
            continue  # disjoint from a
        if subnet(a.cidr, e):
            return False
        if not any(subnet(e, ea) for ea in a.excepts):
            return False
    return True


def _peer_within(a: Peer, pa: NetworkPolicy, b: Peer, pb: NetworkPolicy) -> bool:
    if a.ip_block is not None or b.ip_block is not None:
        return (
            a.ip_block is not None
            and b.ip_block is not None
            and _block_within(a.ip_block, b.ip_block)
        )
    return selector_within(_scope(a, pa), _scope(b, pb)) and selector_within(
        a.pod_selector or LabelSelector(), b.pod_selector or LabelSelector()
    )


def _port_within(a: PolicyPort, b: PolicyPort) -> bool:
    if a.protocol is not b.protocol:
        return False
    if b.port is None:
        return True
    if a.port is None or isinstance(a.port, str) or isinstance(b.port, str):
        return a.port == b.port and a.end_port is None and b.end_port is None
    return b.port <= a.port and (a.end_port or a.port) <= (b.end_port or b.port)


def rule_within(a: Rule, pa: NetworkPolicy, b: Rule, pb: NetworkPolicy) -> bool:
    """Every (peer, port) rule `a` admits, rule `b` admits (NP-32, NP-33: absent = all)."""
    if b.peers is not None and (
        a.peers is None
        or not all(any(_peer_within(x, pa, y, pb) for y in b.peers) for x in a.peers)
    ):
        return False
    if not b.ports:
        return True
    return bool(a.ports) and all(any(_port_within(x, y) for y in b.ports) for x in a.ports)


def _covers(q: NetworkPolicy, r2: Rule, p: NetworkPolicy, r: Rule) -> bool:
    """(q, r2) makes (p, r) redundant: q selects p's pods and r2 admits all r admits."""
    return selector_within(p.pod_selector, q.pod_selector) and rule_within(r, p, r2, q)


def rule_shadowed(ctx: LintContext) -> Iterator[Finding]:
    """Rules every verdict would keep without (see the module docstring)."""
    for namespace in sorted(ctx.snapshot.policies_by_namespace):
        policies = sorted(ctx.snapshot.policies_by_namespace[namespace], key=lambda p: p.ref.name)
        entries = [(p, r) for d in Direction for p in policies if p.controls(d) for r in p.rules(d)]
        for i, (p, r) in enumerate(entries):
            for j, (q, r2) in enumerate(entries):
                if i == j or r.direction is not r2.direction or not _covers(q, r2, p, r):
                    continue
                if j > i and _covers(p, r, q, r2):
                    continue  # equivalent rules: only the later one is reported
                yield _finding(p, r, q, r2)
                break


def _finding(p: NetworkPolicy, r: Rule, q: NetworkPolicy, r2: Rule) -> Finding:
    everything = r2.peers is None and not r2.ports
    other = rule_name(q, r2, r2.direction)
    what = (
        f"{other} admits all {r.direction.value.lower()} traffic"
        if everything
        else f"{other} admits every peer and port it does"
    )
    scope = "" if q is p else " (for all the pods this policy selects, and possibly more)"
    msg = (
        f"{rule_name(p, r, r.direction)} is shadowed: {what}{scope}, so removing it changes "
        "no verdict"
    )
    refs = (p.ref,) if q is p else (p.ref, q.ref)
    fix = Fix("delete the redundant rule, or narrow the other rule if it admits more than meant")
    return Finding("rule-shadowed", Severity.INFO, msg, refs, r.path, fix)
