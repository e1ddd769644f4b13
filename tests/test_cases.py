"""Table-driven semantics: every file in tests/cases/ is one rule or trap.

A case lists objects (compact builders or raw manifests) and questions with the
expected verdict and finding ids; see tests/cases/README.md for the format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from builders import namespace, node, pod, policy, service, snapshot_of
from netpol_doctor.cni import CniInfo, profile_named
from netpol_doctor.diagnose import Symptom, diagnose
from netpol_doctor.model import Protocol

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))


def _expand(item: dict[str, Any]) -> dict[str, Any]:
    ((kind, body),) = item.items()
    if kind == "namespace":
        return namespace(body["name"], **(body.get("labels") or {}))
    if kind == "pod":
        body = dict(body)
        key = body.pop("key")
        return pod(key, body.pop("ip", None), labels=body.pop("labels", None), **body)
    if kind == "policy":
        return policy(body["key"], body["spec"])
    if kind == "node":
        return node(body["name"], body["ip"], body.get("pod_cidr"))
    if kind == "service":
        return service(body["key"], body.get("selector"), body["ports"], **body.get("spec", {}))
    if kind == "manifest":
        return body
    raise ValueError(f"unknown builder {kind!r}")


def _questions() -> list[Any]:
    out = []
    for path in CASES:
        case = yaml.safe_load(path.read_text())
        for i, q in enumerate(case["questions"]):
            out.append(pytest.param(path, case, q, id=f"{path.stem}[{i}]"))
    return out


@pytest.mark.parametrize(("path", "case", "question"), _questions())
def test_case(path: Path, case: dict[str, Any], question: dict[str, Any], tmp_path: Path) -> None:
    snap = snapshot_of(tmp_path, [_expand(o) for o in case["objects"]])
    cni = CniInfo(profile_named(case["cni"]), forced=True) if case.get("cni") else None
    diag = diagnose(
        snap,
        question["src"],
        question["dst"],
        question.get("port"),
        Protocol(question.get("protocol", "TCP")),
        cni=cni,
        symptom=Symptom(question["symptom"]) if "symptom" in question else None,
    )
    ids = [f.id for f in diag.findings]
    assert diag.verdict.value == question["verdict"], (path.name, question, ids)
    for fid in question.get("findings", []):
        assert fid in ids, (path.name, fid, ids)
    for fid in question.get("absent", []):
        assert fid not in ids, (path.name, fid, ids)
    if "first" in question:
        assert ids and ids[0] == question["first"], (path.name, question, ids)
    deciding = [f.id for f in diag.findings if diag.decides(f)]
    for fid in question.get("deciding", []):
        assert fid in deciding, (path.name, fid, deciding)
    for fid in question.get("not_deciding", []):
        assert fid not in deciding, (path.name, fid, deciding)
    for fid in question.get("problems", []):
        assert fid in [p.id for p in snap.problems], (path.name, fid)


def test_every_case_names_its_rules() -> None:
    for path in CASES:
        case = yaml.safe_load(path.read_text())
        assert case.get("description"), path.name
        assert case.get("rules"), path.name
