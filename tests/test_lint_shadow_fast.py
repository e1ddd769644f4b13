"""`rule-shadowed` compares only candidate rules (an index); the plain pairwise scan it
replaced is kept here as the oracle, and both must report the same findings, in the
same order, naming the same covering rule, on random policies built from a small
vocabulary (so that covering, equivalent and near-miss rules are frequent)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from netpol_doctor.findings import Finding
from netpol_doctor.lint_rules import LintContext
from netpol_doctor.lint_shadow import _covers, _finding, rule_shadowed
from netpol_doctor.model import Direction
from netpol_doctor.parse import Origin
from netpol_doctor.snapshot import Snapshot, build_snapshot


def _pairwise(ctx: LintContext) -> Iterator[Finding]:
    """The original O(rules²) implementation, verbatim."""
    for namespace in sorted(ctx.snapshot.policies_by_namespace):
        policies = sorted(ctx.snapshot.policies_by_namespace[namespace], key=lambda p: p.ref.name)
        entries = [(p, r) for d in Direction for p in policies if p.controls(d) for r in p.rules(d)]
        for i, (p, r) in enumerate(entries):
            for j, (q, r2) in enumerate(entries):
                if i == j or r.direction is not r2.direction or not _covers(q, r2, p, r):
                    continue
                if j > i and _covers(p, r, q, r2):
                    continue
                yield _finding(p, r, q, r2)
                break


_KEYS = ("app", "tier")
_VALUES = ("a", "b", "c")
_CIDRS = ("10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "0.0.0.0/0", "fd00::/8")


def _selector(rng: random.Random) -> dict[str, Any]:
    sel: dict[str, Any] = {}
    if rng.random() < 0.6:
        sel["matchLabels"] = {k: rng.choice(_VALUES) for k in rng.sample(_KEYS, rng.randint(1, 2))}
    if rng.random() < 0.4:
        exprs = []
        for _ in range(rng.randint(1, 2)):
            op = rng.choice(("In", "NotIn", "Exists", "DoesNotExist"))
            expr: dict[str, Any] = {"key": rng.choice(_KEYS), "operator": op}
            if op in ("In", "NotIn"):
                expr["values"] = rng.sample(_VALUES, rng.randint(1, 3))
            exprs.append(expr)
        sel["matchExpressions"] = exprs
    return sel


def _peer(rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.25:
        cidr = rng.choice(_CIDRS)
        block: dict[str, Any] = {"cidr": cidr}
        if cidr == "10.0.0.0/8" and rng.random() < 0.5:
            block["except"] = [rng.choice(("10.1.0.0/16", "10.1.2.0/24"))]
        return {"ipBlock": block}
    peer: dict[str, Any] = {}
    if roll < 0.75:
        peer["podSelector"] = _selector(rng)
    if roll > 0.5:
        peer["namespaceSelector"] = _selector(rng)
    return peer


def _port(rng: random.Random) -> dict[str, Any]:
    port: dict[str, Any] = {"protocol": rng.choice(("TCP", "TCP", "UDP"))}
    roll = rng.random()
    if roll < 0.5:
        port["port"] = rng.choice((80, 81, 443))
    elif roll < 0.7:
        port["port"] = rng.choice(("http", "web"))
    elif roll < 0.9:
        port["port"], port["endPort"] = rng.choice(((80, 90), (80, 81), (400, 500)))
    return port


def _rule(rng: random.Random, peers_field: str) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if rng.random() < 0.85:
        rule[peers_field] = [_peer(rng) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.7:
        rule["ports"] = [_port(rng) for _ in range(rng.randint(1, 2))]
    return rule


def _snapshot(rng: random.Random) -> Snapshot:
    docs: list[dict[str, Any]] = []
    for n in range(rng.randint(1, 5)):
        spec: dict[str, Any] = {"podSelector": _selector(rng) if rng.random() < 0.5 else {}}
        types = rng.choice((["Ingress"], ["Egress"], ["Ingress", "Egress"]))
        spec["policyTypes"] = types
        for t, field, peers in (("Ingress", "ingress", "from"), ("Egress", "egress", "to")):
            if t in types:
                spec[field] = [_rule(rng, peers) for _ in range(rng.randint(0, 6))]
        docs.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"p{n}", "namespace": rng.choice(("shop", "other"))},
                "spec": spec,
            }
        )
    return build_snapshot((d, Origin("random.yaml", i + 1)) for i, d in enumerate(docs))


def _key(f: Finding) -> tuple[object, ...]:
    return (f.field, f.message, f.objects)


@pytest.mark.parametrize("seed", range(40))
def test_indexed_rule_shadowed_matches_the_pairwise_scan(seed: int) -> None:
    rng = random.Random(seed)
    reported = 0
    for _ in range(25):
        ctx = LintContext(_snapshot(rng))
        fast = [_key(f) for f in rule_shadowed(ctx)]
        assert fast == [_key(f) for f in _pairwise(ctx)]
        reported += len(fast)
    assert reported  # the vocabulary is small enough that shadowing happens


def _many_rules(n: int) -> Snapshot:
    rules = [
        {"from": [{"podSelector": {"matchLabels": {"app": f"a{i}"}}}], "ports": [{"port": i + 1}]}
        for i in range(n)
    ]
    rules.append(rules[7])  # a duplicate: the later copy is reported
    doc = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "big", "namespace": "shop"},
        "spec": {"podSelector": {}, "ingress": rules},
    }
    return build_snapshot([(doc, Origin("big.yaml", 1))])


def test_thousands_of_distinct_rules_take_well_under_a_second() -> None:
    ctx = LintContext(_many_rules(2000))
    started = time.perf_counter()
    found = list(rule_shadowed(ctx))
    assert time.perf_counter() - started < 2.0  # the pairwise scan took 37-80 s here
    assert [f.field for f in found] == ["spec.ingress[2000]"]
