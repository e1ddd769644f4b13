"""`lint`: documented rules over a whole Snapshot, listed in one tuple, for a CI gate.

Each rule is a pure function `(LintContext) -> Iterable[Finding]` with a stable
kebab-case id (a public contract) and a page docs/lint/<id>.md. `lint()` runs the
enabled rules and drops what the user suppressed: `--ignore ID` (LintOptions.ignore)
or an annotation on the object a finding is about,

    metadata:
      annotations:
        netpol-doctor.io/ignore: "rule-shadowed,broad-namespace-selector"

Never prints or exits. Imports `model`, `findings`, `errors`, `snapshot`, `cni`,
`lint_rules`, `lint_cluster`, `lint_shadow`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from . import lint_cluster as c
from . import lint_rules as r
from .cni import CniInfo, detect_cni, profile_named
from .errors import NetpolDoctorError
from .findings import Finding, Severity
from .lint_rules import LintContext
from .lint_shadow import rule_shadowed
from .model import IPNetwork, ObjectRef
from .snapshot import Snapshot

__all__ = [
    "DEFAULT_OPTIONS",
    "IGNORE_ANNOTATION",
    "RULES",
    "LintContext",
    "LintOptions",
    "LintRule",
    "enabled_rules",
    "lint",
    "rule_by_id",
]

#: Comma-separated rule ids this object is exempt from.
IGNORE_ANNOTATION = "netpol-doctor.io/ignore"


@dataclass(frozen=True, slots=True)
class LintRule:
    id: str  # stable kebab-case id: a public contract, page docs/lint/<id>.md
    severity: Severity  # default severity; a finding may be milder (the page says when)
    summary: str
    check: Callable[[LintContext], Iterable[Finding]]
    default_enabled: bool = True


@dataclass(frozen=True)
class LintOptions:
    ignore: frozenset[str] = frozenset()  # --ignore ID
    enable: frozenset[str] = frozenset()  # --enable ID: rules off by default
    pod_cidrs: tuple[IPNetwork, ...] = ()  # --pod-cidr; Nodes' spec.podCIDRs are added
    service_cidrs: tuple[IPNetwork, ...] = ()  # --service-cidr
    cni: str | None = None  # --cni NAME; else detected from the input


DEFAULT_OPTIONS = LintOptions()

RULES: tuple[LintRule, ...] = (
    LintRule(
        "policy-invalid",
        Severity.ERROR,
        "The API server rejects this NetworkPolicy: it does nothing in a cluster.",
        r.policy_invalid,
    ),
    LintRule(
        "policy-warning",
        Severity.WARNING,
        "The API server admits this NetworkPolicy with a warning (non-canonical CIDR).",
        r.policy_warning,
    ),
    LintRule(
        "dns-egress-missing",
        Severity.ERROR,
        "Pods isolated for egress cannot reach the cluster DNS on UDP or TCP 53.",
        c.dns_egress_missing,
    ),
    LintRule(
        "policy-types-missing",
        Severity.WARNING,
        "policyTypes is not declared: the directions the policy controls are defaulted.",
        r.policy_types_missing,
    ),
    LintRule(
        "rules-ignored-by-policy-types",
        Severity.WARNING,
        "Rules for a direction the explicit policyTypes leaves out: they do nothing.",
        r.rules_ignored_by_policy_types,
    ),
    LintRule(
        "namespace-selector-matches-nothing",
        Severity.WARNING,
        "A peer's namespaceSelector matches no namespace in the input.",
        r.namespace_selector_matches_nothing,
    ),
    LintRule(
        "pod-selector-matches-nothing",
        Severity.WARNING,
        "A podSelector (the policy's, or a peer's in its namespaces) matches no pod.",
        r.pod_selector_matches_nothing,
    ),
    LintRule(
        "named-port-undefined",
        Severity.WARNING,
        "A named port is not defined on any pod the rule could apply to.",
        r.named_port_undefined,
    ),
    LintRule(
        "ipblock-overlaps-pod-cidr",
        Severity.WARNING,
        "An ipBlock covers pod addresses: matching pod IPs depends on the plugin.",
        c.ipblock_overlaps_pod_cidr,
    ),
    LintRule(
        "ipblock-overlaps-service-cidr",
        Severity.WARNING,
        "An ipBlock aims at Service IPs, which policy never sees (DNAT comes first).",
        c.ipblock_overlaps_service_cidr,
    ),
    LintRule(
        "rule-shadowed",
        Severity.INFO,
        "A rule admits nothing another rule does not already admit for the same pods.",
        rule_shadowed,
    ),
    LintRule(
        "broad-namespace-selector",
        Severity.WARNING,
        "A peer `namespaceSelector: {}` admits every pod of the cluster.",
        r.broad_namespace_selector,
    ),
    LintRule(
        "namespace-without-default-deny",
        Severity.WARNING,
        "A namespace with pods has no default-deny policy for ingress or egress.",
        c.namespace_without_default_deny,
        default_enabled=False,
    ),
    LintRule(
        "host-network-under-default-deny",
        Severity.WARNING,
        "A policy selects hostNetwork pods, which NetworkPolicy does not isolate.",
        c.host_network_under_default_deny,
    ),
    LintRule(
        "aws-vpc-cni-port-limit",
        Severity.WARNING,
        "More unique ports per protocol than the AWS VPC CNI policy agent supports (24).",
        c.aws_vpc_cni_port_limit,
    ),
)


def rule_by_id(rule_id: str) -> LintRule:
    for rule in RULES:
        if rule.id == rule_id:
            return rule
    known = ", ".join(x.id for x in RULES)
    raise NetpolDoctorError(f"unknown lint rule {rule_id!r} (known: {known})")


def enabled_rules(options: LintOptions = DEFAULT_OPTIONS) -> list[LintRule]:
    """The rules `lint` runs: on by default or enabled, and not ignored."""
    for rule_id in sorted(options.ignore | options.enable):
        rule_by_id(rule_id)  # raises for a misspelt id
    return [
        x
        for x in RULES
        if (x.default_enabled or x.id in options.enable) and x.id not in options.ignore
    ]


def lint(snapshot: Snapshot, options: LintOptions = DEFAULT_OPTIONS) -> list[Finding]:
    """Every finding of the enabled rules, minus suppressions, sorted by file, line, id."""
    rules = enabled_rules(options)
    ctx = LintContext(
        snapshot,
        _cni(snapshot, options.cni),
        _pod_cidrs(snapshot, options),
        tuple(options.service_cidrs),
    )
    exempt = _exemptions(snapshot)
    out = [
        f
        for rule in rules
        for f in rule.check(ctx)
        if not (f.objects and f.id in exempt.get(f.objects[0], frozenset()))
    ]
    return sorted(out, key=_order)


def _cni(snapshot: Snapshot, name: str | None) -> CniInfo:
    if name is None:
        return detect_cni(snapshot)
    profile = profile_named(name)
    if profile is None:
        raise NetpolDoctorError(f"unknown network plugin {name!r}")
    return CniInfo(profile, forced=True)


def _pod_cidrs(snapshot: Snapshot, options: LintOptions) -> tuple[IPNetwork, ...]:
    found = list(options.pod_cidrs)
    for node in snapshot.nodes.values():
        found += [c for c in node.pod_cidrs if c not in found]
    return tuple(found)


def _exemptions(snapshot: Snapshot) -> dict[ObjectRef, frozenset[str]]:
    """Object -> rule ids its `netpol-doctor.io/ignore` annotation suppresses."""
    annotated: list[tuple[ObjectRef, tuple[tuple[str, str], ...]]] = [
        (p.ref, p.annotations) for p in snapshot.policies
    ]
    annotated += [(n.ref, n.annotations) for n in snapshot.namespaces.values()]
    annotated += [(p.ref, p.annotations) for p in snapshot.pods]
    out: dict[ObjectRef, frozenset[str]] = {}
    for ref, pairs in annotated:
        value = _annotation(dict(pairs))
        if value:
            out[ref] = value
    return out


def _annotation(annotations: Mapping[str, str]) -> frozenset[str]:
    raw = annotations.get(IGNORE_ANNOTATION, "")
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _order(f: Finding) -> tuple[str, int, int, str, str, str]:
    ref = f.objects[0] if f.objects else None
    return (
        (ref.file if ref else None) or "",
        (ref.line if ref else None) or 0,
        (ref.document if ref else None) or 0,
        f.id,
        f.field or "",
        f.message,
    )
