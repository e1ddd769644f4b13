"""Goldens for `matrix --by workload`: text, CSV, JSON, dot, mermaid and markdown (the
mermaid block a GitHub ticket renders), on the example cluster; and the words for
port sets. Refreshed only with `pytest --update-golden`."""

from __future__ import annotations

from pathlib import Path

import pytest

from netpol_doctor.analysis.grouped import GroupMatrix, SweptPort, compute_grouped
from netpol_doctor.model import Protocol
from netpol_doctor.render.grouped import (
    port_words,
    render_csv,
    render_dot,
    render_json,
    render_markdown,
    render_mermaid,
    render_text,
)
from netpol_doctor.snapshot import load_snapshot
from test_golden import _check

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gm() -> GroupMatrix:
    return compute_grouped(load_snapshot([ROOT / "examples" / "cluster"]), "workload")


RENDERERS = {
    "workloads.txt": lambda g: render_text(g, "workload"),
    "workloads.csv": render_csv,
    "workloads.json": lambda g: render_json(g, "workload"),
    "workloads.dot": render_dot,
    "workloads.mmd": render_mermaid,
    "workloads.md": lambda g: render_markdown(g, "workload"),
}


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_workload_outputs(name: str, gm: GroupMatrix, update_golden: bool) -> None:
    _check(name, RENDERERS[name](gm), update_golden)


def test_graph_draws_no_denied_and_dashes_unknown(gm: GroupMatrix) -> None:
    keys = [m.key for m in gm.members]
    dot = render_dot(gm)
    mmd = render_mermaid(gm)
    # every port denied: monitoring -> shop/api (the demo's blocked scrape) is not drawn
    a, b = keys.index("monitoring/prometheus[StatefulSet]"), keys.index("shop/api[Deployment]")
    cell = gm.cell(a, b)
    assert not (cell.allowed or cell.unknown or cell.partial)
    assert f"n{a} -> n{b} " not in dot
    assert not [x for x in mmd.splitlines() if x.startswith(f"  n{a} ") and x.endswith(f" n{b}")]
    # a node reaches only the pods on it: allowed for some pods only, drawn dashed
    n, api = keys.index("kind-worker[Node]"), keys.index("shop/api[Deployment]")
    assert gm.cell(n, api).partial and not gm.cell(n, api).allowed
    assert f"n{n} -> n{api} [label=" in dot and "style=dashed" in dot
    assert f"n{n} -.->|" in mmd


U = [
    SweptPort(Protocol.TCP, 53),
    SweptPort(Protocol.TCP, 8080),
    SweptPort(Protocol.TCP, 9000),
    SweptPort(Protocol.TCP, None),
    SweptPort(Protocol.UDP, 53),
    SweptPort(Protocol.UDP, None),
]


@pytest.mark.parametrize(
    ("have", "words"),
    [
        ([], "none"),
        (U, "all"),
        ([p for p in U if p != SweptPort(Protocol.UDP, 53)], "all but UDP 53"),
        ([U[1], U[2]], "TCP 8080, 9000"),
        ([U[1], U[4]], "TCP 8080; UDP 53"),
        ([U[4], U[5]], "UDP all"),
        ([U[0], U[1], U[3], U[4]], "TCP all but 9000; UDP 53"),
    ],
)
def test_port_words(have: list[SweptPort], words: str) -> None:
    assert port_words(have, U) == words
