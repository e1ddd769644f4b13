"""The installed `netpol-doctor` run as a subprocess on the bundled example cluster."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "cluster"
EXIT = {"allowed": 0, "denied": 1, "unknown": 3}
#: the demo question: blocked by the namespace label trap
DEMO = (
    "diagnose",
    "monitoring/prometheus-0",
    "shop/api-7c9d8b6f5-x4kzp",
    "--port",
    "9090",
    "--snapshot",
    str(EXAMPLES),
)


def _exe() -> list[str]:
    found = shutil.which("netpol-doctor", path=str(Path(sys.executable).parent))
    assert found, "netpol-doctor is not installed in this environment"
    return [found]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_exe(), *args], capture_output=True, text=True, timeout=60)


def _expected() -> list[Any]:
    questions = yaml.safe_load((ROOT / "examples" / "expected.yaml").read_text())
    return [pytest.param(q, id=f"{q['src']}->{q['dst']}:{q['port']}") for q in questions]


@pytest.mark.parametrize("q", _expected())
def test_expected_verdicts_on_examples(q: dict[str, Any]) -> None:
    proto = q.get("protocol", "TCP")
    r = run(
        "diagnose",
        q["src"],
        q["dst"],
        "--port",
        str(q["port"]),
        "--protocol",
        proto,
        "--snapshot",
        str(EXAMPLES),
        "--output",
        "json",
    )
    assert "Traceback" not in r.stderr
    data = json.loads(r.stdout)
    assert data["verdict"] == q["verdict"], q.get("why")
    assert r.returncode == EXIT[q["verdict"]]
    ids = {f["id"] for f in data["findings"]}
    assert set(q.get("traps", [])) <= ids, (q.get("traps"), ids)


def test_json_top_level_schema() -> None:
    r = run(*DEMO, "-o", "json")
    data = json.loads(r.stdout)
    for key in (
        "verdict",
        "source",
        "destination",
        "port",
        "protocol",
        "ingress",
        "egress",
        "findings",
    ):
        assert key in data
    assert data["port"] == 9090 and data["protocol"] == "TCP"
    for f in data["findings"]:
        assert set(f) >= {"id", "severity", "message", "objects"}
    assert data["ingress"]["verdict"] == "denied"
    assert data["egress"]["verdict"] == "allowed"
    scrape = [
        r for r in data["ingress"]["rules"] if r["policy"] == "shop/api-allow-prometheus-scrape"
    ]
    assert scrape and "team" in scrape[0]["peers"][0]["explanation"]


def test_text_output_is_plain_when_piped() -> None:
    r = run(*DEMO)
    assert r.returncode == 1
    assert r.stdout.startswith("DENIED")
    assert "\x1b[" not in r.stdout
    forced = run(*DEMO, "--color")
    assert "\x1b[" in forced.stdout


def test_markdown_output() -> None:
    r = run(*DEMO, "-o", "markdown")
    assert r.returncode == 1
    assert r.stdout.startswith("## netpol-doctor:")
    assert "| error | `ingress-not-allowed` |" in r.stdout


def test_pod_command() -> None:
    r = run("pod", "shop/api-7c9d8b6f5-x4kzp", "--snapshot", str(EXAMPLES))
    assert r.returncode == 0, r.stderr
    assert "Ingress: isolated by" in r.stdout
    assert (
        "ingress from pods labelled app=prometheus in namespaces labelled team=monitoring"
        in r.stdout
    )
    j = json.loads(
        run("pod", "shop/api-7c9d8b6f5-x4kzp", "--snapshot", str(EXAMPLES), "-o", "json").stdout
    )
    assert j[0]["ingress"]["isolated"] is True


def test_matrix_json_and_csv() -> None:
    r = run("matrix", "-n", "shop", "--port", "8080", "--snapshot", str(EXAMPLES), "-o", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["port"] == 8080 and data["protocol"] == "TCP"
    pods = data["pods"]
    assert all(p.startswith("shop/") for p in pods)
    assert set(data["allowed"]) == set(pods)
    front = next(p for p in pods if p.startswith("shop/frontend-"))
    api = next(p for p in pods if p.startswith("shop/api-"))
    assert data["allowed"][front][api] is True
    assert data["allowed"][api][front] is False
    csv_out = run(
        "matrix", "-n", "shop", "--port", "8080", "--snapshot", str(EXAMPLES), "-o", "csv"
    )
    lines = csv_out.stdout.strip().splitlines()
    assert lines[0] == "source,destination,port,protocol,verdict"
    assert len(lines) == 1 + len(pods) ** 2


def test_usage_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    cases = [
        ("diagnose", "shop/nope", "shop/db-0", "--port", "80", "--snapshot", str(EXAMPLES)),
        ("diagnose", "shop/db-0", "shop/db-0", "--port", "70000", "--snapshot", str(EXAMPLES)),
        ("diagnose", "shop/db-0", "svc/shop/api", "--port", "81", "--snapshot", str(EXAMPLES)),
        ("diagnose", "shop/db-0", "shop/db-0", "--port", "80", "--snapshot", str(tmp_path / "x")),
        ("diagnose", "shop/db-0", "shop/db-0", "--port", "80"),
    ]
    for args in cases:
        r = run(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
        assert r.stderr.strip(), args


def test_module_imports_nothing_from_cli() -> None:
    # The library is usable without the CLI: importing it must not pull click in.
    code = "import sys, netpol_doctor.diagnose, netpol_doctor.matrix; print('click' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_lint_cli_outputs_and_exit_codes() -> None:
    r = run("lint", "--snapshot", str(EXAMPLES))
    assert r.returncode == 1, r.stderr  # dns-egress-missing is an error in the demo
    assert "dns-egress-missing" in r.stdout and "1 error, " in r.stdout
    sarif = run("lint", "--snapshot", str(EXAMPLES), "-o", "sarif")
    data = json.loads(sarif.stdout)
    assert data["version"] == "2.1.0" and data["runs"][0]["results"]
    import jsonschema

    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(data, schema)
    ok = run(
        "lint", "--snapshot", str(EXAMPLES), "--ignore", "dns-egress-missing", "--fail-on", "error"
    )
    assert ok.returncode == 0, ok.stdout
    strict = run(
        "lint",
        "--snapshot",
        str(EXAMPLES),
        "--ignore",
        "dns-egress-missing",
        "--fail-on",
        "warning",
    )
    assert strict.returncode == 1
    bad = run("lint", "--snapshot", str(EXAMPLES), "--ignore", "no-such-rule")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
