"""Finding ids: the catalog is documented and covered; the findings that table-driven
cases cannot express (input problems, forbidden reads) are tested here, as are the
fixes and the verification hint."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from builders import namespace, pod, policy, snapshot_of, write
from netpol_doctor.diagnose import diagnose
from netpol_doctor.findings import CATALOG
from netpol_doctor.snapshot import load_snapshot
from test_cli import DEMO, EXAMPLES, run

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).parent / "cases"

#: ids whose trigger and near miss live in Python tests (input problems, live reads)
TESTED_IN_PYTHON = {
    "input-unreadable",
    "input-malformed",
    "input-invalid",
    "input-duplicate",
    "input-duplicate-key",
    "namespace-missing",
    "policy-warning",
    "reads-forbidden",
    "policy-invalid",
    # evidence: flow logs (tests/test_flows.py) and real tests (tests/test_probe.py)
    "observed-drop-policy-allows",
    "observed-allow-policy-denies",
    "observed-policy-not-in-input",
}


def test_every_id_has_a_doc_page() -> None:
    missing = [fid for fid in CATALOG if not (ROOT / "docs" / "findings" / f"{fid}.md").exists()]
    assert not missing


def test_every_id_has_a_trigger_and_a_near_miss_case() -> None:
    triggered: set[str] = set()
    avoided: set[str] = set()
    for path in CASES.glob("*.yaml"):
        for q in yaml.safe_load(path.read_text())["questions"]:
            triggered |= set(q.get("findings", [])) | set(q.get("problems", []))
            avoided |= set(q.get("absent", []))
    assert set(CATALOG) - TESTED_IN_PYTHON <= triggered, set(CATALOG) - triggered
    assert set(CATALOG) - TESTED_IN_PYTHON <= avoided, set(CATALOG) - avoided


def _two_pods() -> list[dict[str, object]]:
    return [
        namespace("shop"),
        pod("shop/a", "10.0.0.1", app="a"),
        pod("shop/b", "10.0.0.2", app="b"),
    ]


def test_reads_forbidden_makes_the_verdict_unknown(tmp_path: Path) -> None:
    snap = snapshot_of(tmp_path, _two_pods())
    snap.unreadable.add(("networkpolicies", "shop"))
    diag = diagnose(snap, "shop/a", "shop/b", 80)
    assert diag.verdict.value == "unknown"
    assert "reads-forbidden" in [f.id for f in diag.findings]
    snap2 = snapshot_of(tmp_path, _two_pods())
    snap2.unreadable.add(("networkpolicies", "other"))
    diag2 = diagnose(snap2, "shop/a", "shop/b", 80)
    assert diag2.verdict.value == "allowed"
    assert "reads-forbidden" not in [f.id for f in diag2.findings]


def test_policy_warning_is_admitted_and_evaluated(tmp_path: Path) -> None:
    host_bits = policy(
        "shop/p",
        {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.5/24"}}]}]},
    )
    snap = snapshot_of(tmp_path, [*_two_pods(), host_bits])
    assert [p.id for p in snap.problems] == ["policy-warning"]
    assert len(snap.policies) == 1
    clean = policy(
        "shop/p",
        {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/24"}}]}]},
    )
    assert not snapshot_of(tmp_path, [*_two_pods(), clean]).problems


def test_namespace_missing_only_for_absent_namespaces(tmp_path: Path) -> None:
    assert not snapshot_of(tmp_path, _two_pods()).problems
    snap = snapshot_of(tmp_path, _two_pods()[1:])
    assert [p.id for p in snap.problems] == ["namespace-missing"]


def test_input_duplicate_near_miss(tmp_path: Path) -> None:
    a = write(tmp_path, _two_pods(), "a.yaml")
    b = write(tmp_path, [pod("shop/c", "10.0.0.3", app="c")], "b.yaml")
    assert not load_snapshot([a, b]).problems


def test_namespace_label_fix_is_a_kubectl_label_command() -> None:
    r = run(*DEMO, "-o", "json")
    data = json.loads(r.stdout)
    ids = [f["id"] for f in data["findings"]]
    # root cause first: the blocking direction, then its nearest miss
    assert ids[:2] == ["ingress-not-allowed", "namespace-label-mismatch"]
    fix = data["findings"][1]["fix"]
    assert fix["snippet"] == "kubectl label namespace monitoring team=monitoring --overwrite"
    assert "team=monitoring" in fix["caution"]
    generic = data["findings"][0]["fix"]
    manifest = yaml.safe_load(generic["snippet"])
    assert manifest["kind"] == "NetworkPolicy" and manifest["metadata"]["namespace"] == "shop"
    assert manifest["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9090}]


def test_fix_snippets_are_valid_policies(tmp_path: Path) -> None:
    """Applying the printed new-policy fix to the input really admits the flow."""
    snap = load_snapshot([EXAMPLES])
    diag = diagnose(snap, "monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", 9090)
    fix = next(f.fix for f in diag.findings if f.id == "ingress-not-allowed")
    assert fix is not None and fix.snippet is not None
    (tmp_path / "fix.yaml").write_text(fix.snippet)
    fixed = load_snapshot([EXAMPLES, tmp_path / "fix.yaml"])
    assert not [p for p in fixed.problems if p.id == "policy-invalid"]
    after = diagnose(fixed, "monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", 9090)
    assert after.verdict.value == "allowed"


def test_verification_hint_names_a_pod_that_would_pass() -> None:
    snap = load_snapshot([EXAMPLES])
    diag = diagnose(snap, "payments/payments-api-5f6d7c8b9-r7vzl", "shop/db-0", 5432)
    assert diag.verdict.value == "denied"
    failing, passing = diag.verify
    assert failing.startswith("kubectl exec -n payments payments-api-5f6d7c8b9-r7vzl -- nc -zv")
    assert "expected to connect" in passing
    ns, alt = passing.split()[3:5]
    again = diagnose(snap, f"{ns}/{alt}", "shop/db-0", 5432)
    assert again.verdict.value == "allowed"


def test_dns_check_destination() -> None:
    r = run(
        "diagnose",
        "payments/payments-api-5f6d7c8b9-r7vzl",
        "dns",
        "--snapshot",
        str(EXAMPLES),
        "-o",
        "json",
    )
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["protocol"] == "UDP+TCP"
    assert "dns-egress-missing" in [f["id"] for f in data["findings"]]
    msg = next(f["message"] for f in data["findings"] if f["id"] == "dns-egress-missing")
    assert "on TCP 53 is not allowed (UDP 53 is allowed)" in msg
    ok = run("diagnose", "shop/api-7c9d8b6f5-x4kzp", "dns", "--snapshot", str(EXAMPLES))
    assert ok.returncode == 0, ok.stdout


def test_findings_index_lists_every_id() -> None:
    index = (ROOT / "docs" / "findings" / "README.md").read_text()
    assert not [fid for fid in CATALOG if f"[`{fid}`]({fid}.md)" not in index]
