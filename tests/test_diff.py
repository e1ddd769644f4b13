"""`diff`: changed verdicts between two snapshots, attributed to the object change."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest
import yaml

from builders import namespace, pod, policy, write
from netpol_doctor.diff import _decide, diff_snapshots
from netpol_doctor.engine import Semantics
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


def _allow(key: str, app: str, peer: str, port: int) -> dict[str, object]:
    return policy(
        key,
        {
            "podSelector": {"matchLabels": {"app": app}},
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"app": peer}}}],
                    "ports": [{"port": port}],
                }
            ],
        },
    )


def _pods() -> list[dict[str, object]]:
    return [
        namespace("shop"),
        pod("shop/api", "10.0.0.1", app="api"),
        pod("shop/web", "10.0.0.2", app="web"),
        pod("shop/prom", "10.0.0.3", app="prom"),
    ]


def test_deleted_policy_that_could_not_open_the_port_is_not_a_cause(tmp_path: Path) -> None:
    """Trigger: two policies selecting api are deleted; only the one admitting 8080
    caused web -> api 8080 to close (the metrics one admits 9090 only)."""
    deny = policy("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    before = [*_pods(), deny, _allow("shop/allow-web", "api", "web", 8080)]
    before.append(_allow("shop/metrics", "api", "prom", 9090))
    result = _diff(tmp_path, before, [*_pods(), deny])
    ((causes, together, changes),) = result.groups
    assert [str(c) for c in causes] == ["NetworkPolicy shop/allow-web removed"]
    assert not together
    assert [(c.source, c.destination) for c in changes] == [("shop/web", "shop/api")]


def test_either_of_two_deleted_policies_is_a_cause(tmp_path: Path) -> None:
    """Near miss: both deleted policies admitted the flow, so putting back either one
    alone reopens it: both are named, each on its own (not "together")."""
    deny = policy("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    before = [*_pods(), deny, _allow("shop/a", "api", "web", 8080)]
    before.append(_allow("shop/b", "api", "web", 8080))
    ((causes, together, _),) = _diff(tmp_path, before, [*_pods(), deny]).groups
    assert [str(c) for c in causes] == [
        "NetworkPolicy shop/a removed",
        "NetworkPolicy shop/b removed",
    ]
    assert not together


def test_changes_that_act_only_together(tmp_path: Path) -> None:
    """An ingress deny on api and an egress deny on web: reverting either alone leaves
    web -> api denied, so the change is named as the two together."""
    ingress = policy(
        "shop/api-ingress",
        {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Ingress"]},
    )
    egress = policy(
        "shop/web-egress",
        {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"]},
    )
    result = _diff(tmp_path, _pods(), [*_pods(), ingress, egress])
    groups = {
        (tuple(str(c) for c in causes), together): changes
        for causes, together, changes in result.groups
    }
    pair = groups[
        (("NetworkPolicy shop/api-ingress added", "NetworkPolicy shop/web-egress added"), True)
    ]
    assert [(c.source, c.destination) for c in pair] == [("shop/web", "shop/api")]
    # the other pairs into api or out of web have one cause each
    assert groups[(("NetworkPolicy shop/api-ingress added",), False)]
    assert groups[(("NetworkPolicy shop/web-egress added",), False)]


def test_finished_pods_are_not_compared(tmp_path: Path) -> None:
    done = pod("shop/job", "10.0.0.9", app="job")
    done["status"]["phase"] = "Succeeded"  # type: ignore[index]
    deny = policy("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    result = _diff(tmp_path, [*_pods(), done], [*_pods(), done, deny])
    assert result.changes and all(
        "shop/job" not in (c.source, c.destination) for c in result.changes
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_named_causes_hold_when_reverted_in_files(tmp_path: Path, seed: int) -> None:
    """Oracle: for random edits of a small cluster, reverting each named cause alone (or
    the named set, when together) in the *files* and loading them again moves the pair's
    verdict off its after value, and a cause-less change has none of the policies."""
    rng = random.Random(seed)
    apps = ["api", "web", "db", "job"]
    pods_ = [namespace("shop"), namespace("mon", team="mon")]
    pods_ += [pod(f"shop/{a}", f"10.0.0.{i + 1}", app=a) for i, a in enumerate(apps)]
    pods_.append(pod("mon/prom", "10.0.1.1", app="prom"))

    def random_policy(name: str) -> dict[str, object]:
        spec: dict[str, object] = {"podSelector": {"matchLabels": {"app": rng.choice(apps)}}}
        kind = rng.choice(["Ingress", "Egress"])
        spec["policyTypes"] = [kind]
        if rng.random() < 0.7:
            peer = rng.choice(
                [
                    {"podSelector": {"matchLabels": {"app": rng.choice([*apps, "prom"])}}},
                    {"namespaceSelector": {"matchLabels": {"team": "mon"}}},
                ]
            )
            rule = {
                ("from" if kind == "Ingress" else "to"): [peer],
                "ports": [{"port": rng.choice([8080, 9090])}],
            }
            spec["ingress" if kind == "Ingress" else "egress"] = [rule]
        return policy(f"shop/{name}", spec)

    before_pols = {f"p{i}": random_policy(f"p{i}") for i in range(6)}
    after_pols = dict(before_pols)
    for name in rng.sample(sorted(before_pols), 3):
        del after_pols[name]
    for i in range(6, 9):
        after_pols[f"p{i}"] = random_policy(f"p{i}")
    result = _diff(tmp_path, [*pods_, *before_pols.values()], [*pods_, *after_pols.values()])
    assert result.changes
    # the per-class comparison finds exactly the pairs a per-pair evaluation finds
    snaps = [load_snapshot([tmp_path / side / "cluster.yaml"]) for side in ("a", "b")]
    keys = sorted(p.key for p in snaps[0].pods)
    brute = set()
    for s in keys:
        for d in keys:
            if s != d:
                vb, va = (_decide(x, s, d, Protocol.TCP, 8080, Semantics()).verdict for x in snaps)
                if vb is not va:
                    brute.add((s, d, vb, va))
    assert {(c.source, c.destination, c.before, c.after) for c in result.changes} == brute
    for n, change in enumerate(result.changes):
        if not change.causes:
            continue
        sets = [change.causes] if change.together else [(c,) for c in change.causes]
        for causes in sets:
            pols = dict(after_pols)
            for c in causes:
                pols.pop(c.ref.name, None)
                if c.ref.name in before_pols:
                    pols[c.ref.name] = before_pols[c.ref.name]
            d = tmp_path / f"oracle-{n}-{len(sets)}-{causes[0].ref.name}"
            d.mkdir()
            snap = load_snapshot([write(d, [*pods_, *pols.values()])])
            decision = _decide(
                snap, change.source, change.destination, Protocol.TCP, 8080, Semantics()
            )
            assert decision.verdict is not change.after, (change, causes)


GOLDEN = Path(__file__).parent / "golden"


def _owned(key: str, ip: str, owner: tuple[str, str], **labels: str) -> dict[str, object]:
    obj = pod(key, ip, **labels)
    kind, name = owner
    meta = obj["metadata"]
    assert isinstance(meta, dict)
    meta["ownerReferences"] = [{"kind": kind, "name": name, "controller": True}]
    return obj


def _review(tmp_path: Path) -> tuple[Path, Path]:
    pods_ = [
        namespace("shop", team="shop"),
        namespace("mon", team="mon"),
        _owned(
            "shop/api-7c9d-a",
            "10.0.0.1",
            ("ReplicaSet", "api-7c9d"),
            app="api",
            **{"pod-template-hash": "7c9d"},
        ),
        _owned(
            "shop/api-7c9d-b",
            "10.0.0.2",
            ("ReplicaSet", "api-7c9d"),
            app="api",
            **{"pod-template-hash": "7c9d"},
        ),
        pod("shop/web", "10.0.0.3", app="web"),
        _owned("mon/prom-0", "10.0.1.1", ("StatefulSet", "prom"), app="prom"),
    ]
    deny = policy("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    metrics = policy(
        "shop/metrics",
        {
            "podSelector": {"matchLabels": {"app": "api"}},
            "ingress": [
                {
                    "from": [{"namespaceSelector": {"matchLabels": {"team": "mon"}}}],
                    "ports": [{"port": 9090}],
                }
            ],
        },
    )
    prom = policy(
        "shop/allow-prom",
        {
            "podSelector": {"matchLabels": {"app": "api"}},
            "ingress": [
                {
                    "from": [{"namespaceSelector": {"matchLabels": {"team": "mon"}}}],
                    "ports": [{"port": 8080}],
                }
            ],
        },
    )
    broken = policy("shop/broken", {"podSelector": {"matchLabels": {"app": "api"}}})
    broken["spec"]["ingress"] = [{"ports": [{"port": 0}]}]  # type: ignore[index]
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    before = write(
        tmp_path / "before", [*pods_, deny, metrics, _allow("shop/allow-web", "api", "web", 8080)]
    )
    after = write(tmp_path / "after", [*pods_, deny, prom, broken])
    return before, after


def test_markdown_golden(tmp_path: Path, update_golden: bool) -> None:
    before, after = _review(tmp_path)
    r = run(
        "diff", "--before", str(before), "--after", str(after), "--port", "8080", "-o", "markdown"
    )
    assert r.returncode == 1, r.stderr
    text = r.stdout.replace(str(tmp_path), "TMP")
    path = GOLDEN / "diff-review.md"
    if update_golden:
        path.write_text(text)
    assert text == path.read_text()


def test_problems_in_every_output_format(tmp_path: Path) -> None:
    before, after = _review(tmp_path)
    for output in ("text", "json", "markdown"):
        r = run(
            "diff", "--before", str(before), "--after", str(after), "--port", "8080", "-o", output
        )
        assert r.returncode == 1, r.stderr
        assert "shop/broken" in r.stderr
        assert "policy-invalid" in r.stdout and "broken" in r.stdout, output
