"""The shared shape of policy families beyond networking.k8s.io/v1: what each family
module (admin tiers, Cilium, Calico) answers for one direction of one flow, so the
engine can combine them in data-plane order without knowing their rule syntax.

A family module exposes:

    compile(objects: list[ExtendedObject]) -> tuple[list[<its compiled policy>], list[Finding]]
    direction(ctx: FlowSide) -> FamilyVerdict

Imports `model`, `selectors`, `snapshot`, `engine` (types only), `parse`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from .engine import DirectionResult, Endpoint, Semantics
from .model import Direction, ObjectRef, Protocol
from .selectors import Tri
from .snapshot import Snapshot

T = TypeVar("T")

__all__ = ["Action", "FamilyVerdict", "FlowSide", "Note", "Step", "derived"]


def derived(snapshot: Snapshot, key: str, build: Callable[[], T]) -> T:
    """A value computed from the snapshot once and kept on it (`Snapshot.memo`, not
    saved by `snapshot pack`, which stores only the Snapshot's fields)."""
    cache = snapshot.memo
    if key not in cache:
        cache[key] = build()
    return cache[key]  # type: ignore[no-any-return]


class Action(Enum):
    ALLOW = "allow"  # ANP Allow / CNP Accept / Calico Allow / Cilium allow rule
    DENY = "deny"
    PASS = "pass"  # skip to the next tier (ANP/CNP Pass, Calico Pass)
    NONE = "none"  # nothing in this family decided: fall through


@dataclass(frozen=True, slots=True)
class Step:
    """One line of the explanation: which object and rule did what, and why."""

    ref: ObjectRef
    rule: str | None  # e.g. "spec.ingress[2]" (None: the policy as a whole)
    action: Action
    matched: Tri
    reason: str  # plain words: "from[0] namespaces team=shop: matches"


@dataclass(frozen=True, slots=True)
class Note:
    """Something a family observed that is worth a finding of its own (e.g. Cilium L7
    rules shadowed by an L4 allow): the finding id, the objects, and the detail."""

    id: str
    refs: tuple[ObjectRef, ...]
    rule: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class FlowSide:
    """Everything a family needs to answer one direction of one flow."""

    snapshot: Snapshot
    direction: Direction
    subject: Endpoint  # the pod whose policies apply (egress: source, ingress: destination)
    other: Endpoint  # the peer
    protocol: Protocol
    port: int  # destination port, after Service mapping
    semantics: Semantics
    #: the family's compiled policies (from its `compile`), computed once per snapshot
    policies: tuple[object, ...]
    #: standard NetworkPolicy's own answer for this side (Calico interleaves NPs in its
    #: default tier; Cilium unions them with its own rules; admin tiers wrap them)
    network_policy: DirectionResult


@dataclass(frozen=True, slots=True)
class FamilyVerdict:
    """A family's answer for one side: the action it takes (or NONE), how sure it is,
    and the steps that explain it, in evaluation order."""

    action: Action
    certainty: Tri = Tri.YES  # UNKNOWN: a rule that could decide cannot be evaluated
    steps: tuple[Step, ...] = field(default=())
    #: reason when certainty is UNKNOWN (an L7 rule, toFQDNs, an unparsed field ...)
    unknown_reason: str | None = None
    notes: tuple[Note, ...] = ()
