"""`lint`: one YAML case per rule in tests/lint_cases/<rule-id>.yaml, plus the contract
around the rules (docs, suppression, options, ordering, SARIF, the demo cluster).

Case format (objects use the builders of tests/cases, see tests/cases/README.md):

    description: the rule and why it matters
    rules: [NP-26]                 # SEMANTICS.md ids it pins
    options: {cni: aws-vpc-cni, pod_cidrs: [...], service_cidrs: [...], enable: [...]}
    objects: [...]                 # must produce every id in `expect`
    expect: [rules-ignored-by-policy-types]
    messages: ["egress rule"]      # substrings of some message of the file's rule
    near_miss: [...]               # objects that must not produce the file's rule
    near_misses: [[...], [...]]    # optional further near misses
"""

from __future__ import annotations

import json
from dataclasses import replace
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft4Validator, FormatChecker

from builders import namespace, pod, policy, snapshot_of
from netpol_doctor.engine import Endpoint, EndpointKind, Verdict, evaluate
from netpol_doctor.errors import NetpolDoctorError
from netpol_doctor.findings import Finding, Severity
from netpol_doctor.lint import (
    IGNORE_ANNOTATION,
    RULES,
    LintOptions,
    LintRule,
    enabled_rules,
    lint,
)
from netpol_doctor.lint_rules import admits_any
from netpol_doctor.lint_shadow import selector_within
from netpol_doctor.model import (
    Direction,
    IPBlock,
    LabelSelector,
    Operator,
    Protocol,
    Requirement,
)
from netpol_doctor.render.sarif import render_sarif
from netpol_doctor.snapshot import Snapshot, load_snapshot
from netpol_doctor.targets import endpoint_for_pod
from test_cases import _expand

ROOT = Path(__file__).parent.parent
CASES = sorted((Path(__file__).parent / "lint_cases").glob("*.yaml"))
DOCS = ROOT / "docs" / "lint"
SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
EXAMPLE = ROOT / "examples" / "cluster"


def _options(raw: dict[str, Any] | None) -> LintOptions:
    raw = raw or {}
    return LintOptions(
        enable=frozenset(raw.get("enable", ())),
        pod_cidrs=tuple(ip_network(c) for c in raw.get("pod_cidrs", ())),
        service_cidrs=tuple(ip_network(c) for c in raw.get("service_cidrs", ())),
        cni=raw.get("cni"),
    )


def _lint(tmp: Path, objects: list[dict[str, Any]], options: LintOptions) -> list[Finding]:
    return lint(snapshot_of(tmp, [_expand(o) for o in objects]), options)


def _case(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = yaml.safe_load(path.read_text())
    return case


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_rule_triggers(path: Path, tmp_path: Path) -> None:
    case = _case(path)
    found = _lint(tmp_path, case["objects"], _options(case.get("options")))
    ids = [f.id for f in found]
    assert path.stem in case["expect"], path.name
    for fid in case["expect"]:
        assert fid in ids, (path.name, fid, ids)
    messages = [f.message for f in found if f.id == path.stem]
    for text in case.get("messages", []):
        assert any(text in m for m in messages), (path.name, text, messages)
    for f in found:
        assert f.objects and f.objects[0].file is not None, f  # every finding has a place


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_rule_near_misses(path: Path, tmp_path: Path) -> None:
    case = _case(path)
    options = _options(case.get("options"))
    for i, objects in enumerate([case["near_miss"], *case.get("near_misses", [])]):
        where = tmp_path / str(i)
        where.mkdir()
        found = [f for f in _lint(where, objects, options) if f.id == path.stem]
        assert not found, (path.name, i, [f.message for f in found])


def test_every_rule_has_a_case_and_a_doc_page() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(p.stem for p in CASES)
    index = (DOCS / "README.md").read_text()
    for rule in RULES:
        page = DOCS / f"{rule.id}.md"
        assert page.exists(), rule.id
        text = page.read_text()
        assert text.startswith(f"# `{rule.id}`"), rule.id
        for heading in ("## What it does", "## Why", "## Example", "## Fix"):
            assert heading in text, (rule.id, heading)
        assert f"[`{rule.id}`]({rule.id}.md)" in index, rule.id
        case = _case(Path(__file__).parent / "lint_cases" / f"{rule.id}.yaml")
        assert case.get("description") and case.get("rules"), rule.id


def test_rule_ids_are_kebab_case_and_findings_carry_them(tmp_path: Path) -> None:
    for rule in RULES:
        assert rule.id == rule.id.lower() and " " not in rule.id and "_" not in rule.id
    ids = {r.id for r in RULES}
    for f in lint(load_snapshot([EXAMPLE]), LintOptions(enable=frozenset(ids))):
        assert f.id in ids
        assert f.severity.rank >= next(r for r in RULES if r.id == f.id).severity.rank


# --- options and suppression -----------------------------------------------------------


def _annotated(key: str, spec: dict[str, Any], ignore: str) -> dict[str, Any]:
    doc = policy(key, spec)
    doc["metadata"]["annotations"] = {IGNORE_ANNOTATION: ignore}
    return doc


_BROAD = {
    "podSelector": {},
    "policyTypes": ["Ingress"],
    "ingress": [{"from": [{"namespaceSelector": {}}]}],
}


def test_annotation_suppresses_only_the_named_ids_on_that_object(tmp_path: Path) -> None:
    objects = [
        namespace("shop"),
        pod("shop/api", "10.0.0.1", app="api"),
        _annotated("shop/quiet", _BROAD, " rule-shadowed , broad-namespace-selector"),
        _annotated("shop/other-id", _BROAD, "policy-types-missing"),
        policy("shop/loud", _BROAD),
    ]
    found = lint(snapshot_of(tmp_path, objects))
    broad = sorted(f.objects[0].name for f in found if f.id == "broad-namespace-selector")
    assert broad == ["loud", "other-id"]
    shadowed = {f.objects[0].name for f in found if f.id == "rule-shadowed"}
    assert "quiet" not in shadowed


def test_namespace_annotation_suppresses_namespace_findings(tmp_path: Path) -> None:
    ns = namespace("shop")
    ns["metadata"]["annotations"] = {IGNORE_ANNOTATION: "namespace-without-default-deny"}
    objects = [ns, namespace("batch"), pod("shop/a", "10.0.0.1"), pod("batch/b", "10.0.0.2")]
    options = LintOptions(enable=frozenset({"namespace-without-default-deny"}))
    found = lint(snapshot_of(tmp_path, objects), options)
    assert [f.objects[0].name for f in found] == ["batch"]


def test_ignore_option_and_off_by_default_rules(tmp_path: Path) -> None:
    snap = snapshot_of(tmp_path, [namespace("shop"), pod("shop/a", "10.0.0.1", app="a")])
    assert not lint(snap)  # namespace-without-default-deny is off by default
    enable = frozenset({"namespace-without-default-deny"})
    assert [f.id for f in lint(snap, LintOptions(enable=enable))] == [
        "namespace-without-default-deny"
    ]
    assert not lint(snap, LintOptions(enable=enable, ignore=enable))
    assert "broad-namespace-selector" not in {
        r.id for r in enabled_rules(LintOptions(ignore=frozenset({"broad-namespace-selector"})))
    }


def test_unknown_rule_ids_and_plugins_are_errors() -> None:
    snap = load_snapshot([EXAMPLE])
    with pytest.raises(NetpolDoctorError, match="unknown lint rule 'no-such-rule'"):
        lint(snap, LintOptions(ignore=frozenset({"no-such-rule"})))
    with pytest.raises(NetpolDoctorError, match="unknown network plugin"):
        lint(snap, LintOptions(cni="no-such-cni"))


def test_pod_cidr_option_adds_to_the_nodes(tmp_path: Path) -> None:
    spec = {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.42.0.0/24"}}]}],
    }
    snap = snapshot_of(tmp_path, [namespace("shop"), policy("shop/p", spec)])
    assert not [f for f in lint(snap) if f.id == "ipblock-overlaps-pod-cidr"]
    options = LintOptions(pod_cidrs=(ip_network("10.42.0.0/16"),))
    assert [f.severity for f in lint(snap, options) if f.id == "ipblock-overlaps-pod-cidr"] == [
        Severity.WARNING
    ]


def test_service_cluster_ip_in_a_small_block_without_service_cidr(tmp_path: Path) -> None:
    spec = {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.96.0.10/32"}}], "ports": [{"port": 53}]}],
    }
    dns = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system"},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 53}]},
    }
    found = lint(snapshot_of(tmp_path, [namespace("shop"), dns, policy("shop/p", spec)]))
    hits = [f.message for f in found if f.id == "ipblock-overlaps-service-cidr"]
    assert len(hits) == 1 and "Service kube-system/kube-dns" in hits[0]


def test_findings_are_sorted_by_file_line_id(tmp_path: Path) -> None:
    found = lint(load_snapshot([EXAMPLE]))
    keys = [(f.objects[0].file or "", f.objects[0].line or 0, f.id) for f in found]
    assert keys == sorted(keys)


# --- the demo cluster --------------------------------------------------------------------

#: The traps examples/README.md lists, as lint sees them: (rule id, policy).
EXAMPLE_TRAPS = {
    ("namespace-selector-matches-nothing", "shop/api-allow-prometheus-scrape"),
    ("pod-selector-matches-nothing", "payments/payments-api-allow-shop-api"),
    ("pod-selector-matches-nothing", "shop/db-allow-clients"),
    ("rules-ignored-by-policy-types", "shop/frontend"),
    ("policy-types-missing", "payments/payments-db-egress"),
    ("dns-egress-missing", "payments/allow-dns-egress"),
    ("named-port-undefined", "payments/payments-api-allow-prometheus"),
}


def test_lint_finds_the_traps_of_the_demo_cluster() -> None:
    found = lint(load_snapshot([EXAMPLE]))
    assert {(f.id, f.objects[0].key) for f in found} == EXAMPLE_TRAPS
    dns = next(f for f in found if f.id == "dns-egress-missing")
    assert dns.severity is Severity.ERROR and "TCP 53" in dns.message
    assert all(f.objects[0].file == str(EXAMPLE / "networkpolicies.yaml") for f in found)


# --- SARIF -----------------------------------------------------------------------------


def _sarif(findings: list[Finding], base_dir: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(render_sarif(findings, RULES, base_dir=base_dir))
    # Every format jsonschema knows (uri, uri-reference, ...), not only draft 4's.
    validator = Draft4Validator(SCHEMA, format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(data), key=str)
    assert not errors, [e.message for e in errors]
    return data


def test_sarif_is_valid_and_complete_for_the_demo_cluster() -> None:
    found = lint(load_snapshot([EXAMPLE]))
    data = _sarif(found, base_dir=str(ROOT))
    run = data["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "netpol-doctor" and driver["version"]
    assert [r["id"] for r in driver["rules"]] == [r.id for r in RULES]
    for rule in driver["rules"]:
        assert "helpUri" not in rule  # no absolute home to point at: the page rides along
        assert rule["help"]["markdown"] == (DOCS / f"{rule['id']}.md").read_text()
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    results = run["results"]
    assert len(results) == len(found)
    for result, f in zip(results, found, strict=True):
        assert result["ruleId"] == f.id
        assert driver["rules"][result["ruleIndex"]]["id"] == f.id
        assert (
            result["level"]
            == {"error": "error", "warning": "warning", "info": "note"}[f.severity.value]
        )
        loc = result["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "examples/cluster/networkpolicies.yaml"
        assert loc["region"]["startLine"] >= 1
    prints = [next(iter(r["partialFingerprints"].values())) for r in results]
    assert len(set(prints)) == len(prints)


def test_sarif_fingerprints_survive_line_moves_and_unlocated_findings(tmp_path: Path) -> None:
    spec = {"podSelector": {"matchLabels": {"app": "x"}}, "egress": [{}]}
    first = lint(snapshot_of(tmp_path, [namespace("shop"), policy("shop/p", spec)]))
    moved_dir = tmp_path / "moved"
    moved_dir.mkdir()
    moved = lint(snapshot_of(moved_dir, [namespace("a"), namespace("b"), policy("shop/p", spec)]))
    assert [f.id for f in first] == [f.id for f in moved] == ["policy-types-missing"]
    a = _sarif(first)["runs"][0]["results"][0]
    b = _sarif(moved)["runs"][0]["results"][0]
    assert a["partialFingerprints"] == b["partialFingerprints"]
    assert b["locations"][0]["physicalLocation"]["region"]["startLine"] > 1
    # A finding about an object read from nowhere (a live cluster) still renders validly.
    bare = Finding("policy-types-missing", Severity.INFO, "no file", ())
    assert "locations" not in _sarif([bare])["runs"][0]["results"][0]


# --- rule-shadowed: structure, and the engine as oracle ----------------------------------

_SHADOW_MIX: list[dict[str, Any]] = [
    namespace("shop", team="shop"),
    namespace("other", team="other"),
    pod("shop/web", "10.0.0.1", app="web", tier="front"),
    pod("shop/api", "10.0.0.2", app="api"),
    pod("shop/db", "10.0.0.3", app="db"),
    pod("other/client", "10.0.1.1", app="client"),
    policy(
        "shop/api",
        {
            "podSelector": {"matchLabels": {"app": "api"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                    "ports": [{"port": 8080}],
                },
                {"from": [{"podSelector": {}}], "ports": [{"port": 8000, "endPort": 9000}]},
            ],
        },
    ),
    policy(
        "shop/api-metrics",  # same pods in substance, not by structure: not reported
        {
            "podSelector": {"matchLabels": {"app": "api"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {"matchLabels": {"team": "shop"}},
                            "podSelector": {"matchLabels": {"app": "web"}},
                        }
                    ],
                    "ports": [{"port": 8080}],
                }
            ],
        },
    ),
    *(
        policy(
            f"shop/{name}",
            {
                "podSelector": {"matchLabels": {"app": "db"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"namespaceSelector": {"matchLabels": {"team": "other"}}}],
                        "ports": [{"port": 5432}],
                    }
                ],
            },
        )
        for name in ("dup-a", "dup-b")
    ),
    policy(
        "shop/egress",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]},
                {"to": [{"ipBlock": {"cidr": "10.2.0.0/16"}}], "ports": [{"port": 443}]},
            ],
        },
    ),
    policy(
        "shop/web-egress",  # inside the except of shop/egress: not shadowed
        {
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.1.0.0/24"}}]}],
        },
    ),
]


def test_rule_shadowed_reports_exactly_the_redundant_rules(tmp_path: Path) -> None:
    found = [f for f in lint(snapshot_of(tmp_path, _SHADOW_MIX)) if f.id == "rule-shadowed"]
    assert sorted((f.objects[0].key, f.field) for f in found) == [
        ("shop/api", "spec.ingress[0]"),
        ("shop/dup-b", "spec.ingress[0]"),
        ("shop/egress", "spec.egress[1]"),
    ]


def test_removing_a_shadowed_rule_changes_no_verdict(tmp_path: Path) -> None:
    snap = snapshot_of(tmp_path, _SHADOW_MIX)
    pods = [endpoint_for_pod(snap, p) for p in snap.pods]
    outside = [Endpoint(EndpointKind.EXTERNAL, None, (ip_address(a),)) for a in _OUTSIDE]
    flows = [(s, d) for s in pods for d in pods + outside if s is not d] + [
        (s, d) for s in outside for d in pods
    ]
    questions = [(proto, port) for proto in (Protocol.TCP, Protocol.UDP) for port in _PORTS]

    def verdicts(s: Snapshot) -> list[Verdict]:
        return [
            evaluate(s, a, b, proto, port).verdict for a, b in flows for proto, port in questions
        ]

    before = verdicts(snap)
    for f in lint(snap):
        if f.id != "rule-shadowed":
            continue
        target = next(p for p in snap.policies if p.ref == f.objects[0])
        kept = {d: tuple(r for r in target.rules(d) if r.path != f.field) for d in Direction}
        changed = replace(target, ingress=kept[Direction.INGRESS], egress=kept[Direction.EGRESS])
        policies = [changed if p is target else p for p in snap.policies]
        assert verdicts(replace(snap, policies=policies)) == before, f.message


_OUTSIDE = ("10.2.3.4", "10.1.0.5", "8.8.8.8")
_PORTS = (443, 5432, 8080, 8500, 9090)


@pytest.mark.parametrize(
    ("block", "excepts", "net", "admits"),
    [
        ("0.0.0.0/0", ["10.0.0.0/8"], "10.244.0.0/16", False),
        ("0.0.0.0/0", [], "10.244.0.0/16", True),
        ("10.244.0.0/16", ["10.244.0.0/17", "10.244.128.0/17"], "10.244.0.0/16", False),
        ("10.244.0.0/16", ["10.244.0.0/17"], "10.244.0.0/16", True),
        ("10.244.1.0/28", [], "10.244.0.0/16", True),
        ("192.168.0.0/16", [], "10.244.0.0/16", False),
        ("::/0", [], "10.244.0.0/16", False),
    ],
)
def test_admits_any(block: str, excepts: list[str], net: str, admits: bool) -> None:
    ip_block = IPBlock(ip_network(block), tuple(ip_network(e) for e in excepts))
    assert admits_any(ip_block, ip_network(net)) is admits


def _sel(*reqs: tuple[str, str, tuple[str, ...]]) -> LabelSelector:
    return LabelSelector(tuple(Requirement(k, Operator(op), v) for k, op, v in reqs))


@pytest.mark.parametrize(
    ("a", "b", "within"),
    [
        (_sel(("app", "In", ("a",))), _sel(), True),
        (_sel(), _sel(("app", "In", ("a",))), False),
        (_sel(("app", "In", ("a",)), ("tier", "In", ("x",))), _sel(("app", "In", ("a",))), True),
        (_sel(("app", "In", ("a",))), _sel(("app", "In", ("a", "b"))), True),
        (_sel(("app", "In", ("a", "b"))), _sel(("app", "In", ("a",))), False),
        (_sel(("app", "In", ("a",))), _sel(("app", "Exists", ())), True),
        (_sel(("app", "In", ("a",))), _sel(("app", "NotIn", ("b",))), True),
        (_sel(("app", "DoesNotExist", ())), _sel(("app", "NotIn", ("b",))), True),
        (_sel(("app", "NotIn", ("b",))), _sel(("app", "Exists", ())), False),
        (_sel(("app", "NotIn", ("b", "c"))), _sel(("app", "NotIn", ("b",))), True),
    ],
)
def test_selector_within(a: LabelSelector, b: LabelSelector, within: bool) -> None:
    assert selector_within(a, b) is within


# --- the docs' examples ----------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_doc_example_triggers_its_rule(rule: LintRule, tmp_path: Path) -> None:
    page = (DOCS / f"{rule.id}.md").read_text()
    example = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.yaml").write_text(example)
    options = _options(
        _case(Path(__file__).parent / "lint_cases" / f"{rule.id}.yaml").get("options")
    )
    found = lint(load_snapshot([tmp_path / "example.yaml"]), options)
    assert rule.id in [f.id for f in found]


def test_annotation_suppresses_policy_warning_of_an_admitted_policy(tmp_path: Path) -> None:
    spec = {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "192.168.0.5/24"}}]}],
    }
    loud = lint(snapshot_of(tmp_path, [namespace("shop"), policy("shop/p", spec)]))
    assert [f.id for f in loud] == ["policy-warning"]
    quiet_dir = tmp_path / "quiet"
    quiet_dir.mkdir()
    quiet = [namespace("shop"), _annotated("shop/p", spec, "policy-warning")]
    assert not lint(snapshot_of(quiet_dir, quiet))
