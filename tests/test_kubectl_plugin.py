"""`kubectl netpol-doctor` (issue #13 part 2): kubectl's argument habits, owner-reference
resolution, the context namespace, what was read named in every output; the wheel built
and installed in a fresh venv, run as a subprocess; live reads through the fake API
server with the real client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from builders import namespace, pod, snapshot_of
from fakeapi import FakeApiServer, load_manifests
from netpol_doctor.inputs.workloads import WorkloadRef, owning_workload, pods_of_workload
from netpol_doctor.model import Operator
from netpol_doctor.selectors import Tri, match_selector
from netpol_doctor.shells.kubectl_plugin import parse_label_selector, to_spec

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples" / "cluster"
BIN = Path(sys.executable).parent
PLUGIN = BIN / "kubectl-netpol_doctor"


def run(*args: str, exe: Path = PLUGIN, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )


# --- arguments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "spec"),
    [
        ("deploy/api", "deploy/shop/api"),
        ("deployment/api", "deployment/shop/api"),
        ("sts/db", "sts/shop/db"),
        ("ds/x", "ds/shop/x"),
        ("svc/api", "svc/shop/api"),
        ("service/api", "svc/shop/api"),
        ("pod/x", "pod/shop/x"),
        ("po/x", "po/shop/x"),
        ("x", "shop/x"),
        ("payments/x", "payments/x"),  # NS/NAME as before
        ("svc/payments/api", "svc/payments/api"),
        ("ip/10.0.0.1", "ip/10.0.0.1"),
        ("dns", "dns"),
        ("api.shop.svc", "api.shop.svc"),
    ],
)
def test_kubectl_arguments(arg: str, spec: str) -> None:
    assert to_spec(arg, "shop") == spec


def test_label_selectors_as_kubectl_reads_them() -> None:
    sel = parse_label_selector("app=api, tier in (a,b),!legacy,env!=prod,team")
    assert [r.operator for r in sel.requirements] == [
        Operator.IN,
        Operator.IN,
        Operator.DOES_NOT_EXIST,
        Operator.NOT_IN,
        Operator.EXISTS,
    ]
    yes = {"app": "api", "tier": "b", "env": "dev", "team": "x"}
    assert match_selector(sel, yes).result is Tri.YES
    assert match_selector(sel, {**yes, "legacy": "1"}).result is Tri.NO
    assert match_selector(sel, {**yes, "env": "prod"}).result is Tri.NO
    r = run("pod", "-l", "app in (a", "--snapshot", str(EXAMPLES))
    assert r.returncode == 2 and "not a label selector" in r.stderr and "Traceback" not in r.stderr


HASH = {"pod-template-hash": "7c9d8b6f5"}


def test_owner_references_without_the_workload_objects(tmp_path: Path) -> None:
    def owned(key: str, kind: str, owner: str, labels: dict[str, str]) -> dict[str, object]:
        obj = pod(key, ip=f"10.0.0.{len(key)}", labels=labels)
        obj["metadata"]["ownerReferences"] = [
            {"apiVersion": "v1", "kind": kind, "name": owner, "controller": True, "uid": "u"}
        ]
        return obj

    snap = snapshot_of(
        tmp_path,
        [
            namespace("shop"),
            owned("shop/api-7c9d8b6f5-x4kzp", "ReplicaSet", "api-7c9d8b6f5", HASH),
            # A ReplicaSet whose hash is not the pod's: not provably a Deployment's.
            owned("shop/odd-abc-1", "ReplicaSet", "odd-abc", {"pod-template-hash": "zzz"}),
            owned("shop/backup-29012345-q", "Job", "backup-29012345", {}),
            owned("shop/db-0", "StatefulSet", "db", {}),
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": {"name": "backup", "namespace": "shop"},
                "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {}}}},
            },
        ],
    )
    by_name = {p.name: owning_workload(snap, p) for p in snap.pods if not p.is_template}
    assert by_name["api-7c9d8b6f5-x4kzp"] == WorkloadRef("Deployment", "shop", "api")
    assert by_name["odd-abc-1"] == WorkloadRef("ReplicaSet", "shop", "odd-abc")
    assert by_name["backup-29012345-q"] == WorkloadRef("CronJob", "shop", "backup")
    assert by_name["db-0"] == WorkloadRef("StatefulSet", "shop", "db")
    assert [p.name for p in pods_of_workload(snap, "Deployment", "shop", "api")] == [
        "api-7c9d8b6f5-x4kzp"
    ]


# --- the command on files -------------------------------------------------------------


def test_plugin_on_a_snapshot(tmp_path: Path) -> None:
    # The dump without its Deployments and StatefulSets: owner references still lead there.
    bare = tmp_path / "pods-only"
    bare.mkdir()
    for f in EXAMPLES.iterdir():
        if f.name != "workloads.yaml":
            (bare / f.name).write_bytes(f.read_bytes())
    r = run(
        "diagnose",
        "deploy/frontend",
        "deployment/api",
        "-n",
        "shop",
        "-p",
        "8080",
        "--snapshot",
        str(bare),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"read from: snapshot {bare}"
    assert "deployment/shop/frontend -> deployment/shop/api" in r.stdout
    r = run(
        "diagnose",
        "sts/db",
        "svc/api",
        "-n",
        "shop",
        "-p",
        "80",
        "--snapshot",
        str(bare),
        "-o",
        "json",
    )
    data = json.loads(r.stdout)
    assert data["read_from"] == {"snapshot": [str(bare)]}
    assert data["source"]["members"] == ["shop/db-0"]
    r = run(
        "diagnose", "deploy/nope", "deploy/api", "-n", "shop", "-p", "1", "--snapshot", f"{bare}"
    )
    assert r.returncode == 2 and "no Deployment shop/nope" in r.stderr
    r = run("pod", "-l", "app=api", "-n", "shop", "--snapshot", str(bare), "-o", "json")
    names = [p["pod"] for p in json.loads(r.stdout)["pods"]]
    assert names == ["shop/api-7c9d8b6f5-m2jqw", "shop/api-7c9d8b6f5-x4kzp"], names
    # Today's syntax keeps working.
    r = run("pod", "shop/db-0", "--snapshot", str(bare))
    assert r.returncode == 0 and "shop/db-0" in r.stdout, r.stderr


def test_matrix_and_lint_scopes_on_a_snapshot() -> None:
    r = run(
        "matrix",
        "-A",
        "-l",
        "app in (api,frontend)",
        "-p",
        "8080",
        "--snapshot",
        str(EXAMPLES),
        "-o",
        "json",
    )
    data = json.loads(r.stdout)
    assert data["read_from"] == {"snapshot": [str(EXAMPLES)]}
    assert len(data["pods"]) == 4, data["pods"]
    shop = json.loads(run("lint", "-n", "shop", "--snapshot", str(EXAMPLES), "-o", "json").stdout)
    every = json.loads(run("lint", "--snapshot", str(EXAMPLES), "-o", "json").stdout)
    assert shop["findings"] and len(shop["findings"]) < len(every["findings"])
    assert all(f["objects"][0]["namespace"] == "shop" for f in shop["findings"])


# --- live -----------------------------------------------------------------------------

OBJECTS = load_manifests(EXAMPLES)


def test_live_context_namespace_owner_refs_and_only_gets(tmp_path: Path) -> None:
    # No Deployments or ReplicaSets served: the pods' owner references are all there is.
    objects = [o for o in OBJECTS if o["kind"] not in ("Deployment", "ReplicaSet")]
    with FakeApiServer(objects) as server:
        cfg = tmp_path / "kubeconfig"
        server.write_kubeconfig(cfg, context="prod-eu", namespace="shop")
        r = run(
            "diagnose",
            "deploy/frontend",
            "deploy/api",
            "-p",
            "8080",
            "--kubeconfig",
            str(cfg),
            "-o",
            "json",
        )
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        assert data["read_from"] == {"context": "prod-eu", "server": server.url}
        assert data["verdict"] == "allowed"
        r = run("pod", "api-7c9d8b6f5-x4kzp", "--kubeconfig", str(cfg))
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"read from: context prod-eu ({server.url})\n")
        r = run("matrix", "-p", "8080", "--kubeconfig", str(cfg), "-o", "json")
        pods = {p.split("/")[0] for p in json.loads(r.stdout)["pods"]}
        assert pods == {"shop"}  # the context's namespace, as kubectl
        r = run("lint", "-A", "--kubeconfig", str(cfg))
        assert r.returncode in (0, 1), r.stderr
        paths = {req.path for req in server.requests}
        assert {req.method for req in server.requests} == {"GET"}
        assert "/apis/apps/v1/namespaces/shop/replicasets" in paths
        assert "/apis/batch/v1/namespaces/shop/jobs" in paths
        assert "/apis/batch/v1/namespaces/shop/cronjobs" in paths


def test_live_cluster_wide_403_falls_back_for_the_new_kinds(tmp_path: Path) -> None:
    with FakeApiServer(OBJECTS) as server:
        server.forbidden |= {
            ("replicasets", None),
            ("jobs", None),
            ("cronjobs", None),
            ("pods", None),
        }
        cfg = tmp_path / "kubeconfig"
        server.write_kubeconfig(cfg, namespace="shop")
        r = run("matrix", "-A", "-p", "8080", "--kubeconfig", str(cfg), "-o", "json")
        assert r.returncode == 0, r.stderr
        assert "could not read" not in r.stderr
        paths = {req.path for req in server.requests}
        assert "/apis/apps/v1/namespaces/payments/replicasets" in paths
        assert "/apis/batch/v1/namespaces/monitoring/cronjobs" in paths


# --- the wheel --------------------------------------------------------------------------


def test_wheel_installs_and_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        # Offline: the build backend is this environment's setuptools and wheel.
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            ".",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("netpol_doctor-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    # The dependencies come from this environment (no network); the package itself only
    # from the wheel: the .pth adds a path, and the editable install's hook is not run.
    py = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        timeout=300,
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    exe = venv / "bin" / "kubectl-netpol_doctor"
    where = subprocess.run(
        [str(py), "-c", "import netpol_doctor.cli as c; print(c.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    ).stdout
    assert where.startswith(str(venv)), where
    r = run("--help", exe=exe, env=env)
    assert r.returncode == 0 and "Usage: kubectl netpol-doctor" in r.stdout
    r = run(
        "diagnose",
        "deploy/frontend",
        "deploy/api",
        "-n",
        "shop",
        "-p",
        "8080",
        "--snapshot",
        str(EXAMPLES),
        exe=exe,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert "ALLOWED" in r.stdout and "read from: snapshot" in r.stdout
    # The rule pages ship in the wheel: SARIF help is the page, not a stand-in.
    r = run("lint", "--snapshot", str(EXAMPLES), "-o", "sarif", exe=exe, env=env)
    rules = json.loads(r.stdout)["runs"][0]["tool"]["driver"]["rules"]
    page = (ROOT / "docs" / "lint" / "dns-egress-missing.md").read_text()
    assert next(x for x in rules if x["id"] == "dns-egress-missing")["help"]["markdown"] == page


def test_krew_manifest_matches_the_package() -> None:
    import tomllib

    import yaml

    manifest = yaml.safe_load((ROOT / "plugins" / "netpol-doctor.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert manifest["kind"] == "Plugin" and manifest["metadata"]["name"] == "netpol-doctor"
    spec = manifest["spec"]
    assert spec["version"] == f"v{project['version']}"
    assert spec["shortDescription"] and spec["homepage"].startswith("https://")
    for platform in spec["platforms"]:
        assert platform["bin"] in project["scripts"]  # what the wheel installs
        assert platform["uri"].endswith(f"v{project['version']}.tar.gz")
        assert platform["selector"]


def test_lint_reports_unreadable_input_as_netpol_doctor_lint_does(tmp_path: Path) -> None:
    """The plugin's lint is the main command's: problems in JSON and on stderr, exit 2
    when part of the input could not be read (a policy there could change anything)."""
    (tmp_path / "ok.yaml").write_text((EXAMPLES / "networkpolicies.yaml").read_text())
    (tmp_path / "broken.yaml").write_text("kind: NetworkPolicy\nmetadata: {name: [\n")
    r = run("lint", "--snapshot", str(tmp_path), "-o", "json")
    assert r.returncode == 2, r.stderr
    data = json.loads(r.stdout)
    assert data["read_from"] == {"snapshot": [str(tmp_path)]}
    assert any("broken.yaml" in json.dumps(p) for p in data["problems"])
    assert "broken.yaml" in r.stderr
    main = subprocess.run(
        [str(PLUGIN.parent / "netpol-doctor"), "lint", "--snapshot", str(tmp_path), "-o", "json"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert {k: v for k, v in data.items() if k != "read_from"} == json.loads(main.stdout)
