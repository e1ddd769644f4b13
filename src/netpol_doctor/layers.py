"""One flow through every policy family the network plugin enforces, in data-plane
order: the admin tiers around NetworkPolicy (ADM-10) where the plugin implements them.
Policy kinds the plugin does not implement are inert (ADM-5) and reported as such;
kinds not evaluated yet keep an "allowed" answer at "unknown".

`evaluate_flow` is `engine.evaluate` plus these layers; every command calls it.
Imports `model`, `selectors`, `snapshot`, `engine`, `extended`, `adminpolicy`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from . import adminpolicy
from .engine import Decision, DirectionResult, Endpoint, Semantics, Verdict, evaluate
from .extended import Action, FamilyVerdict, FlowSide, Step, derived
from .findings import Finding
from .model import Direction, Protocol
from .parse import ExtendedObject
from .policy import aws_limits
from .selectors import Tri, tri_all
from .snapshot import Snapshot

if TYPE_CHECKING:  # imported where used: a cluster without their objects never needs them
    from . import calico, cilium

__all__ = [
    "ADMIN_IMPLEMENTERS",
    "Layer",
    "compiled_families",
    "deciding_step",
    "evaluate_flow",
    "evaluates",
    "family_findings",
    "inert_kinds",
    "layer_of",
    "side_verdict",
    "sweeps_pairwise",
]

ADMIN_GROUP = "policy.networking.k8s.io"
#: plugins implementing the admin tiers (ADM-4); Cilium does not (cilium/cilium#23380)
ADMIN_IMPLEMENTERS = frozenset(
    {"calico", "canal", "antrea", "kube-network-policies", "ovn-kubernetes", "kube-ovn"}
)


@dataclass(frozen=True, slots=True)
class Layer:
    """What the evaluated families decided for one side of the flow."""

    side: DirectionResult
    verdict: FamilyVerdict


def _admin(snapshot: Snapshot) -> tuple[list[adminpolicy.AdminPolicy], list[Finding]]:
    objects = [x for x in snapshot.extended if x.api_group == ADMIN_GROUP]
    return derived(snapshot, "admin", lambda: adminpolicy.compile(objects))


CALICO_GROUPS = ("projectcalico.org", "crd.projectcalico.org")
CALICO_PLUGINS = frozenset({"calico", "canal"})
CILIUM_GROUP = "cilium.io"
#: GKE Dataplane V2 is Cilium-based and enforces Cilium's policy kinds (CNI-9)
CILIUM_PLUGINS = frozenset({"cilium", "gke-dataplane-v2"})


def _cilium(snapshot: Snapshot) -> tuple[list[cilium.CiliumPolicy], list[Finding]]:
    objects = [x for x in snapshot.extended if x.api_group == CILIUM_GROUP]
    if not objects:
        return [], []
    from . import cilium

    return derived(snapshot, "cilium", lambda: cilium.compile(objects))


def _calico(snapshot: Snapshot) -> tuple[list[calico.CalicoPolicy], list[Finding]]:
    objects = [x for x in snapshot.extended if x.api_group in CALICO_GROUPS]
    if not objects:
        return [], []
    from . import calico

    return derived(snapshot, "calico", lambda: calico.compile(objects))


def compiled_families(
    snapshot: Snapshot,
) -> tuple[list[adminpolicy.AdminPolicy], list[calico.CalicoPolicy], list[cilium.CiliumPolicy]]:
    """The admin-tier, Calico and Cilium policies of the snapshot, compiled once."""
    return _admin(snapshot)[0], _calico(snapshot)[0], _cilium(snapshot)[0]


def family_findings(snapshot: Snapshot) -> list[Finding]:
    """Problems found while compiling the extended families (invalid objects)."""
    return _admin(snapshot)[1] + _calico(snapshot)[1] + _cilium(snapshot)[1]


def evaluates(x: ExtendedObject, cni: str | None) -> bool:
    """Is this object evaluated (its family implemented by the plugin, and by us)?"""
    if x.api_group == ADMIN_GROUP:
        return cni in ADMIN_IMPLEMENTERS
    if x.api_group == CILIUM_GROUP:
        return cni in CILIUM_PLUGINS
    return x.api_group in CALICO_GROUPS and cni in CALICO_PLUGINS


def sweeps_pairwise(x: ExtendedObject, cni: str | None) -> bool:
    """Does this object need the layered engine pair by pair (`matrix`)? Evaluated
    families do, and admin-tier objects under an unknown plugin (both readings)."""
    return evaluates(x, cni) or (cni is None and x.api_group == ADMIN_GROUP)


#: which plugins enforce each extended API group (ADM-4, CNI-1..9)
_IMPLEMENTERS: dict[str, frozenset[str]] = {
    ADMIN_GROUP: ADMIN_IMPLEMENTERS,
    "cilium.io": frozenset({"cilium", "gke-dataplane-v2"}),
    "projectcalico.org": frozenset({"calico", "canal"}),
    "crd.projectcalico.org": frozenset({"calico", "canal"}),
    "crd.antrea.io": frozenset({"antrea"}),
    "k8s.ovn.org": frozenset({"ovn-kubernetes"}),
}


def inert_kinds(x: ExtendedObject, cni: str | None) -> bool:
    """ADM-5 and its kin: objects of a family the known plugin does not implement are
    accepted by the API server (the CRD exists) and do nothing."""
    implementers = _IMPLEMENTERS.get(x.api_group)
    return cni is not None and implementers is not None and cni not in implementers


def evaluate_flow(
    snapshot: Snapshot,
    source: Endpoint,
    destination: Endpoint,
    protocol: Protocol,
    port: int,
    semantics: Semantics | None = None,
) -> Decision:
    decision = evaluate(snapshot, source, destination, protocol, port, semantics)
    if not decision.extended:
        return aws_limits.apply_limit(decision)
    cni = decision.semantics.cni
    by_ref = {x.ref: x for x in snapshot.extended}
    relevant = [by_ref[r] for r in decision.extended if r in by_ref]
    gaps = [r for r in decision.extended if r not in by_ref]  # lists we could not read
    evaluated = [x for x in relevant if evaluates(x, cni)]
    inert = tuple(x.ref for x in relevant if inert_kinds(x, cni))
    # ADM-4: with the plugin unknown, whether it implements the admin tiers is unknown.
    maybe_admin = [x for x in relevant if cni is None and x.api_group == ADMIN_GROUP]
    pending = tuple(
        x.ref
        for x in relevant
        if not evaluates(x, cni) and x.ref not in inert and x not in maybe_admin
    )
    pending += tuple(gaps)
    layers: tuple[Layer, ...] = ()
    np_verdict = decision.network_policy_verdict
    verdict = np_verdict
    if_enforced: Verdict | None = None
    if evaluated:
        sides = [_side(snapshot, decision, side) for side in (decision.egress, decision.ingress)]
        layers = tuple(sides)
        verdict = _combine(sides)
    elif maybe_admin:
        # Both readings: the answer stands only where they agree; otherwise the
        # admin-tier objects that acted are what keeps it open.
        sides = [_side(snapshot, decision, side) for side in (decision.egress, decision.ingress)]
        with_admin = _combine(sides)
        if with_admin is not np_verdict:
            layers, verdict, if_enforced = tuple(sides), Verdict.UNKNOWN, with_admin
            acted = {
                s.ref for layer in sides for s in layer.verdict.steps if s.matched is not Tri.NO
            }
            pending += tuple(x.ref for x in maybe_admin if x.ref in acted) or tuple(
                x.ref for x in maybe_admin
            )
    if pending and verdict is Verdict.ALLOWED:
        verdict = Verdict.UNKNOWN  # never a false "allowed": those kinds can deny
    layered = replace(
        decision,
        verdict=verdict,
        extended=pending,
        inert=inert,
        layers=layers,
        if_enforced=if_enforced,
    )
    return aws_limits.apply_limit(layered)


def layer_of(d: Decision, side: DirectionResult) -> Layer | None:
    for layer in d.layers:
        if layer.side is side:
            return layer  # type: ignore[no-any-return]
    return None


def side_verdict(d: Decision, side: DirectionResult) -> Verdict:
    """What decides this direction: the evaluated families when they ran, else
    NetworkPolicy (an unknown plugin's admin reading is only "if enforced")."""
    layer = layer_of(d, side)
    if layer is None:
        return Verdict.of(side.result)
    if d.if_enforced is not None:
        alone, enforced = Verdict.of(side.result), _combine([layer])
        return alone if alone is enforced else Verdict.UNKNOWN
    return _combine([layer])


def deciding_step(layer: Layer) -> Step | None:
    """The rule that took the layer's action, if one did (not a Pass, not the default)."""
    v = layer.verdict
    if v.action not in (Action.ALLOW, Action.DENY):
        return None
    # A Cilium side ends with a summary step on the pod: the rule before it decided.
    decided = [
        s for s in v.steps if s.matched is Tri.YES and s.action is v.action and s.ref.kind != "Pod"
    ]
    if not decided:
        return None
    # A matching deny decides whatever else matched (CIL-9's own-node allow comes last,
    # yet a deny still wins): the first deny is the one to name.
    return decided[0] if v.action is Action.DENY else decided[-1]


def _side(snapshot: Snapshot, d: Decision, side: DirectionResult) -> Layer:
    other = d.destination if side.direction is Direction.EGRESS else d.source

    def flow(policies: tuple[object, ...]) -> FlowSide:
        return FlowSide(
            snapshot,
            side.direction,
            side.subject,
            other,
            d.protocol,
            d.port,
            d.semantics,
            policies,
            side,
        )

    exemption = side.exemption.value if side.exemption is not None else None
    if d.semantics.cni in CILIUM_PLUGINS and exemption != "self":
        # Cilium merges NetworkPolicy with its own rules on each endpoint (and judges
        # host and world identities itself).
        from . import cilium

        return Layer(side, cilium.direction(flow(tuple(_cilium(snapshot)[0]))))
    if exemption in ("self", "not-a-pod", "host-network"):
        # ADM-19/ADM-20: hostNetwork pods, outside addresses and a pod's own IP are not
        # subjects of the admin tiers (nor Calico workload endpoints, CAL-13).
        return Layer(side, FamilyVerdict(Action.ALLOW, Tri.YES))
    admin = flow(tuple(_admin(snapshot)[0]))
    if d.semantics.cni not in CALICO_PLUGINS:
        return Layer(side, adminpolicy.direction(admin))
    # Calico: the admin tier, then Calico's tiers (Kubernetes NPs in `default` at order
    # 1000, CAL-40), then the baseline tier, then the profile's allow.
    first = adminpolicy.before_network_policy(admin)
    if first.action in (Action.ALLOW, Action.DENY):
        return Layer(side, first)
    from . import calico

    middle = calico.direction(flow(tuple(_calico(snapshot)[0])))
    steps = first.steps + middle.steps
    certainty = tri_all([first.certainty, middle.certainty])
    reason = first.unknown_reason or middle.unknown_reason
    if middle.action in (Action.ALLOW, Action.DENY):
        return Layer(side, FamilyVerdict(middle.action, certainty, steps, reason))
    last = adminpolicy.after_network_policy(admin)
    action = last.action if last.action in (Action.ALLOW, Action.DENY) else Action.ALLOW
    certainty = tri_all([certainty, last.certainty])
    reason = reason or last.unknown_reason
    return Layer(side, FamilyVerdict(action, certainty, steps + last.steps, reason))


def _combine(sides: list[Layer]) -> Verdict:
    """Both sides must allow (NP-4 holds across tiers); an uncertain side is unknown."""
    results = []
    for layer in sides:
        v = layer.verdict
        if v.certainty is not Tri.YES:
            results.append(Tri.UNKNOWN)
        else:
            results.append(Tri.YES if v.action is Action.ALLOW else Tri.NO)
    return Verdict.of(tri_all(results))
