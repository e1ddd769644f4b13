"""Bad input: every problem names file, document, object and field, in plain words;
the rest of the input is still analysed; no traceback ever reaches the user."""

from __future__ import annotations

import json
from pathlib import Path

from builders import namespace, pod, policy
from netpol_doctor.diagnose import diagnose
from netpol_doctor.snapshot import load_snapshot
from test_cli import run

GOOD = """\
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: shop, labels: {app: a}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: shop, labels: {app: b}}
status: {podIP: 10.0.0.2}
"""


def test_malformed_yaml_document_spoils_only_itself(tmp_path: Path) -> None:
    bad = (
        GOOD
        + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: c\n  labels: [\n---\n"
        + ("apiVersion: v1\nkind: Pod\nmetadata: {name: d, namespace: shop}\n")
    )
    f = tmp_path / "pods.yaml"
    f.write_text(bad)
    snap = load_snapshot([f])
    assert sorted(p.name for p in snap.pods) == ["a", "b", "d"]
    (problem,) = [p for p in snap.problems if p.id == "input-malformed"]
    ref = problem.objects[0]
    assert ref.file == str(f) and ref.document == 3
    assert "line" in problem.message and "not valid YAML" in problem.message


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "pods.json"
    f.write_text('{"apiVersion": "v1", "kind": "List", "items": [\n  {"kind": "Pod",,}\n]}')
    other = tmp_path / "ok.yaml"
    other.write_text(GOOD)
    snap = load_snapshot([tmp_path])
    (problem,) = [p for p in snap.problems if p.id == "input-malformed"]
    assert "line 2 column" in problem.message
    assert len(snap.pods) == 2


def test_wrong_field_types_name_the_field(tmp_path: Path) -> None:
    bad_pod = pod("shop/x", "10.0.0.3", app="x")
    bad_pod["metadata"]["labels"] = ["app", "x"]
    bad_pod["spec"]["containers"][0]["ports"] = [{"containerPort": "eighty"}]
    f = tmp_path / "c.yaml"
    import yaml

    f.write_text(yaml.safe_dump_all([namespace("shop"), bad_pod]))
    snap = load_snapshot([f])
    fields = {p.field for p in snap.problems if p.id == "input-invalid"}
    assert "metadata.labels" in fields
    assert "spec.containers[0].ports[0].containerPort" in fields
    msgs = " ".join(p.message for p in snap.problems)
    assert "expected a mapping, got a list" in msgs
    assert any(p.objects[0].key == "shop/x" and p.objects[0].kind == "Pod" for p in snap.problems)
    assert snap.pods_by_key["shop/x"].labels == ()


def _policy_problem(tmp_path: Path, spec: dict[str, object]) -> list[tuple[str, str | None, str]]:
    import yaml

    f = tmp_path / "np.yaml"
    f.write_text(yaml.safe_dump_all([namespace("shop"), policy("shop/p", spec)]))
    snap = load_snapshot([f])
    assert not snap.policies
    return [(p.id, p.field, p.message) for p in snap.problems]


def test_invalid_policies_are_rejected_with_field_paths(tmp_path: Path) -> None:
    cases = {
        "spec.podSelector.matchExpressions[0].operator": {
            "podSelector": {
                "matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]
            }
        },
        "spec.podSelector.matchExpressions[0].values": {
            "podSelector": {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}
        },
        "spec.ingress[0].from[0].ipBlock.cidr": {
            "podSelector": {},
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.300/8"}}]}],
        },
        "spec.ingress[0].ports[0].port": {
            "podSelector": {},
            "ingress": [{"ports": [{"port": 70000}]}],
        },
        "spec.ingress[0].ports[0].endPort": {
            "podSelector": {},
            "ingress": [{"ports": [{"port": 9000, "endPort": 80}]}],
        },
    }
    for path, spec in cases.items():
        problems = _policy_problem(tmp_path, spec)
        assert any(pid == "policy-invalid" and fld == path for pid, fld, _ in problems), (
            path,
            problems,
        )


def test_duplicate_objects_warn_with_both_locations(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    snap = load_snapshot([tmp_path])
    dups = [p for p in snap.problems if p.id == "input-duplicate"]
    assert len(dups) == 2
    assert "a.yaml" in dups[0].message and dups[0].objects[0].file.endswith("b.yaml")
    assert len(snap.pods) == 2


def test_valid_objects_still_analysed_beside_bad_ones(tmp_path: Path) -> None:
    import yaml

    objs = [
        namespace("shop"),
        pod("shop/a", "10.0.0.1", app="a"),
        pod("shop/b", "10.0.0.2", app="b"),
        policy("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]}),
        policy("shop/broken", {"podSelector": {}, "ingress": [{"ports": [{"port": "80"}]}]}),
        {"kind": "Pod"},
        "just a string",
    ]
    f = tmp_path / "mixed.yaml"
    f.write_text(yaml.safe_dump_all(objs))
    snap = load_snapshot([f])
    assert diagnose(snap, "shop/a", "shop/b", 80).verdict.value == "denied"
    quoted = [p for p in snap.problems if p.id == "policy-invalid"]
    assert quoted and quoted[0].objects[0].key == "shop/broken"


def test_cli_check_reports_problems_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: Pod\nmetadata: {name: [\n")
    (tmp_path / "good.yaml").write_text(GOOD)
    r = run("check", "--snapshot", str(tmp_path))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr + r.stdout
    assert "bad.yaml" in r.stdout and "document 1" in r.stdout
    assert "2 pods" in r.stdout
    j = json.loads(run("check", "--snapshot", str(tmp_path), "-o", "json").stdout)
    assert j["summary"]["pods"] == 2


def test_cli_diagnose_still_answers_with_bad_files_present(tmp_path: Path) -> None:
    # A broken file that names only Pods cannot have held a policy: the answer stands.
    (tmp_path / "bad.json").write_text('{"kind": "Pod", nope')
    (tmp_path / "good.yaml").write_text(GOOD)
    r = run("diagnose", "shop/a", "shop/b", "--port", "80", "--snapshot", str(tmp_path))
    assert r.returncode == 0
    assert "bad.json" in r.stderr and "not valid JSON" in r.stderr
    assert r.stdout.startswith("ALLOWED")


def test_a_broken_file_that_may_hold_policies_makes_the_answer_unknown(tmp_path: Path) -> None:
    # "{nope" could have been a deny-all: never a false "allowed".
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "good.yaml").write_text(GOOD)
    r = run("diagnose", "shop/a", "shop/b", "--port", "80", "--snapshot", str(tmp_path))
    assert r.returncode == 3, r.stdout
    assert r.stdout.startswith("UNKNOWN")
    assert "bad.json" in r.stderr


def test_no_traceback_on_garbage_files(tmp_path: Path) -> None:
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "list.yaml").write_text("- 1\n- [2]\n- {kind: 3}\n")
    (tmp_path / "np.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: 7\n"
    )
    r = run("check", "--snapshot", str(tmp_path))
    assert "Traceback" not in r.stderr + r.stdout
    assert r.returncode == 2
