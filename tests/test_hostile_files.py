"""Files an attacker or a careless user gives: nothing hangs, nothing grows without
bound, nothing is dropped without a word, and what cannot be read makes the answers
that depend on it unknown."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from netpol_doctor.diagnose import diagnose
from netpol_doctor.engine import Verdict
from netpol_doctor.snapshot import load_snapshot
from test_cli import _exe
from test_input import GOOD

DENY_ALL = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec: {podSelector: {}}
"""


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*_exe(), *args], capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in proc.stderr + proc.stdout
    return proc


def _ids(path: Path) -> list[str]:
    return [p.id for p in load_snapshot([path]).problems]


def _messages(path: Path) -> str:
    return "\n".join(p.message for p in load_snapshot([path]).problems)


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "/dev/null"])
def test_only_regular_files_are_read(tmp_path: Path, special: str) -> None:
    if special == "fifo":
        target = tmp_path / "cluster.yaml"
        os.mkfifo(target)
    else:
        target = Path(special)
    r = _cli("check", "--snapshot", str(target), timeout=20)
    assert r.returncode == 2
    assert f"{target} is not a regular file" in r.stdout + r.stderr


def test_a_fifo_inside_a_directory_is_named_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    os.mkfifo(tmp_path / "pipe.yaml")
    snap = load_snapshot([tmp_path])
    assert len(snap.pods) == 2
    assert "pipe.yaml is not a regular file" in _messages(tmp_path)


def test_links_to_nothing_and_link_loops_are_named(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "missing.yaml")
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "up").symlink_to(tmp_path)  # a directory loop is read once
    snap = load_snapshot([tmp_path])
    assert len(snap.pods) == 2
    text = _messages(tmp_path)
    assert "gone.yaml is a link to nothing" in text
    assert "a.yaml" in text and "b.yaml" in text


def test_an_unreadable_directory_makes_answers_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deny-all in the unreadable folder would deny: never say allowed."""
    (tmp_path / "good.yaml").write_text(GOOD)
    locked = tmp_path / "policies"
    locked.mkdir()
    (locked / "deny.yaml").write_text(DENY_ALL)
    assert diagnose(load_snapshot([tmp_path]), "shop/a", "shop/b", 80).verdict is Verdict.DENIED

    real_scandir = os.scandir

    def scandir(path: str | os.PathLike[str]) -> object:
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    snap = load_snapshot([tmp_path])
    assert diagnose(snap, "shop/a", "shop/b", 80).verdict is Verdict.UNKNOWN
    (problem,) = [p for p in snap.problems if p.id == "input-unreadable"]
    assert "policies" in problem.message and "Permission denied" in problem.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any directory")
def test_a_directory_without_read_permission(tmp_path: Path) -> None:  # pragma: no cover
    (tmp_path / "good.yaml").write_text(GOOD)
    locked = tmp_path / "policies"
    locked.mkdir()
    (locked / "deny.yaml").write_text(DENY_ALL)
    locked.chmod(0)
    try:
        r = _cli("diagnose", "shop/a", "shop/b", "--port", "80", "--snapshot", str(tmp_path))
        assert r.returncode == 3 and r.stdout.startswith("UNKNOWN")
    finally:
        locked.chmod(0o755)


def test_a_broken_policy_file_leaves_a_gap_in_its_namespace_only(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(
        GOOD + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: other}\n"
    )
    (tmp_path / "np.yaml").write_text(DENY_ALL.replace("spec: {", "spec: {{"))
    snap = load_snapshot([tmp_path])
    assert ("networkpolicies", "shop") in snap.unreadable
    assert diagnose(snap, "shop/a", "shop/b", 80).verdict is Verdict.UNKNOWN
    # Nothing suggests the broken file touched namespace `other`.
    assert diagnose(snap, "other/c", "other/c", 80).verdict is Verdict.ALLOWED


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("deep.json", b"[" * 100_000 + b"]" * 100_000),
        ("deep.yaml", b"[" * 100_000 + b"]" * 100_000),
        ("digits.json", b'{"kind": "Pod", "x": ' + b"9" * 5000 + b"}"),
        ("digits.yaml", b"kind: Pod\nx: " + b"9" * 5000 + b"\n"),
        ("nul.yaml", b"kind: Pod\x00\n"),
        ("latin1.yaml", "kind: Pod\nmetadata: {name: caf\xe9}\n".encode("latin-1")),
    ],
)
def test_files_that_break_parsers_are_one_line_problems(
    tmp_path: Path, name: str, data: bytes
) -> None:
    (tmp_path / name).write_bytes(data)
    (tmp_path / "good.yaml").write_text(GOOD)
    snap = load_snapshot([tmp_path])
    assert len(snap.pods) == 2  # the rest is still read
    bad = [p for p in snap.problems if p.objects and p.objects[0].file == str(tmp_path / name)]
    assert bad, snap.problems
    assert all("\n" not in p.message for p in bad)
    r = _cli("check", "--snapshot", str(tmp_path))
    assert r.returncode == 2 and name in r.stdout


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"), ("utf-8", b"\xef\xbb\xbf")],
)
@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_byte_order_marks_are_read(tmp_path: Path, encoding: str, bom: str, suffix: str) -> None:
    text = (
        GOOD
        if suffix == "yaml"
        else '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "s"}}'
    )
    path = tmp_path / f"pods.{suffix}"
    path.write_bytes(bom + text.encode(encoding))
    snap = load_snapshot([path])
    assert snap.pods and not [p for p in snap.problems if p.id.startswith("input-")]


def test_a_compact_file_among_manifests_is_named(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    _cli("snapshot", "pack", str(tmp_path / "packed.yaml"), "--snapshot", str(tmp_path))
    assert "packed.yaml is a compact snapshot" in _messages(tmp_path)


def test_a_huge_tree_is_walked_within_a_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import netpol_doctor.snapshot as snapshot

    monkeypatch.setattr(snapshot, "MAX_DIRECTORIES", 5)
    for i in range(10):
        (tmp_path / f"d{i}").mkdir()
    assert "more than 5 directories" in _messages(tmp_path)


def test_document_lines_in_a_long_stream(tmp_path: Path) -> None:
    docs = [
        f"# pod {i}\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: s}}\n"
        for i in range(300)
    ]
    path = tmp_path / "stream.yaml"
    path.write_text("---\n" + "---\n".join(docs))
    snap = load_snapshot([path])
    lines = {p.name: p.ref.line for p in snap.pods}
    # The line of the object itself: its first key, past the `---` and the comment.
    assert lines["p0"] == 3 and lines["p1"] == 8 and lines["p299"] == 3 + 5 * 299


def _between(text: list[str], start: int, end: int | None, needle: str) -> bool:
    return any(needle in line for line in text[start - 1 : end])


@pytest.mark.parametrize("shape", ["json", "yaml"])
def test_items_of_a_kubectl_list_keep_their_own_lines(tmp_path: Path, shape: str) -> None:
    """lint, SARIF and every problem point at the item, not at the List's first line."""
    from test_generate import gen

    gen.write_cluster(gen.generate_cluster(60, 10, seed=3), tmp_path, shape)
    path = tmp_path / "cluster" / f"pods.{shape}"
    text = path.read_text().splitlines()
    pods = sorted(load_snapshot([path]).pods, key=lambda p: p.ref.line or 0)
    assert len({p.ref.line for p in pods}) == len(pods) == 60
    for pod, after in zip(pods, [*pods[1:], None], strict=True):
        end = after.ref.line if after is not None else None
        assert _between(text, pod.ref.line or 0, end, pod.name), pod.name


def test_a_key_given_twice_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "np.yaml"
    path.write_text(
        DENY_ALL.replace(
            "spec: {podSelector: {}}",
            "spec:\n  podSelector: {}\n  podSelector: {matchLabels: {a: b}}",
        )
    )
    snap = load_snapshot([path])
    (dup,) = [p for p in snap.problems if p.id == "input-duplicate-key"]
    assert dup.objects[0].line == 6 and "'podSelector'" in dup.message
    assert snap.policies[0].pod_selector.requirements  # the last one wins, as kubectl reads it


def test_links_out_of_the_tree_are_not_followed(tmp_path: Path) -> None:
    """`--snapshot /proc` reached `/` through /proc/self/root and read every cluster on
    the machine: links leading out of the given directory are named, not followed."""
    inside, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    inside.mkdir()
    elsewhere.mkdir()
    (inside / "good.yaml").write_text(GOOD)
    (elsewhere / "deny.yaml").write_text(DENY_ALL)
    (inside / "shared").symlink_to(elsewhere)
    (inside / "again").symlink_to(inside)  # inside: followed, read once
    snap = load_snapshot([inside])
    assert len(snap.pods) == 2 and not snap.policies
    assert "links to directories outside" in _messages(inside)


def test_proc_is_walked_within_bounds() -> None:
    r = _cli("check", "--snapshot", "/proc", timeout=120)
    assert r.returncode == 2
    assert "links to directories outside /proc are not followed" in r.stdout + r.stderr
