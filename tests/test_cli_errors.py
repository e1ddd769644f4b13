"""Hostile and broken command lines and outputs (issue #14): bad ports, output that
cannot be written, and inputs with problems that must never pass silently."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from test_cli import DEMO, EXAMPLES, _exe, run

DIAGNOSE = ("diagnose", "monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp")
SNAP = ("--snapshot", str(EXAMPLES))
HUGE = "9" * 5000


def _one_line_error(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout[:200], r.stderr)
    assert "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("netpol-doctor: "), r.stderr
    assert len(r.stderr) < 400, r.stderr
    for needle in needles:
        assert needle in r.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((*DIAGNOSE, "--port=-1"), "'-1' is not a port number 1-65535 or a port name"),
        ((*DIAGNOSE, "--port="), "'' is not a port number"),
        ((*DIAGNOSE, "--port", "http;touch x"), "'http;touch x' is not"),
        ((*DIAGNOSE, "--port", "$(id)"), "'$(id)' is not"),
        ((*DIAGNOSE, "--port", "HTTP"), "'HTTP' is not"),  # Kubernetes allows only a-z
        ((*DIAGNOSE, "--port", "a--b"), "'a--b' is not"),
        ((*DIAGNOSE, "--port", "web-"), "'web-' is not"),
        ((*DIAGNOSE, "--port", "abcdefghijklmnop"), "'abcdefghijklmnop' is not"),  # 16 chars
        ((*DIAGNOSE, "--port", "²"), "'²' is not"),
        ((*DIAGNOSE, "--port", "0"), "'0' is out of range 1-65535"),
        ((*DIAGNOSE, "--port", "65536"), "'65536' is out of range"),
        ((*DIAGNOSE, "--port", HUGE), "'99999"),
        (("matrix", "--port=-1"), "'-1' is not a port number 1-65535"),
        (("matrix", "--port", "http"), "'http' is not a port number"),
        (("matrix", "--port", HUGE), "is out of range"),
        (("diff", "--before", str(EXAMPLES), "--after", str(EXAMPLES), "-p", "tcp/²"), "PORT"),
        (("diff", "--before", str(EXAMPLES), "--after", str(EXAMPLES), "-p", "-1"), "PORT"),
        (("diff", "--before", str(EXAMPLES), "--after", str(EXAMPLES), "-p", HUGE), "out of range"),
    ],
)
def test_bad_ports_exit_2_with_one_line(args: tuple[str, ...], needle: str) -> None:
    r = run(*args, *SNAP) if args[0] != "diff" else run(*args)
    _one_line_error(r, "--port", needle)


@pytest.mark.parametrize(
    ("port", "code"),
    [("9090", 1), ("metrics", 1), ("09090", 1), ("no-such-name", 3), ("h2c", 3), ("a1", 3)],
)
def test_valid_ports_are_looked_up(port: str, code: int) -> None:
    r = run(*DIAGNOSE, "--port", port, *SNAP)
    assert r.returncode == code, r.stderr


# --- output that cannot be written ------------------------------------------------


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args",
    [
        ("check", *SNAP),
        (*DEMO, "-o", "json"),
        ("matrix", "--port", "8080", "-o", "csv", *SNAP),
        ("lint", "-o", "sarif", *SNAP),
    ],
)
def test_full_disk_is_one_sentence(args: tuple[str, ...]) -> None:
    with open("/dev/full", "w") as full:
        r = subprocess.run([*_exe(), *args], stdout=full, stderr=subprocess.PIPE, text=True)
    r.stdout = ""
    _one_line_error(r, "cannot write standard output (/dev/full): No space left on device")


@pytest.mark.parametrize(
    "args",
    [("check", *SNAP), DEMO, ("matrix", "--port", "8080", "-o", "csv", *SNAP), ("--help",)],
)
def test_closed_pipe_exits_quietly(args: tuple[str, ...]) -> None:
    proc = subprocess.Popen(
        [*_exe(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first write, as `| head -0`
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141
    assert err == ""


def test_unwritable_output_paths_are_one_sentence(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    saved = run("snapshot", "save", str(a_file / "snap"), "--kubeconfig", str(tmp_path / "none"))
    _one_line_error(saved, f"{a_file} is a file, not a directory")
    packed = run("snapshot", "pack", str(tmp_path / "missing" / "x.pack"), *SNAP)
    _one_line_error(packed, str(tmp_path / "missing"))


# --- problems in the input are never silent ---------------------------------------


def _broken_copy(tmp: Path) -> Path:
    """The example cluster plus one file that is not JSON."""
    target = tmp / "cluster"
    target.mkdir()
    for f in EXAMPLES.iterdir():
        (target / f.name).write_bytes(f.read_bytes())
    (target / "broken.json").write_text("{ not json")
    return target


@pytest.mark.parametrize(
    ("before", "after", "side"),
    [
        ("missing", "examples", "before"),
        ("examples", "missing", "after"),
        ("examples", "broken", "after"),
        ("broken", "examples", "before"),
    ],
)
def test_diff_never_claims_no_change_over_unread_input(
    before: str, after: str, side: str, tmp_path: Path
) -> None:
    paths = {"missing": str(tmp_path / "nope"), "examples": str(EXAMPLES)}
    paths["broken"] = str(_broken_copy(tmp_path))
    r = run("diff", "--before", paths[before], "--after", paths[after], "-p", "8080")
    assert r.returncode == 2, r.stdout
    assert r.stdout.startswith(f"INCOMPLETE: the {side} side could not be read completely")
    assert f"--{side} {paths[before if side == 'before' else after]}:" in r.stderr
    assert "input-unreadable" in r.stderr or "input-malformed" in r.stderr
    j = run("diff", "--before", paths[before], "--after", paths[after], "-p", "8080", "-o", "json")
    assert j.returncode == 2
    data = json.loads(j.stdout)
    assert data["complete"] is False and data["problems"][side]
    md = run(
        "diff", "--before", paths[before], "--after", paths[after], "-p", "8080", "-o", "markdown"
    )
    assert md.returncode == 2
    assert f"> **INCOMPLETE**: the {side} side could not be read completely" in md.stdout
    assert "#### Input problems" in md.stdout and f"- {side}: `error: " in md.stdout


def test_diff_of_readable_inputs_is_complete() -> None:
    r = run("diff", "--before", str(EXAMPLES), "--after", str(EXAMPLES), "-p", "8080", "-o", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["complete"] is True and data["problems"] == {"before": [], "after": []}


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("lint", "-o", "sarif"), 2),
        (("lint", "-o", "json"), 2),
        (("matrix", "--port", "8080", "-o", "json"), 0),
        (("matrix", "--port", "8080", "-o", "csv"), 0),
        (("matrix", "--all-ports", "-o", "json"), 0),
        (("pod", "shop/db-0", "-o", "json"), 0),
        # the broken file names no kind: it may have held a policy, so unknown
        ((*DIAGNOSE, "--port", "9090", "-o", "json"), 3),
        (("check", "-o", "json"), 2),
        # a policy in the unread file could decide any flow: the contract is unproven
        (("verify", str(EXAMPLES.parent / "contract.yaml"), "-o", "json"), 2),
    ],
)
def test_input_problems_reach_stderr_whatever_the_format(
    args: tuple[str, ...], code: int, tmp_path: Path
) -> None:
    r = run(*args, "--snapshot", str(_broken_copy(tmp_path)))
    assert r.returncode == code, r.stderr
    assert "broken.json" in r.stderr and "[input-malformed]" in r.stderr
    if "json" in args and args[0] in ("matrix", "lint", "diagnose"):
        ids = [p["id"] for p in json.loads(r.stdout)["problems"]]
        assert "input-malformed" in ids
