"""Minimal fixes, printed for the user and never applied: YAML snippets and kubectl
commands (`kubectl label`, `kubectl patch --dry-run=server`) with a caution line
naming what else each change would open. Every command is built with `shell.command`
(names come from the input and are pasted into a shell). Imports `model`, `findings`,
`shell`.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from .findings import Fix
from .model import (
    NAMESPACE_NAME_LABEL,
    Direction,
    LabelSelector,
    NetworkPolicy,
    Peer,
    Pod,
    PolicyPort,
    Protocol,
    Rule,
)
from .shell import command, comment

__all__ = [
    "add_policy_type",
    "allow_flow_policy",
    "edit_preview",
    "label_args",
    "namespace_label_command",
    "peer_dict",
    "peer_for",
    "port_dict",
    "rule_dict",
    "rule_patch_hint",
    "selector_dict",
    "stable_labels",
    "to_yaml",
]

#: Labels controllers stamp per pod or per revision: useless (or harmful) in a selector.
_VOLATILE = (
    "pod-template-hash",
    "controller-revision-hash",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "job-name",
    "controller-uid",
    "batch.kubernetes.io/job-name",
    "batch.kubernetes.io/controller-uid",
    "pod-template-generation",
    "security.istio.io/tlsMode",
    "service.istio.io/canonical-revision",
)
_IDENTITY = ("app.kubernetes.io/name", "app", "k8s-app", "name", "app.kubernetes.io/component")


def stable_labels(pod: Pod) -> dict[str, str]:
    """The labels that identify the pod's workload, for a selector that survives rollouts."""
    labels = {k: v for k, v in pod.labels if k not in _VOLATILE}
    for key in _IDENTITY:
        if key in labels:
            return {key: labels[key]}
    return labels


def to_yaml(data: Any) -> str:
    # libyaml's emitter: the pure-Python one made lint's fixes a fifth of its time.
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, default_flow_style=False).rstrip()


_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _port_entry(protocol: Protocol, port: int | str) -> dict[str, Any]:
    return {"protocol": protocol.value, "port": port}


def peer_for(pod: Pod, policy_namespace: str) -> dict[str, Any]:
    """A peer admitting exactly this pod's workload; namespaced by name when foreign."""
    peer: dict[str, Any] = {"podSelector": {"matchLabels": stable_labels(pod)}}
    if pod.namespace != policy_namespace:
        peer = {
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: pod.namespace}},
            **peer,
        }
    return peer


def allow_flow_policy(
    direction: Direction,
    subject: Pod,
    other_pod: Pod | None,
    other_cidrs: list[str],
    protocol: Protocol,
    port: int,
) -> Fix | None:
    """A new NetworkPolicy admitting exactly this flow on the blocked side.

    The other side is a pod-network pod (selected by labels) or addresses (a node, a
    hostNetwork pod, an outside client: one /32 or /128 each). None when neither is known.
    """
    word = direction.value.lower()
    if other_pod is not None:
        peers = [peer_for(other_pod, subject.namespace)]
        who = f"pods labelled {_fmt(stable_labels(other_pod))} in namespace {other_pod.namespace}"
        other_name = next(iter(stable_labels(other_pod).values()), other_pod.name)
    elif other_cidrs:
        peers = [{"ipBlock": {"cidr": c}} for c in other_cidrs]
        who = f"addresses in {', '.join(other_cidrs)}"
        other_name = "addresses"
    else:
        return None
    rule = {direction.peers_field: peers, "ports": [_port_entry(protocol, port)]}
    name = f"allow-{word}-{_short(subject)}-{other_name}-{port}"[:63].rstrip("-")
    manifest = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": subject.namespace},
        "spec": {
            "podSelector": {"matchLabels": stable_labels(subject)},
            "policyTypes": [direction.value],
            direction.rules_field: [rule],
        },
    }
    targets = f"pods labelled {_fmt(stable_labels(subject))} in {subject.namespace}"
    return Fix(
        f"add a NetworkPolicy admitting exactly this {word}",
        to_yaml(manifest),
        f"admits {protocol.value} {port} {'from' if direction is Direction.INGRESS else 'to'} "
        f"{'all ' if other_pod is not None else ''}{who}, for all {targets}",
    )


def namespace_label_command(namespace: str, changes: dict[str, str | None]) -> str:
    """`kubectl label namespace NS k=v k2-` (None removes a label)."""
    overwrite = ["--overwrite"] if any(v is not None for v in changes.values()) else []
    return command("kubectl", "label", "namespace", namespace, *label_args(changes), *overwrite)


def label_args(changes: dict[str, str | None]) -> list[str]:
    """`k=v` sets a label, `k-` removes it (None)."""
    return [f"{k}-" if v is None else f"{k}={v}" for k, v in changes.items()]


def edit_preview(policy: NetworkPolicy) -> str:
    """`# preview: kubectl edit ...`: one line (command() never breaks a line), so no
    name can end the comment early."""
    edit = command("kubectl", "edit", "networkpolicy", "-n", policy.namespace, policy.ref.name)
    return f"# preview: {edit}"


def rule_patch_hint(policy: NetworkPolicy, rule: Rule, new_rule: dict[str, Any]) -> str:
    """A reviewable edit: the rule as it should read, and how to preview the change."""
    return (
        f"# in NetworkPolicy {comment(policy.ref.key)}, {rule.path} becomes:\n"
        + to_yaml([new_rule])
        + f"\n{edit_preview(policy)}  (or: kubectl apply --dry-run=server -f <edited file>)"
    )


def _fmt(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items()) or "(any)"


def _short(pod: Pod) -> str:
    labels = stable_labels(pod)
    return next(iter(labels.values()), pod.name) if len(labels) == 1 else pod.name


def selector_dict(sel: LabelSelector) -> dict[str, Any]:
    labels = {r.key: r.values[0] for r in sel.requirements if r.from_match_labels}
    exprs = [
        {
            "key": r.key,
            "operator": r.operator.value,
            **({"values": list(r.values)} if r.values else {}),
        }
        for r in sel.requirements
        if not r.from_match_labels
    ]
    out: dict[str, Any] = {}
    if labels:
        out["matchLabels"] = labels
    if exprs:
        out["matchExpressions"] = exprs
    return out


def peer_dict(peer: Peer) -> dict[str, Any]:
    if peer.ip_block is not None:
        block: dict[str, Any] = {"cidr": str(peer.ip_block.cidr)}
        if peer.ip_block.excepts:
            block["except"] = [str(e) for e in peer.ip_block.excepts]
        return {"ipBlock": block}
    out: dict[str, Any] = {}
    if peer.namespace_selector is not None:
        out["namespaceSelector"] = selector_dict(peer.namespace_selector)
    if peer.pod_selector is not None:
        out["podSelector"] = selector_dict(peer.pod_selector)
    return out


def port_dict(p: PolicyPort) -> dict[str, Any]:
    out: dict[str, Any] = {"protocol": p.protocol.value}
    if p.port is not None:
        out["port"] = p.port
    if p.end_port is not None:
        out["endPort"] = p.end_port
    return out


def rule_dict(
    rule: Rule,
    peers: list[dict[str, Any]] | None = None,
    ports: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The rule as YAML would spell it, with its peers or ports optionally replaced."""
    out: dict[str, Any] = {}
    if peers is not None:
        out[rule.direction.peers_field] = peers
    elif rule.peers is not None:
        out[rule.direction.peers_field] = [peer_dict(p) for p in rule.peers]
    if ports is not None:
        out["ports"] = ports
    elif rule.ports:
        out["ports"] = [port_dict(p) for p in rule.ports]
    return out


def add_policy_type(policy: NetworkPolicy, direction: Direction) -> Fix:
    """Rules for a direction missing from policyTypes do nothing (NP-26): add it."""
    types = sorted({*(t.value for t in policy.policy_types), direction.value})
    patch = json.dumps({"spec": {"policyTypes": types}})
    word = direction.value.lower()
    return Fix(
        f"add {direction.value} to policyTypes if the rules should apply (or delete them)",
        command(
            "kubectl",
            "patch",
            "networkpolicy",
            "-n",
            policy.namespace,
            policy.ref.name,
            "--type",
            "merge",
            "-p",
            patch,
            "--dry-run=server",
            "-o",
            "yaml",
        ),
        f"{word} of every pod it selects becomes deny-by-default, except what the rules "
        + ("admit (DNS included)" if direction is Direction.EGRESS else "admit"),
    )
