"""The lint context and the rules about a policy's own content: what the API server
says of it, policyTypes, selectors that match nothing, named ports, broad peers.

Each rule is a pure function `(LintContext) -> Iterable[Finding]`, documented in
docs/lint/<id>.md (what it flags, why, a triggering manifest, the fix).
`lint_cluster.py` holds the rules about addresses, DNS and the plugin,
`lint_shadow.py` `rule-shadowed`; `lint.py` lists them all in one tuple. Imports
`model`, `selectors`, `findings`, `snapshot`, `engine`, `cni`, `explain`, `fixes`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from .analysis.words import plural
from .cni import CniInfo, semantics_for
from .engine import Semantics
from .explain import rule_name
from .findings import Finding, Fix, Severity
from .fixes import add_policy_type, namespace_label_command, selector_dict, to_yaml
from .model import (
    NAMESPACE_NAME_LABEL,
    Direction,
    IPBlock,
    IPNetwork,
    LabelSelector,
    Namespace,
    NetworkPolicy,
    Operator,
    Peer,
    Pod,
    Rule,
)
from .selectors import Tri, match_ip_block, match_requirement, match_selector
from .snapshot import Snapshot

__all__ = [
    "LintContext",
    "admits_any",
    "all_peers",
    "broad_namespace_selector",
    "named_port_undefined",
    "namespace_selector_matches_nothing",
    "peers_of",
    "pod_selector_matches_nothing",
    "pods_text",
    "policy_invalid",
    "policy_types_missing",
    "policy_warning",
    "rules_ignored_by_policy_types",
    "subnet",
    "where",
]

_SHOWN = 3  # pods named in a message before "and N more"


@dataclass(frozen=True)
class LintContext:
    """What every rule sees: the snapshot, the network plugin and the address ranges
    (pod CIDRs from the Nodes plus --pod-cidr; Service CIDRs from --service-cidr)."""

    snapshot: Snapshot
    cni: CniInfo = field(default_factory=lambda: CniInfo(None))
    pod_cidrs: tuple[IPNetwork, ...] = ()
    service_cidrs: tuple[IPNetwork, ...] = ()

    @cached_property
    def semantics(self) -> Semantics:
        return semantics_for(self.cni)

    @cached_property
    def pods(self) -> tuple[Pod, ...]:
        """Live and template pods, finished ones left out (NP-48)."""
        return tuple(p for p in self.snapshot.pods if not p.finished)

    @cached_property
    def pods_by_namespace(self) -> dict[str, list[Pod]]:
        out: dict[str, list[Pod]] = defaultdict(list)
        for p in self.pods:
            out[p.namespace].append(p)
        return out

    @cached_property
    def real_namespaces(self) -> tuple[Namespace, ...]:
        """Namespace objects present in the input (not synthesized for a reference)."""
        return tuple(n for n in self.snapshot.namespaces.values() if not n.synthesized)

    @cached_property
    def _label_groups(self) -> dict[str, list[tuple[dict[str, str], list[Pod]]]]:
        """Pods grouped by namespace and labels: a selector is matched once per group."""
        by_labels: dict[tuple[str, tuple[tuple[str, str], ...]], list[Pod]] = defaultdict(list)
        for p in self.pods:
            by_labels[(p.namespace, p.labels)].append(p)
        out: dict[str, list[tuple[dict[str, str], list[Pod]]]] = defaultdict(list)
        for (ns, labels), pods in by_labels.items():
            out[ns].append((dict(labels), pods))
        return out

    @cached_property
    def _matches(self) -> dict[tuple[LabelSelector, str], list[Pod]]:
        return {}

    def _matched(self, selector: LabelSelector, namespace: str) -> list[Pod]:
        """Pods of one namespace the selector matches, sorted: each distinct selector is
        matched once against each distinct label set there (policies repeat selectors)."""
        key = (selector, namespace)
        found = self._matches.get(key)
        if found is None:
            found = self._matches[key] = sorted(
                (
                    p
                    for labels, pods in self._label_groups.get(namespace, ())
                    if match_selector(selector, labels).result is Tri.YES
                    for p in pods
                ),
                key=lambda p: p.key,
            )
        return found

    def pods_matching(
        self, selector: LabelSelector, namespaces: Iterable[str] | None = None
    ) -> list[Pod]:
        """Pods (hostNetwork ones included) the selector matches, in the namespaces given
        or in all, sorted by namespace/name."""
        # "ns/" strings are prefix-free (no "/" in a name), so namespaces ordered by them,
        # each sorted by key, give the pods in namespace/name key order.
        names = sorted(
            self._label_groups if namespaces is None else set(namespaces), key=lambda n: n + "/"
        )
        return [p for ns in names for p in self._matched(selector, ns)]

    def matches_a_pod(
        self, selector: LabelSelector, namespaces: Iterable[str], host_network: bool = False
    ) -> bool:
        """Does the selector match any pod (any non-hostNetwork one unless asked)?"""
        return any(
            host_network or not p.host_network
            for ns in namespaces
            for p in self._matched(selector, ns)
        )

    def selects(self, policy: NetworkPolicy) -> list[Pod]:
        """Every pod the policy's spec.podSelector matches, hostNetwork ones included."""
        return self.pods_matching(policy.pod_selector, [policy.namespace])

    @cached_property
    def _namespace_matches(self) -> dict[LabelSelector, list[Namespace]]:
        return {}

    def namespaces_matching(self, selector: LabelSelector) -> list[Namespace]:
        """Namespaces the selector matches or may match (a namespace missing from the
        input is known only by its name label, NP-81)."""
        found = self._namespace_matches.get(selector)
        if found is None:
            found = self._namespace_matches[selector] = [
                n
                for n in self.snapshot.namespaces.values()
                if match_selector(
                    selector,
                    n.label_map,
                    only_known_key=NAMESPACE_NAME_LABEL if n.synthesized else None,
                ).result
                is not Tri.NO
            ]
        return list(found)

    def peer_pods(self, policy: NetworkPolicy, peer: Peer) -> list[Pod]:
        """Pod-network pods the peer matches (NP-40..46); for an ipBlock, pods whose IP
        it contains (whether the plugin matches them is NP-51's question)."""
        pods = [p for p in self.pods if not p.host_network]
        if peer.ip_block is not None:
            block = peer.ip_block
            return [p for p in pods if p.ips and match_ip_block(block, p.ips).matched]
        if peer.namespace_selector is None:
            scope = {policy.namespace}
        else:
            scope = {n.name for n in self.namespaces_matching(peer.namespace_selector)}
        sel = peer.pod_selector or LabelSelector()
        return [p for p in self.pods_matching(sel, sorted(scope)) if not p.host_network]


# --- helpers ------------------------------------------------------------------------


def peers_of(policy: NetworkPolicy) -> Iterator[tuple[Rule, Peer, str]]:
    """Every peer of every rule in a direction the policy controls, with its path."""
    for d in Direction:
        if policy.controls(d):
            for rule in policy.rules(d):
                for peer in rule.peers or ():
                    yield rule, peer, f"{rule.path}.{d.peers_field}[{peer.index}]"


def where(policy: NetworkPolicy, rule: Rule, peer: Peer | None = None) -> str:
    name = rule_name(policy, rule, rule.direction)
    return name if peer is None else f"{name} {rule.direction.peers_field}[{peer.index}]"


def pods_text(pods: list[Pod]) -> str:
    shown = ", ".join(p.display for p in pods[:_SHOWN])
    return shown + (f" and {len(pods) - _SHOWN} more" if len(pods) > _SHOWN else "")


def subnet(a: IPNetwork, b: IPNetwork) -> bool:
    """a is inside b (same family)."""
    return (
        a.version == b.version
        and int(a.network_address) >= int(b.network_address)
        and int(a.broadcast_address) <= int(b.broadcast_address)
    )


def admits_any(block: IPBlock, net: IPNetwork) -> bool:
    """Does the ipBlock admit at least one address of `net` (cidr ∩ net minus excepts)?"""
    c = block.cidr
    if c.version != net.version or not (subnet(c, net) or subnet(net, c)):
        return False
    inter = c if subnet(c, net) else net
    lo, hi = int(inter.network_address), int(inter.broadcast_address)
    spans = sorted(
        (max(lo, int(e.network_address)), min(hi, int(e.broadcast_address)))
        for e in block.excepts
        if e.version == inter.version
    )
    covered_to = lo - 1
    for start, end in (s for s in spans if s[0] <= s[1]):
        if start > covered_to + 1:
            return True  # a gap before this except range
        covered_to = max(covered_to, end)
    return covered_to < hi


def _policies(ctx: LintContext) -> list[NetworkPolicy]:
    return ctx.snapshot.policies


# --- API-server verdicts ----------------------------------------------------------


def policy_invalid(ctx: LintContext) -> Iterable[Finding]:
    """The API server rejects the policy (SEMANTICS §2): it does nothing in a cluster."""
    return [f for f in ctx.snapshot.problems if f.id == "policy-invalid"]


def policy_warning(ctx: LintContext) -> Iterable[Finding]:
    """The API server admits the policy with a warning (VAL-17, VAL-50)."""
    return [f for f in ctx.snapshot.problems if f.id == "policy-warning"]


# --- policyTypes ------------------------------------------------------------------


def policy_types_missing(ctx: LintContext) -> Iterator[Finding]:
    """policyTypes not written by the author (NP-20..25): the directions are defaulted."""
    for p in _policies(ctx):
        if p.explicit_types:
            continue
        types = sorted(t.value for t in p.policy_types)
        trap = Direction.EGRESS in p.policy_types and not p.ingress
        why = (
            "Ingress always, Egress because the egress list is non-empty"
            if Direction.EGRESS in p.policy_types
            else "Ingress always; Egress only with egress rules, and there are none"
        )
        msg = (
            f"NetworkPolicy {p.ref.key} does not declare policyTypes, so it controls "
            f"[{', '.join(types)}] ({why})"
        )
        if trap:
            msg += (
                "; it has no ingress rules, so it also denies ALL ingress to the pods it "
                "selects (the 'egress-only' policy trap)"
            )
        fix = Fix(
            "declare policyTypes" + (" ([Egress] if only egress was meant)" if trap else ""),
            to_yaml({"spec": {"policyTypes": ["Egress"] if trap else types}}),
        )
        severity = Severity.WARNING if trap else Severity.INFO
        yield Finding("policy-types-missing", severity, msg, (p.ref,), "spec.policyTypes", fix)


def rules_ignored_by_policy_types(ctx: LintContext) -> Iterator[Finding]:
    """Rules for a direction the explicit policyTypes leaves out do nothing (NP-26)."""
    for p in _policies(ctx):
        types = sorted(t.value for t in p.policy_types)
        for d in Direction:
            if not p.rules(d) or p.controls(d):
                continue
            word = d.value.lower()
            msg = (
                f"NetworkPolicy {p.ref.key} has {plural(len(p.rules(d)), word + ' rule')} but its "
                f"policyTypes is [{', '.join(types)}]: they are ignored, and {word} is not "
                "restricted by this policy"
            )
            fix = add_policy_type(p, d)
            yield Finding(
                "rules-ignored-by-policy-types",
                Severity.WARNING,
                msg,
                (p.ref,),
                f"spec.{d.rules_field}",
                fix,
            )


# --- selectors that match nothing -----------------------------------------------


def namespace_selector_matches_nothing(ctx: LintContext) -> Iterator[Finding]:
    """A peer's namespaceSelector matches no Namespace of the input (SEL-6, NP-82).

    Only when the input has Namespace objects: one missing from the input is known
    by its name label alone, and a selector on another label may match it (NP-81).
    """
    if not ctx.real_namespaces:
        return
    for p in _policies(ctx):
        for rule, peer, path in peers_of(p):
            sel = peer.namespace_selector
            if sel is None or sel.is_empty or ctx.namespaces_matching(sel):
                continue
            msg = (
                f"{where(p, rule, peer)}: namespaceSelector {sel} matches no namespace in "
                f"the input ({len(ctx.real_namespaces)} namespaces), so this peer admits "
                "nothing"
            )
            fix = None
            near = _namespace_near_miss(ctx, sel)
            if near is not None:
                ns, changes = near
                msg += (
                    f"; namespace {ns} exists but lacks "
                    f"{', '.join(f'{k}={v}' for k, v in changes.items())} (namespaceSelector "
                    "reads namespace labels, not names)"
                )
                fix = Fix(
                    f"label namespace {ns}, or select it by name ({NAMESPACE_NAME_LABEL}={ns})",
                    namespace_label_command(ns, dict(changes)),
                    f"every other policy selecting namespaces by {sel} starts matching {ns}",
                )
            yield Finding(
                "namespace-selector-matches-nothing",
                Severity.WARNING,
                msg,
                (p.ref,),
                f"{path}.namespaceSelector",
                fix,
            )


def _namespace_near_miss(ctx: LintContext, sel: LabelSelector) -> tuple[str, dict[str, str]] | None:
    """A namespace named like a value the selector wants, and the labels it lacks."""
    wanted = {v for r in sel.requirements if r.operator is Operator.IN for v in r.values}
    for ns in ctx.real_namespaces:
        if ns.name not in wanted:
            continue
        labels = ns.label_map
        failing = [r for r in sel.requirements if not match_requirement(r, labels)]
        if failing and all(r.from_match_labels for r in failing):
            return ns.name, {r.key: r.values[0] for r in failing}
    return None


def pod_selector_matches_nothing(ctx: LintContext) -> Iterator[Finding]:
    """spec.podSelector, or a peer podSelector within its namespaces, matches no pod
    (template pods count). Empty selectors are left alone: a default deny for a
    namespace without pods yet is not a mistake."""
    if not ctx.pods:
        return
    for p in _policies(ctx):
        if not p.pod_selector.is_empty and not ctx.selects(p):
            here = len(ctx.pods_by_namespace.get(p.namespace, ()))
            yield Finding(
                "pod-selector-matches-nothing",
                Severity.WARNING,
                f"NetworkPolicy {p.ref.key}: spec.podSelector {p.pod_selector} matches no pod "
                f"in namespace {p.namespace} ({plural(here, 'pod')} there in the input), so the "
                "policy applies to nothing",
                (p.ref,),
                "spec.podSelector",
            )
        for rule, peer, path in peers_of(p):
            finding = _peer_matches_nothing(ctx, p, rule, peer, path)
            if finding is not None:
                yield finding


def _peer_matches_nothing(
    ctx: LintContext, p: NetworkPolicy, rule: Rule, peer: Peer, path: str
) -> Finding | None:
    sel = peer.pod_selector
    if sel is None or sel.is_empty:
        return None
    if peer.namespace_selector is None:
        scope = [p.namespace]
    else:
        scope = [n.name for n in ctx.namespaces_matching(peer.namespace_selector)]
        if not scope:
            return None  # namespace-selector-matches-nothing says it
    if ctx.matches_a_pod(sel, scope):
        return None
    inside = ctx.pods_matching(sel, scope)
    place = f"namespace {scope[0]}" if len(scope) == 1 else f"namespaces {', '.join(scope)}"
    msg = f"{where(p, rule, peer)}: podSelector {sel} matches no pod in {place}"
    fix = None
    if inside:
        msg += (
            f" but hostNetwork pods ({pods_text(inside)}), which NetworkPolicy peers never "
            "match (they act as their node)"
        )
    others = [ns for ns in sorted(ctx.pods_by_namespace) if ns not in scope]
    elsewhere = [x for x in ctx.pods_matching(sel, others) if not x.host_network]
    if peer.namespace_selector is None and elsewhere:
        other = elsewhere[0].namespace
        msg += (
            f"; it matches {pods_text(elsewhere)} in namespace {other}, but a podSelector "
            "alone selects pods in the policy's own namespace only"
        )
        new_peer = {
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: other}},
            "podSelector": selector_dict(sel),
        }
        fix = Fix(
            f"add a namespaceSelector for {other} to the same peer (one peer: both must hold)",
            f"# in NetworkPolicy {p.ref.key}, {path} becomes:\n" + to_yaml([new_peer]),
            f"admits those pods of namespace {other} only",
        )
    return Finding(
        "pod-selector-matches-nothing",
        Severity.WARNING,
        msg + ", so this peer admits nothing",
        (p.ref,),
        f"{path}.podSelector",
        fix,
    )


def named_port_undefined(ctx: LintContext) -> Iterator[Finding]:
    """A named port resolves on the destination pod (NP-64): ingress, the selected pods;
    egress, the pods the rule's peers match (any pod without peers). Flagged when no such
    pod defines the name with the rule's protocol; never on pods, with ipBlock peers only."""
    if not ctx.pods:
        return
    for p in _policies(ctx):
        for d in Direction:
            if not p.controls(d):
                continue
            for rule in p.rules(d):
                if any(isinstance(q.port, str) for q in rule.ports):
                    yield from _named_ports(ctx, p, rule)


def _named_ports(ctx: LintContext, p: NetworkPolicy, rule: Rule) -> Iterator[Finding]:
    only_ip = False
    if rule.direction is Direction.INGRESS:
        owners = [x for x in ctx.selects(p) if not x.host_network]
        who = f"the pods NetworkPolicy {p.ref.key} selects"
    elif rule.peers is None:
        owners = [x for x in ctx.pods if not x.host_network]
        who = "any pod"
    else:
        owners = list({x.key: x for peer in rule.peers for x in ctx.peer_pods(p, peer)}.values())
        only_ip = all(peer.ip_block is not None for peer in rule.peers)
        who = "the pods its peers select"
    for q in rule.ports:
        if not isinstance(q.port, str):
            continue
        path = f"{rule.path}.ports[{q.index}]"
        head = f"{where(p, rule)} ports[{q.index}]: named port {q.port} ({q.protocol.value})"
        if not owners:
            if only_ip:
                yield Finding(
                    "named-port-undefined",
                    Severity.WARNING,
                    f"{head} with ipBlock peers only: a port name resolves on a pod's "
                    "containerPorts, never on an address outside the pods, so this "
                    "entry matches nothing",
                    (p.ref,),
                    path,
                    Fix("use the port number"),
                )
            continue
        ports = [cp for x in owners for cp in x.ports]
        if any(cp.name == q.port and cp.protocol is q.protocol for cp in ports):
            continue
        other = sorted({cp.protocol.value for cp in ports if cp.name == q.port})
        names = sorted({f"{cp.name} {cp.port}/{cp.protocol.value}" for cp in ports if cp.name})
        msg = f"{head} is not a containerPort of {who} ({pods_text(owners)})"
        if other:
            msg += f": they name it for {'/'.join(other)} only (a port's protocol defaults to TCP)"
        elif names:
            msg += f": they name {', '.join(names[:5])}"
        yield Finding(
            "named-port-undefined",
            Severity.WARNING,
            msg + "; this port entry matches nothing",
            (p.ref,),
            path,
            Fix(
                "use a port name the pods define (or its number), "
                f"or name the containerPort {q.port} with protocol {q.protocol.value}"
            ),
        )


# --- peers ----------------------------------------------------------------------


def all_peers(ctx: LintContext) -> Iterator[tuple[NetworkPolicy, Rule, Peer, str]]:
    for p in _policies(ctx):
        for rule, peer, path in peers_of(p):
            yield p, rule, peer, path


def broad_namespace_selector(ctx: LintContext) -> Iterator[Finding]:
    """A peer `namespaceSelector: {}` without a narrowing podSelector: every pod of every
    namespace (NP-44). Warning on all ports; info when the rule lists ports."""
    for p, rule, peer, path in all_peers(ctx):
        sel = peer.namespace_selector
        if sel is None or not sel.is_empty:
            continue
        if peer.pod_selector is not None and not peer.pod_selector.is_empty:
            continue
        word = "from" if rule.direction is Direction.INGRESS else "to"
        ports = "all ports" if not rule.ports else "the rule's ports"
        yield Finding(
            "broad-namespace-selector",
            Severity.INFO if rule.ports else Severity.WARNING,
            f"{where(p, rule, peer)}: namespaceSelector {{}} admits {word} every pod in every "
            f"namespace on {ports}, including namespaces created later",
            (p.ref,),
            f"{path}.namespaceSelector",
            Fix(
                "select the namespaces meant, by name",
                to_yaml(
                    [
                        {
                            "namespaceSelector": {
                                "matchExpressions": [
                                    {
                                        "key": NAMESPACE_NAME_LABEL,
                                        "operator": "In",
                                        "values": ["<namespace>"],
                                    }
                                ]
                            }
                        }
                    ]
                ),
            ),
        )
