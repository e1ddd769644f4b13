"""Text a person can trust: every question of every case in tests/cases/ and
tests/cilium_cases/, and the examples/ cluster, rendered in every output format of
`diagnose`, `pod`, `matrix` and `lint`, must be free of Python reprs (`None`, `['a']`,
`Verdict.DENIED`), `(s)` plurals, internal rule ids (`NP-40`), our own JSON keys in
prose, findings printed twice and raw control characters.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import test_cilium
from builders import snapshot_of
from netpol_doctor.cni import CniInfo, profile_named
from netpol_doctor.diagnose import Diagnosis, Symptom, diagnose
from netpol_doctor.errors import NetpolDoctorError
from netpol_doctor.lint import RULES, lint
from netpol_doctor.matrix import compute_matrix, compute_port_sweep
from netpol_doctor.model import Protocol
from netpol_doctor.podinfo import pod_view
from netpol_doctor.render.markdown import render_diagnosis_markdown
from netpol_doctor.render.matrixout import (
    iter_csv,
    iter_json,
    iter_sweep_json,
    render_summary,
    render_sweep_summary,
)
from netpol_doctor.render.sarif import render_sarif
from netpol_doctor.render.structured import diagnosis_dict, finding_dict, pod_dict
from netpol_doctor.render.text import (
    render_diagnosis,
    render_lint,
    render_matrix,
    render_pod,
    render_problems,
)
from netpol_doctor.snapshot import Snapshot, load_snapshot
from test_cases import _expand

HERE = Path(__file__).parent
ROOT = HERE.parent

#: What must never reach a reader, with why.
BAD: list[tuple[str, re.Pattern[str]]] = [
    ("a Python None", re.compile(r"\bNone\b")),
    ("a Python bool", re.compile(r"\b(True|False)\b")),
    ("a Python list or dict repr", re.compile(r"[\[{(]\s*'[^']*'\s*[,:\]})]")),
    ("an object repr", re.compile(r"<[\w.]+ object at 0x|\b[A-Z]\w+\(\w+=")),
    (
        "an enum repr",
        re.compile(
            r"\b(Tri|Verdict|Direction|Protocol|Severity|Action|EndpointKind|PeerMiss|"
            r"Exemption|Symptom)\.[A-Z_]+\b"
        ),
    ),
    ("a collection repr", re.compile(r"\b(frozenset|set|tuple|dict)\(")),
    ("a '(s)' plural", re.compile(r"\w\(s\)")),
    (
        "a wrong plural",
        re.compile(
            r"(?<![\d.:/-])\b1 (pods|rules|policies|pairs|errors|warnings|nodes|ports|changes|"
            r"namespaces|endpoints|addresses|entries|peers)\b"
        ),
    ),
    ("an internal rule id", re.compile(r"\b(NP|ADM|CIL|CAL|CNI|SEL|VAL|KEP)-\d+\b")),
]
#: Control characters other than newline and tab, and DEL: a hostile name must not
#: reach a terminal raw (the coloured output adds its own escapes; plain must not).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def _strings(data: Any) -> Iterator[str]:
    """Every string value of a JSON document: what a person reads from it."""
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for v in data.values():
            yield from _strings(v)
    elif isinstance(data, list):
        for v in data:
            yield from _strings(v)


def _keys(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield k
            yield from _keys(v)
    elif isinstance(data, list):
        for v in data:
            yield from _keys(v)


def _json_keys_in_prose(prose: str, data: Any) -> list[str]:
    ours = {k for k in _keys(data) if "_" in k}
    return [k for k in ours if re.search(rf"\b{re.escape(k)}\b", prose)]


def check_prose(where: str, text: str, *, escaped: bool = False) -> list[str]:
    """`escaped`: the text is a decoded JSON string, whose control characters the JSON
    itself carries escaped."""
    out = [
        f"{where}: {why}: ...{text[max(0, m.start() - 60) : m.end() + 20]!r}"
        for why, rx in BAD
        for m in rx.finditer(text)
    ]
    if not escaped:
        out += [f"{where}: raw control character {m.group(0)!r}" for m in CONTROL.finditer(text)]
    return out


def _check_json(where: str, data: Any) -> list[str]:
    return [e for s in _strings(data) for e in check_prose(where, s, escaped=True)]


def _twice(where: str, diag: Diagnosis, text: str) -> list[str]:
    out = []
    seen: set[tuple[str, str]] = set()
    for f in diag.findings:
        if (f.id, f.message) in seen:
            out.append(f"{where}: finding {f.id} twice")
        seen.add((f.id, f.message))
    lines = [ln for ln in text.splitlines() if ln.startswith("  [")]
    out += [f"{where}: line printed twice: {ln[:80]}" for ln in set(lines) if lines.count(ln) > 1]
    return out


def check_diagnosis(where: str, diag: Diagnosis) -> list[str]:
    errors: list[str] = []
    data = diagnosis_dict(diag, [])
    text = render_diagnosis(diag, color=False)
    md = render_diagnosis_markdown(diag, [])
    errors += check_prose(f"{where} text", text)
    errors += check_prose(f"{where} markdown", md)
    errors += _check_json(f"{where} json", json.loads(json.dumps(data)))
    errors += _twice(where, diag, text)
    errors += [f"{where} text: JSON key {k} in prose" for k in _json_keys_in_prose(text, data)]
    errors += [f"{where} markdown: JSON key {k} in prose" for k in _json_keys_in_prose(md, data)]
    coloured = _strip_sgr(render_diagnosis(diag, color=True, width=60))
    errors += [f"{where} color: {e}" for e in check_prose("", coloured)]
    # wrapped for a 60-column terminal: the same words, none broken (a broken word
    # would show as two), and prose lines within the width
    if coloured.split() != text.split():
        errors.append(f"{where} color: wrapping changed or broke words")
    errors += [
        f"{where} color: line over 60 columns: {ln[:70]!r}"
        for ln in coloured.splitlines()
        if len(ln) > 60 and " " in ln.strip() and not _code(ln)
    ]
    return errors


def _code(line: str) -> bool:
    """Lines never wrapped: commands and YAML, indented under a finding's fix."""
    return line.startswith("        ") or "kubectl " in line or line.lstrip().startswith("- ")


_SGR = re.compile(r"\x1b\[[0-9;]*m")


def _strip_sgr(text: str) -> str:
    """The colour codes rich adds are ours; anything else left is raw from the input."""
    return _SGR.sub("", text)


def check_cluster(where: str, snap: Snapshot, ports: set[int], cni: CniInfo | None) -> list[str]:
    """pod (text, json) for every pod; matrix (text, json, csv, summary) on each port;
    matrix --all-ports (json, summary); lint (text, json, sarif); check (text)."""
    errors: list[str] = []
    for pod in snap.pods[:20]:
        pv = pod_view(snap, pod)
        errors += check_prose(f"{where} pod {pod.key} text", render_pod(pv))
        errors += _check_json(f"{where} pod {pod.key} json", pod_dict(pv))
    for port in sorted(ports)[:3]:
        m = compute_matrix(snap, port, Protocol.TCP, (), cni)
        errors += check_prose(f"{where} matrix {port} text", render_matrix(m))
        errors += check_prose(f"{where} matrix {port} summary", render_summary(m))
        errors += _check_json(f"{where} matrix json", json.loads("".join(iter_json(m, []))))
        rows = list(csv.reader(io.StringIO("".join(iter_csv(m)))))
        errors += [e for row in rows for cell in row for e in check_prose(f"{where} csv", cell)]
    try:
        sw = compute_port_sweep(snap, (), cni)
    except (ValueError, IndexError):
        pass  # a crash another change owns (issue 10, "one answer everywhere")
    else:
        errors += check_prose(f"{where} all-ports summary", render_sweep_summary(sw))
        errors += _check_json(f"{where} all-ports json", json.loads("".join(iter_sweep_json(sw))))
    findings = lint(snap)
    errors += check_prose(f"{where} lint text", render_lint(findings))
    errors += _check_json(f"{where} lint json", [finding_dict(f) for f in findings])
    sarif = json.loads(render_sarif(findings, RULES))
    for run in sarif["runs"]:
        # Each rule carries its docs page as help: documentation, whose rule ids
        # (NP-40, VAL-17) docs/semantics.md explains; the results are what the tool says.
        for rule in run["tool"]["driver"]["rules"]:
            rule.pop("help", None)
    errors += _check_json(f"{where} lint sarif", sarif)
    errors += check_prose(f"{where} check text", render_problems(snap.problems))
    return errors


def _case_questions() -> list[Any]:
    out = []
    for path in sorted((HERE / "cases").glob("*.yaml")):
        out.append(pytest.param(path, _expand, "cases", id=f"cases/{path.stem}"))
    for path in sorted((HERE / "cilium_cases").glob("*.yaml")):
        out.append(
            pytest.param(path, test_cilium._expand, "cilium", id=f"cilium_cases/{path.stem}")
        )
    return out


@pytest.mark.parametrize(("path", "expand", "family"), _case_questions())
def test_case_renders_clean(path: Path, expand: Any, family: str, tmp_path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    snap = snapshot_of(tmp_path, [expand(o) for o in case["objects"]])
    name = case.get("cni") or ("cilium" if family == "cilium" else None)
    cni = CniInfo(profile_named(name), forced=True) if name else None
    errors: list[str] = []
    ports: set[int] = set()
    for i, q in enumerate(case["questions"]):
        port = q.get("port", 80 if family == "cilium" else None)
        try:
            diag = diagnose(
                snap,
                q["src"],
                q["dst"],
                port,
                Protocol(q.get("protocol", "TCP")),
                cni=cni,
                symptom=Symptom(q["symptom"]) if "symptom" in q else None,
            )
        except NetpolDoctorError as e:
            errors += check_prose(f"{path.name}[{i}] error", str(e))
            continue
        if isinstance(port, int) and port:
            ports.add(port)
        errors += check_diagnosis(f"{path.name}[{i}]", diag)
    errors += check_cluster(path.name, snap, ports or {80}, cni)
    assert not errors, "\n".join(sorted(set(errors))[:40])


EXAMPLE_QUESTIONS = [
    ("monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", 9090),
    ("shop/frontend-6b8f9c7d4-x2vqp", "svc/shop/api", 80),
    ("payments/payments-api-5f6d7c8b9-r7vzl", "kube-system/coredns-674b8bbfcf-7xk2p", 53),
    ("payments/payments-api-5f6d7c8b9-r7vzl", "shop/db-0", 5432),
    ("shop/api-7c9d8b6f5-x4kzp", "svc/default/kubernetes", 443),
    ("shop/api-7c9d8b6f5-x4kzp", "dns", None),
    ("shop/api-7c9d8b6f5-x4kzp", "apiserver", None),
]


def test_examples_render_clean() -> None:
    snap = load_snapshot([ROOT / "examples" / "cluster"])
    errors: list[str] = []
    for src, dst, port in EXAMPLE_QUESTIONS:
        errors += check_diagnosis(f"{src} -> {dst}", diagnose(snap, src, dst, port))
    errors += check_cluster("examples", snap, {80, 8080, 5432}, None)
    assert not errors, "\n".join(sorted(set(errors))[:40])


def test_the_checks_can_fail() -> None:
    """Each pattern catches what it is for (a check that cannot fail proves nothing)."""
    for sample in (
        "port None",
        "['a', 'b']",
        "{'app': 'web'}",
        "Verdict.DENIED",
        "3 rule(s)",
        "1 pods there",
        "(ADM-5)",
        "ObjectRef(kind='Pod')",
        "frozenset({1})",
        "name\x1b[31m",
    ):
        assert check_prose("sample", sample), sample
    assert not check_prose("sample", "ingress[0] from[1] admits 3 rules (app=web)")


HOSTILE = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web\x1b[31mRED\x07",
            "namespace": "shop",
            "labels": {"app": "x\x1b]0;pwned\x07", "role": "web"},
        },
        "spec": {"nodeName": "n1", "containers": [{"name": "web", "image": "nginx"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.1"},
    },
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "api", "namespace": "shop", "labels": {"app": "api"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "api", "image": "nginx"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.2"},
    },
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "p\x1b[2J\u202e", "namespace": "shop"},
        "spec": {
            "podSelector": {},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "x\x1b]0;pwned"}}}]}],
        },
    },
]


def test_hostile_names_are_printed_escaped(tmp_path: Path) -> None:
    """Object names and label values with ANSI escapes, a bell or a bidi override (from a
    hostile file or API server) are shown escaped in every text format, never raw."""
    snap = snapshot_of(tmp_path, HOSTILE)
    web = next(p.key for p in snap.pods if p.name.startswith("web"))
    errors: list[str] = []
    for src, dst in ((web, "shop/api"), ("shop/api", web), (web, web)):
        diag = diagnose(snap, src, dst, 80)
        errors += check_diagnosis(f"{src!r} -> {dst!r}", diag)
        coloured = render_diagnosis(diag, color=True)
        assert "\\x1b[31mRED\\x07" in coloured
        assert "\x07" not in coloured and "\x1b[31mRED" not in coloured
    errors += check_cluster("hostile", snap, {80}, None)
    grid = render_matrix(compute_matrix(snap, 80), color=True)
    assert "\\x1b[31mRED" in grid and "\x1b[31mRED" not in grid
    assert not errors, "\n".join(sorted(set(errors))[:40])
