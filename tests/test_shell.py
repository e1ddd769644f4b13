"""Printed commands are safe to paste: names chosen by whoever can create a pod or a
namespace come back from bash as exactly the intended words, and run nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from builders import namespace, pod, policy, service, write
from netpol_doctor.fixes import add_policy_type, edit_preview, namespace_label_command
from netpol_doctor.model import Direction, LabelSelector, NetworkPolicy, ObjectRef
from netpol_doctor.shell import command, comment, quote
from test_cli import run

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

HOSTILE = [
    "c-$(touch${IFS}x);y",
    "n`touch x`",
    "a'b;touch x",
    'a"b$(touch x)"',
    "a\n;touch x",
    "a\\'; touch x; '",
    "$HOME",
    "x\x1b[2K;touch x",
    "r\u202etouch x",
    "a!!b\n!-1",
    "tab\there",
    "",
    "-n",
    "~",
    "*",
    "plain-name",
]


def pasted(line: str, cwd: Path) -> list[str]:
    """The argv bash hands to `kubectl` when `line` is pasted (kubectl replaced by a
    function printing its arguments); fails if anything else ran."""
    script = f"kubectl() {{ printf '%s\\0' \"$@\"; }}\n{line}\n"
    before = sorted(os.listdir(cwd))
    out = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        cwd=cwd,
        capture_output=True,
        timeout=10,
        check=False,
        env={"PATH": os.environ["PATH"], "HOME": str(cwd), "LC_ALL": "C.UTF-8"},
    )
    assert out.returncode == 0 and not out.stderr, (line, out.stderr)
    assert sorted(os.listdir(cwd)) == before, f"pasting {line!r} created files"
    return [a.decode() for a in out.stdout.split(b"\0")[:-1]]


@pytest.mark.parametrize("word", HOSTILE)
def test_quote_round_trips_through_bash(word: str, tmp_path: Path) -> None:
    line = command("kubectl", "label", "namespace", word, f"team={word}")
    assert "\n" not in line and line.isprintable()
    assert pasted(line, tmp_path) == ["label", "namespace", word, f"team={word}"]


@pytest.mark.parametrize(
    ("word", "printed"),
    [
        ("plain-name", "plain-name"),
        ("team=blue", "team=blue"),
        ("app.kubernetes.io/name=x", "app.kubernetes.io/name=x"),
        ("a b", "'a b'"),
        ("a'b", "'a'\"'\"'b'"),
        ("a\nb", "$'a\\nb'"),
        ("a'\n", "$'a\\'\\n'"),
        ("x\x1b", "$'x\\x1b'"),
    ],
)
def test_quote_keeps_safe_words_bare(word: str, printed: str) -> None:
    assert quote(word) == printed


@pytest.mark.parametrize("text", ["ns/a\n touch x", "ns/a\rb", "ns/`a`$(b);c"])
def test_comment_never_ends_the_line(text: str, tmp_path: Path) -> None:
    line = f"kubectl get pods   # {comment(text)}"
    assert line.isprintable()
    assert pasted(line, tmp_path) == ["get", "pods"]


def _policy(ns: str, name: str) -> NetworkPolicy:
    return NetworkPolicy(
        ObjectRef("NetworkPolicy", ns, name),
        LabelSelector(),
        frozenset({Direction.INGRESS}),
        True,
        (),
        (),
    )


@pytest.mark.parametrize("word", HOSTILE)
def test_fix_builders_quote_every_name(word: str, tmp_path: Path) -> None:
    ns = word or "default"  # a policy without a namespace is in default
    cases = [
        (
            namespace_label_command(word, {"team": word, "old": None}),
            ["label", "namespace", word, f"team={word}", "old-", "--overwrite"],
        ),
        (
            edit_preview(_policy(word, word)).removeprefix("# preview: "),
            ["edit", "networkpolicy", "-n", ns, word],
        ),
    ]
    patch = add_policy_type(_policy(word, word), Direction.EGRESS).snippet
    assert patch is not None
    merge = json.dumps({"spec": {"policyTypes": ["Egress", "Ingress"]}})
    dry_run = ["--dry-run=server", "-o", "yaml"]
    cases.append(
        (
            patch,
            ["patch", "networkpolicy", "-n", ns, word, "--type", "merge", "-p", merge, *dry_run],
        )
    )
    for line, argv in cases:
        assert pasted(line, tmp_path) == argv


# --- through the CLI: a cluster whose names are hostile ----------------------------

NS = "n`touch x`"
SRC = "c-$(touch${IFS}x);y"
ALT = "alt'\n;touch x"
SVC = "web$(touch x)"


def _hostile_cluster(tmp: Path) -> Path:
    both = {"namespaceSelector": {}}
    return write(
        tmp,
        [
            namespace("shop"),
            namespace(NS, owner="$(touch x)", note="a'\n;touch x"),
            pod(f"{NS}/{SRC}", "10.0.0.1", app="client", extra="`touch x`;$(touch x)"),
            pod(f"{NS}/{ALT}", "10.0.0.3", app="alt"),
            pod("shop/api", "10.0.0.2", app="api", ports=["http:8080"]),
            policy(
                "shop/api-in",
                {
                    "podSelector": {"matchLabels": {"app": "api"}},
                    "ingress": [
                        {
                            "from": [
                                {
                                    "namespaceSelector": {"matchLabels": {"team": "blue"}},
                                    "podSelector": {"matchLabels": {"app": "client"}},
                                }
                            ]
                        },
                        {"from": [{**both, "podSelector": {"matchLabels": {"app": "alt"}}}]},
                        {
                            "from": [
                                {
                                    **both,
                                    "podSelector": {
                                        "matchLabels": {"app": "client", "tier": "web"}
                                    },
                                }
                            ]
                        },
                    ],
                },
            ),
            service(f"shop/{SVC}", {"app": "nothing"}, [{"port": 80, "targetPort": 8080}]),
        ],
    )


def _printed_commands(data: dict[str, object]) -> list[str]:
    """Every command line in a diagnosis: fix snippets, previews, verify lines and
    commands embedded in messages."""
    lines: list[str] = list(data["verify"])  # type: ignore[call-overload]
    for f in data["findings"]:  # type: ignore[attr-defined]
        snippet = (f["fix"] or {}).get("snippet") or ""
        for line in snippet.splitlines():
            if line.startswith("kubectl "):
                lines.append(line)
            elif line.startswith("# preview: "):
                lines.append(line.removeprefix("# preview: ").rpartition("  (or: ")[0])
        if "(kubectl " in f["message"]:
            lines.append(f["message"].split("(kubectl ", 1)[1][:-1].join(["kubectl ", ""]))
    return lines


def test_hostile_names_load_and_print_safe_commands(tmp_path: Path) -> None:
    cluster = _hostile_cluster(tmp_path)
    work = tmp_path / "paste"
    work.mkdir()
    nc = ["--", "nc", "-zv", "-w", "3", "10.0.0.2", "8080"]
    expected = {
        ("label", "namespace", NS, "team=blue", "--overwrite"),
        ("label", "pod", "-n", NS, SRC, "tier=web", "--dry-run=server", "-o", "yaml"),
        ("edit", "networkpolicy", "-n", "shop", "api-in"),
        ("exec", "-n", NS, SRC, *nc),
        ("exec", "-n", NS, ALT, *nc),
        ("get", "endpointslices", "-n", "shop", "-l", f"kubernetes.io/service-name={SVC}"),
    }
    seen = set()
    for dst, port in (("shop/api", "8080"), (f"svc/shop/{SVC}", "80")):
        args = ("diagnose", f"{NS}/{SRC}", dst, "-p", port, "--cni", "calico", "-o", "json")
        r = run(*args, "--snapshot", str(cluster))
        assert r.returncode in (1, 3), r.stderr
        for line in _printed_commands(json.loads(r.stdout)):
            seen.add(tuple(pasted(line, work)))
    assert seen == expected


def test_text_output_commands_paste_as_intended(tmp_path: Path) -> None:
    """What a user copies from the terminal: every line that is a command."""
    cluster = _hostile_cluster(tmp_path)
    work = tmp_path / "paste"
    work.mkdir()
    r = run("diagnose", f"{NS}/{SRC}", "shop/api", "-p", "8080", "--snapshot", str(cluster))
    assert r.returncode == 1, r.stderr
    commands = [line.strip() for line in r.stdout.splitlines()]
    commands = [c for c in commands if c.startswith("kubectl ")]
    assert len(commands) == 4, r.stdout  # label namespace, label pod, two nc probes
    argvs = [pasted(c, work) for c in commands]
    assert ["label", "namespace", NS, "team=blue", "--overwrite"] in argvs
    assert ["exec", "-n", NS, ALT, "--", "nc", "-zv", "-w", "3", "10.0.0.2", "8080"] in argvs
