"""Start-up cost: a command imports what it runs and nothing more. numpy (the matrix),
the kubernetes client (live reads), the MCP SDK, rich (colour) and the modules of other
commands cost a tenth of a second or more each at start; every `diagnose` paid them
all when cli.py imported the whole package. The real console entry point runs in a
fresh interpreter; the modules it imported are read at its exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "cluster"

# Runs an entry point (module named by the first argument) as its console script does,
# then writes sys.modules to the file named by the second (atexit: after main's
# SystemExit, as at the real exit).
_WRAPPER = """
import atexit, importlib, json, sys
entry, out = sys.argv.pop(1), sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.exit(importlib.import_module(entry).main(sys.argv[1:]))
"""
CLI = "netpol_doctor.cli"
PLUGIN = "netpol_doctor.shells.kubectl_plugin"

#: never imported by the commands below (third-party, and heavy)
THIRD_PARTY = ("numpy", "kubernetes", "mcp", "pydantic", "rich", "websocket")
#: other commands' modules
OTHERS = (
    "netpol_doctor.matrix",
    "netpol_doctor.diff",
    "netpol_doctor.contract",
    "netpol_doctor.lint",
    "netpol_doctor.live",
    "netpol_doctor.live_client",
    "netpol_doctor.analysis.grouped",
    "netpol_doctor.analysis.report",
    "netpol_doctor.analysis.flows",
    "netpol_doctor.analysis.triage",
    "netpol_doctor.analysis.probe_plan",
    "netpol_doctor.inputs.flowlogs",
    "netpol_doctor.render.html",
    "netpol_doctor.render.matrixout",
    "netpol_doctor.render.sarif",
    "netpol_doctor.shells.matrix_by",
    # policy families examples/cluster holds no object of
    "netpol_doctor.calico",
    "netpol_doctor.cilium",
)


def _imported(
    tmp_path: Path, *args: str, entry: str = CLI
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, entry, str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    return done, set(json.loads(out.read_text()))


_QUESTION = ("monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", "--port", "9090")


def _heavy(modules: set[str], own: tuple[str, ...] = ()) -> list[str]:
    """Modules (or their submodules) that should not have been imported."""
    return sorted(
        m
        for m in modules
        for top in (*THIRD_PARTY, *(o for o in OTHERS if o not in own))
        if m == top or m.startswith(top + ".")
    )


@pytest.mark.parametrize(
    ("entry", "args", "codes", "own"),
    [
        (CLI, ("diagnose", *_QUESTION), (0, 1, 3), ()),
        (CLI, ("pod", "shop/api-7c9d8b6f5-x4kzp"), (0,), ()),
        (CLI, ("check",), (0,), ()),
        (CLI, ("lint",), (0, 1), ("netpol_doctor.lint",)),
        (PLUGIN, ("diagnose", *_QUESTION), (0, 1, 3), ()),
        (PLUGIN, ("pod", "shop/api-7c9d8b6f5-x4kzp"), (0,), ()),
    ],
    ids=["diagnose", "pod", "check", "lint", "kubectl-diagnose", "kubectl-pod"],
)
def test_a_command_imports_only_what_it_runs(
    tmp_path: Path, entry: str, args: tuple[str, ...], codes: tuple[int, ...], own: tuple[str, ...]
) -> None:
    done, modules = _imported(tmp_path, *args, "--snapshot", str(EXAMPLES), entry=entry)
    assert done.returncode in codes, done.stderr
    assert done.stdout.strip()
    assert "netpol_doctor.snapshot" in modules  # it did read the input
    assert _heavy(modules, own) == []


@pytest.mark.parametrize("entry", [CLI, PLUGIN], ids=["netpol-doctor", "kubectl-plugin"])
def test_help_imports_no_analysis(tmp_path: Path, entry: str) -> None:
    done, modules = _imported(tmp_path, "--help", entry=entry)
    assert done.returncode == 0, done.stderr
    for command in ("diagnose", "matrix", "flows", "probe", "triage", "report", "mcp"):
        assert f"  {command} " in done.stdout
    # the command line and the commands' thin shells, nothing of the library
    ours = {m for m in modules if m.startswith("netpol_doctor.")}
    shell = ("netpol_doctor.cli", "netpol_doctor.errors", "netpol_doctor.shells")
    assert [m for m in ours if not m.startswith(shell)] == [], sorted(ours)
    assert _heavy(modules) == []


def test_choices_the_library_names_are_checked_and_shown(tmp_path: Path) -> None:
    """--cni and --symptom read their names from the library when needed."""
    from netpol_doctor.cni import KNOWN_CNIS
    from netpol_doctor.diagnose import Symptom

    done, _ = _imported(tmp_path, "diagnose", "--help")
    shown = " ".join(done.stdout.split())
    assert "|".join(p.name for p in KNOWN_CNIS) in shown
    assert "|".join(s.value for s in Symptom) in shown
    args = ("diagnose", "a/b", "c/d", "--port", "80", "--snapshot", str(EXAMPLES))
    done, _ = _imported(tmp_path, *args, "--cni", "no-such-cni")
    assert done.returncode == 2
    assert "'no-such-cni' is not one of" in done.stderr
    assert KNOWN_CNIS[0].name in done.stderr
    done, _ = _imported(tmp_path, *args, "--symptom", "slow")
    assert done.returncode == 2 and "'slow' is not one of" in done.stderr
