"""API reachability and kubeconfig errors are one plain sentence on stderr (exit 2): no
urllib3 object reprs, and with no kubeconfig at all, how to use --snapshot instead.
Real subprocess runs; the only address dialled is 127.0.0.1 port 1 (refused)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_text_hygiene import check_prose

BIN = Path(sys.executable).parent / "netpol-doctor"


def _run(
    tmp_path: Path, *args: str, kubeconfig: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")
    }
    env["HOME"] = str(tmp_path)  # no ~/.kube/config
    if kubeconfig is not None:
        env["KUBECONFIG"] = kubeconfig
    return subprocess.run(
        [str(BIN), "diagnose", "shop/a", "shop/b", "--port", "80", "--read-deadline", "10s", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def _one_sentence(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, r
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert not check_prose("stderr", lines[0]), check_prose("stderr", lines[0])
    assert "Connection(" not in lines[0] and "object at" not in lines[0] and "Errno" not in lines[0]
    return lines[0]


def test_no_kubeconfig_says_how_to_use_snapshot(tmp_path: Path) -> None:
    line = _one_sentence(_run(tmp_path))
    assert "no kubeconfig found" in line and "--snapshot PATH" in line


def test_missing_kubeconfig_file(tmp_path: Path) -> None:
    line = _one_sentence(_run(tmp_path, kubeconfig=str(tmp_path / "nope")))
    assert "does not exist" in line and "--snapshot PATH" in line


def _config(tmp_path: Path) -> str:
    path = tmp_path / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: abc}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "current-context: x\n"
    )
    return str(path)


def test_unknown_context(tmp_path: Path) -> None:
    line = _one_sentence(_run(tmp_path, "--context", "nope", kubeconfig=_config(tmp_path)))
    assert "has no context 'nope'" in line


def test_unreachable_server_is_one_plain_sentence(tmp_path: Path) -> None:
    line = _one_sentence(_run(tmp_path, kubeconfig=_config(tmp_path)))
    assert line == (
        "netpol-doctor: cannot reach the API server at https://127.0.0.1:1 (connection refused)"
    )
