"""Golden files for the text renderer: compared exactly, refreshed only with
`pytest --update-golden`."""

from __future__ import annotations

from pathlib import Path

import pytest

from netpol_doctor.diagnose import diagnose
from netpol_doctor.matrix import compute_matrix
from netpol_doctor.model import Protocol
from netpol_doctor.podinfo import pod_view
from netpol_doctor.render.markdown import render_diagnosis_markdown
from netpol_doctor.render.text import render_diagnosis, render_matrix, render_pod
from netpol_doctor.snapshot import Snapshot, load_snapshot

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    return load_snapshot([ROOT / "examples" / "cluster"])


DIAGNOSES = {
    "diagnose-namespace-label": (
        "monitoring/prometheus-0",
        "shop/api-7c9d8b6f5-x4kzp",
        9090,
        "TCP",
    ),
    "diagnose-service-allowed": ("shop/frontend-6b8f9c7d4-x2vqp", "svc/shop/api", 80, "TCP"),
    "diagnose-dns-tcp": (
        "payments/payments-api-5f6d7c8b9-r7vzl",
        "kube-system/coredns-674b8bbfcf-7xk2p",
        53,
        "TCP",
    ),
    "diagnose-pod-selector-scope": (
        "payments/payments-api-5f6d7c8b9-r7vzl",
        "shop/db-0",
        5432,
        "TCP",
    ),
    "diagnose-apiserver": ("shop/api-7c9d8b6f5-x4kzp", "svc/default/kubernetes", 443, "TCP"),
}


def _check(name: str, text: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.write_text(text)
        return
    assert path.exists(), f"missing golden {path}; run pytest --update-golden"
    assert text == path.read_text()


@pytest.mark.parametrize("name", sorted(DIAGNOSES))
def test_diagnosis_text(name: str, snap: Snapshot, update_golden: bool) -> None:
    src, dst, port, proto = DIAGNOSES[name]
    diag = diagnose(snap, src, dst, port, Protocol(proto))
    _check(f"{name}.txt", render_diagnosis(diag, color=False), update_golden)


def test_diagnosis_markdown(snap: Snapshot, update_golden: bool) -> None:
    src, dst, port, proto = DIAGNOSES["diagnose-namespace-label"]
    diag = diagnose(snap, src, dst, port, Protocol(proto))
    _check("diagnose-namespace-label.md", render_diagnosis_markdown(diag, []), update_golden)


#: Root causes that are not a missed rule, from tests/cases (rerun through the CLI with
#: `python tests/case_manifests.py tests/cases/FILE > x.yaml`).
CASE_DIAGNOSES = {
    "diagnose-policy-types-ignored": (
        "root-cause-policy-types.yaml",
        ("shop/web", "shop/api", 8080),
    ),
    "diagnose-nodeport-snat": (
        "finding-nodeport-snat.yaml",
        ("ip/198.51.100.20", "svc/shop/web", 80),
    ),
    "diagnose-ipblock-pod-ip": (
        "root-cause-ipblock-pod-ip.yaml",
        ("shop/web-5d9f7-b2", "shop/db-0", 5432),
    ),
}


@pytest.mark.parametrize("name", sorted(CASE_DIAGNOSES))
def test_root_cause_text(name: str, update_golden: bool, tmp_path: Path) -> None:
    import yaml

    from builders import snapshot_of
    from test_cases import _expand

    case_file, (src, dst, port) = CASE_DIAGNOSES[name]
    case = yaml.safe_load((Path(__file__).parent / "cases" / case_file).read_text())
    diag = diagnose(snapshot_of(tmp_path, [_expand(o) for o in case["objects"]]), src, dst, port)
    _check(f"{name}.txt", render_diagnosis(diag, color=False), update_golden)


def test_pod_text(snap: Snapshot, update_golden: bool) -> None:
    pv = pod_view(snap, snap.pods_by_key["shop/frontend-6b8f9c7d4-x2vqp"])
    _check("pod-frontend.txt", render_pod(pv), update_golden)


def test_matrix_text(snap: Snapshot, update_golden: bool) -> None:
    m = compute_matrix(snap, 8080, namespaces=["shop"])
    _check("matrix-shop-8080.txt", render_matrix(m), update_golden)
