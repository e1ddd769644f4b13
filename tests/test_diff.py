"""`diff`: changed verdicts between two snapshots, attributed to the object change."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from builders import namespace, pod, policy, write
from netpol_doctor.diff import diff_snapshots
from netpol_doctor.model import Protocol
from netpol_doctor.snapshot import load_snapshot
from test_cli import run


def _base() -> list[dict[str, object]]:
    return [
        namespace("shop", team="shop"),
        namespace("mon", team="mon"),
        pod("shop/api", "10.0.0.1", app="api", ports=["http:8080/TCP"]),
        pod("shop/web", "10.0.0.2", app="web"),
        pod("mon/prom", "10.0.1.1", app="prom"),
        policy(
            "shop/api",
            {
                "podSelector": {"matchLabels": {"app": "api"}},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}],
            },
        ),
    ]


def _diff(tmp: Path, before: list[dict[str, object]], after: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    a = load_snapshot([write(tmp / "a", before)])
    b = load_snapshot([write(tmp / "b", after)])
    return diff_snapshots(a, b, ports=[(Protocol.TCP, 8080)])


def test_added_policy_is_the_cause(tmp_path: Path) -> None:
    after = [*_base(), policy("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})]
    result = _diff(tmp_path, _base(), after)
    ((causes, _together, changes),) = result.groups
    assert [str(c) for c in causes] == ["NetworkPolicy shop/deny added"]
    assert {(c.source, c.destination) for c in changes} == {
        ("shop/api", "shop/web"),
        ("mon/prom", "shop/web"),
    }
    assert all(c.before.value == "allowed" and c.after.value == "denied" for c in changes)


def test_namespace_label_change_is_the_cause(tmp_path: Path) -> None:
    before = [
        *_base(),
        policy(
            "shop/scrape",
            {
                "podSelector": {"matchLabels": {"app": "api"}},
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "mon"}}}]}],
            },
        ),
    ]
    after = [o for o in before if o is not before[1]] + [namespace("mon", team="observability")]
    result = _diff(tmp_path, before, after)
    ((causes, _together, changes),) = result.groups
    assert len(causes) == 1 and causes[0].kind == "labels" and causes[0].ref.name == "mon"
    assert "team: mon -> observability" in causes[0].detail
    assert [(c.source, c.destination) for c in changes] == [("mon/prom", "shop/api")]


def test_edited_policy_and_pod_labels(tmp_path: Path) -> None:
    after = _base()
    after[5] = policy(
        "shop/api",
        {
            "podSelector": {"matchLabels": {"app": "api"}},
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                    "ports": [{"port": 9090}],
                }
            ],
        },
    )
    result = _diff(tmp_path, _base(), after)
    ((causes, _together, _),) = result.groups
    assert str(causes[0]).startswith("NetworkPolicy shop/api edited: ingress rules changed")
    relabel = _base()
    relabel[3] = pod("shop/web", "10.0.0.2", app="frontend")
    (tmp_path / "x").mkdir()
    result2 = diff_snapshots(
        load_snapshot([write(tmp_path, _base(), "p.yaml")]),
        load_snapshot([write(tmp_path / "x", relabel)]),
        ports=[(Protocol.TCP, 8080)],
    )
    ((causes2, _together2, changes2),) = result2.groups
    assert str(causes2[0]) == "Pod shop/web labels: app: web -> frontend"
    assert [(c.source, c.destination) for c in changes2] == [("shop/web", "shop/api")]


def test_no_change_no_output(tmp_path: Path) -> None:
    assert not _diff(tmp_path, _base(), _base()).changes


def test_cli_diff_with_git_revision(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "manifests").mkdir(parents=True)
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (repo / "manifests" / "c.yaml").write_text(yaml.safe_dump_all(_base()))
    git("add", ".")
    git("commit", "-qm", "base")
    (repo / "manifests" / "deny.yaml").write_text(
        yaml.safe_dump(policy("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]}))
    )
    r = subprocess.run(
        [
            *run.__globals__["_exe"](),
            "diff",
            "--before",
            "git:HEAD:manifests",
            "--after",
            "manifests",
            "--port",
            "8080",
            "-o",
            "json",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["groups"][0]["causes"][0]["name"] == "deny"
