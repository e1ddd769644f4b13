"""The pictures through the installed command: `matrix --by workload` in every
output, the graph outputs with --by pod, the report's page and its usage errors
(caught before any analysis)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = str(ROOT / "examples" / "cluster")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("netpol-doctor", path=str(Path(sys.executable).parent))
    assert exe, "netpol-doctor is not installed in this environment"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("output", ["text", "json", "csv", "markdown", "dot", "mermaid"])
def test_matrix_by_workload_outputs(output: str) -> None:
    r = run("matrix", "--by", "workload", "-o", output, "--snapshot", EXAMPLES)
    assert r.returncode == 0, r.stderr
    if output == "json":
        data = json.loads(r.stdout)
        cell = next(
            c
            for c in data["cells"]
            if c["source"] == "shop/frontend[Deployment]"
            and c["destination"] == "shop/api[Deployment]"
        )
        assert cell["allowed"] == ["TCP/8080"] and cell["words"] == "TCP 8080"
    elif output == "markdown":
        assert "```mermaid\nflowchart LR\n" in r.stdout
    else:
        assert "frontend" in r.stdout


def test_matrix_by_pod_graph() -> None:
    r = run("matrix", "--by", "pod", "-o", "dot", "--snapshot", EXAMPLES)
    assert r.returncode == 0, r.stderr
    assert 'label="api-7c9d8b6f5-x4kzp"' in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("matrix", "--by", "workload", "--port", "80"), "drop --port"),
        (("matrix", "--by", "workload", "-o", "summary"), "prints text, json"),
        (("report", "--out", "/nonexistent/r.html"), "is not a directory"),
        (("report", "--question", "only-one-word"), "expected 'SRC DST PORT'"),
    ],
)
def test_usage_errors(args: tuple[str, ...], message: str) -> None:
    r = run(*args, "--snapshot", EXAMPLES)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_report_page_is_self_contained(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    r = run("report", "--snapshot", EXAMPLES, "--out", str(out), "--question", "shop/frontend dns")
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    # the SVG namespace is a name, not a fetch; url(#arrow) points inside the page
    page = page.replace('"http://www.w3.org/2000/svg"', "").replace("url(#arrow)", "")
    for fetch in ("http://", "https://", "src=", "@import", "url("):
        assert fetch not in page, fetch
