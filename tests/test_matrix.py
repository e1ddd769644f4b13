"""matrix answers exactly what per-flow evaluate answers."""

from __future__ import annotations

from pathlib import Path

from netpol_doctor.cni import detect_cni, semantics_for
from netpol_doctor.engine import evaluate
from netpol_doctor.matrix import compute_matrix
from netpol_doctor.model import Protocol
from netpol_doctor.snapshot import load_snapshot
from netpol_doctor.targets import endpoint_for_pod

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "cluster"


def test_matrix_matches_per_flow_evaluation() -> None:
    snap = load_snapshot([EXAMPLES])
    sem = semantics_for(detect_cni(snap))
    for port, proto in ((8080, Protocol.TCP), (53, Protocol.UDP), (5432, Protocol.TCP)):
        m = compute_matrix(snap, port, proto)
        for i, s in enumerate(m.pods):
            for j, d in enumerate(m.pods):
                want = evaluate(
                    snap, endpoint_for_pod(snap, s), endpoint_for_pod(snap, d), proto, port, sem
                ).verdict
                assert m.verdicts[i][j] is want, (s.key, d.key, port)


def test_matrix_namespace_scope() -> None:
    snap = load_snapshot([EXAMPLES])
    m = compute_matrix(snap, 8080, namespaces=["payments"])
    assert m.pods and all(p.namespace == "payments" for p in m.pods)
