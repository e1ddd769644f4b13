"""The command line: options -> library calls -> renderer -> exit code.

The only module that knows about terminals, flags and exit codes:
0 allowed, 1 denied, 3 unknown, 2 usage or input error.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar

import click

from .cni import KNOWN_CNIS, CniInfo, detect_cni, profile_named
from .diagnose import Symptom, diagnose
from .engine import Verdict
from .errors import NetpolDoctorError
from .findings import Severity
from .matrix import compute_matrix
from .model import Protocol
from .podinfo import pod_view
from .render.markdown import render_diagnosis_markdown
from .render.structured import diagnosis_dict, finding_dict, pod_dict
from .render.text import render_diagnosis, render_matrix, render_pod, render_problems
from .snapshot import Snapshot, load_snapshot
from .targets import resolve

__all__ = ["ExitCode", "main"]


class ExitCode(IntEnum):
    ALLOWED = 0
    DENIED = 1
    USAGE = 2
    UNKNOWN = 3


_VERDICT_EXIT = {
    Verdict.ALLOWED: ExitCode.ALLOWED,
    Verdict.DENIED: ExitCode.DENIED,
    Verdict.UNKNOWN: ExitCode.UNKNOWN,
}

F = TypeVar("F", bound=Callable[..., Any])


def _common(f: F) -> F:
    options = [
        click.option(
            "--snapshot",
            "snapshots",
            multiple=True,
            type=click.Path(exists=True, dir_okay=True, file_okay=True),
            help="Manifests or kubectl dumps (file or directory, YAML or JSON); repeatable.",
        ),
        click.option(
            "--cni",
            type=click.Choice([p.name for p in KNOWN_CNIS]),
            default=None,
            help="The network plugin, when it cannot be detected from the input.",
        ),
        click.option(
            "--color/--no-color",
            default=None,
            help="Colour the text output (default: when stdout is a terminal).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _load(snapshots: tuple[str, ...]) -> Snapshot:
    if not snapshots:
        raise NetpolDoctorError(
            "no --snapshot given: this version reads manifests and kubectl dumps from disk "
            "(e.g. kubectl get ns,pods,svc,endpoints,networkpolicies,nodes,ds -A -o yaml > "
            "dump.yaml, then --snapshot dump.yaml)"
        )
    return load_snapshot(snapshots)


def _cni(snapshot: Snapshot, name: str | None) -> CniInfo:
    if name is None:
        return detect_cni(snapshot)
    return CniInfo(profile_named(name), forced=True)


def _report_problems(snapshot: Snapshot) -> None:
    shown = [f for f in snapshot.problems if f.severity is not Severity.INFO]
    if shown:
        click.echo(render_problems(shown), err=True, nl=False)


def _use_color(color: bool | None) -> bool:
    if color is not None:
        return color
    # https://no-color.org: an empty NO_COLOR does not count
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _parse_port(value: str) -> int | str:
    if value.isdigit():
        number = int(value)
        if not 1 <= number <= 65535:
            raise click.BadParameter(f"{number} is out of range 1-65535")
        return number
    return value


def _protocol(value: str) -> Protocol:
    try:
        return Protocol(value.upper())
    except ValueError:
        raise click.BadParameter(f"{value!r}: use TCP, UDP, SCTP or ICMP") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="netpol-doctor")
def cli() -> None:
    """Explain why Kubernetes NetworkPolicy blocks (or allows) traffic. Read-only."""


@cli.command("diagnose")
@click.argument("source")
@click.argument("destination")
@click.option(
    "--port",
    "-p",
    default=None,
    help="Destination port: a number or a port name (not needed for `dns`, `apiserver`).",
)
@click.option(
    "--protocol", default="TCP", show_default=True, help="TCP, UDP, SCTP, or ICMP (ping)."
)
@click.option(
    "--symptom",
    type=click.Choice([s.value for s in Symptom]),
    default=None,
    help="What the client sees: timeout (policy-like), refused (policy unlikely), nxdomain (DNS).",
)
@click.option(
    "--namespace", "-n", default="default", show_default=True, help="Namespace of bare pod names."
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@_common
def diagnose_cmd(
    source: str,
    destination: str,
    port: str | None,
    protocol: str,
    symptom: str | None,
    namespace: str,
    output: str,
    snapshots: tuple[str, ...],
    cni: str | None,
    color: bool | None,
) -> None:
    """Can SOURCE reach DESTINATION on --port? The verdict, why, and the fix.

    SOURCE and DESTINATION: a pod (NS/NAME, or NAME with --namespace), a workload
    (NS/DEPLOYMENT), a Service (svc/NS/NAME), a node (node/NAME) or an IP (ip/1.2.3.4).
    DESTINATION may also be `dns` (UDP and TCP 53 to the cluster DNS pods) or
    `apiserver` (the `kubernetes` Service's endpoints).
    Exit code: 0 allowed, 1 denied, 3 unknown, 2 usage or input error.
    """
    snapshot = _load(snapshots)
    icmp = protocol.upper() == "ICMP"
    if port is None and destination not in ("dns", "apiserver") and not icmp:
        raise click.UsageError("--port is required (except for the dns and apiserver checks)")
    diag = diagnose(
        snapshot,
        source,
        destination,
        _parse_port(port) if port is not None else None,
        _protocol(protocol),
        namespace=namespace,
        cni=_cni(snapshot, cni),
        symptom=Symptom(symptom) if symptom else None,
    )
    problems = [f for f in snapshot.problems if f.severity is not Severity.INFO]
    if output == "json":
        click.echo(json.dumps(diagnosis_dict(diag, problems), indent=2))
    elif output == "markdown":
        click.echo(render_diagnosis_markdown(diag, problems), nl=False)
    else:
        _report_problems(snapshot)
        use = _use_color(color)
        click.echo(render_diagnosis(diag, use), nl=False, color=use)
    raise SystemExit(_VERDICT_EXIT[diag.verdict])


@cli.command("pod")
@click.argument("pod")
@click.option("--namespace", "-n", default="default", show_default=True)
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text")
@_common
def pod_cmd(
    pod: str,
    namespace: str,
    output: str,
    snapshots: tuple[str, ...],
    cni: str | None,
    color: bool | None,
) -> None:
    """Which policies select POD, per direction, and what they admit."""
    snapshot = _load(snapshots)
    target = resolve(snapshot, pod, namespace=namespace)
    views = [pod_view(snapshot, m.endpoint.pod) for m in target.members if m.endpoint.pod]
    if not views:
        raise NetpolDoctorError(f"{pod} is not a pod")
    if output == "json":
        click.echo(json.dumps([pod_dict(v) for v in views], indent=2))
        return
    _report_problems(snapshot)
    use = _use_color(color)
    click.echo("\n".join(render_pod(v, use) for v in views), nl=False, color=use)


@cli.command("matrix")
@click.option("--namespace", "-n", "namespaces", multiple=True, help="Limit to these; repeatable.")
@click.option("--port", "-p", required=True, type=click.IntRange(1, 65535))
@click.option("--protocol", default="TCP", show_default=True)
@click.option(
    "--output", "-o", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True
)
@_common
def matrix_cmd(
    namespaces: tuple[str, ...],
    port: int,
    protocol: str,
    output: str,
    snapshots: tuple[str, ...],
    cni: str | None,
    color: bool | None,
) -> None:
    """The allowed/denied table for every pod pair in scope, on one port."""
    snapshot = _load(snapshots)
    m = compute_matrix(snapshot, port, _protocol(protocol), namespaces, _cni(snapshot, cni))
    keys = [p.key for p in m.pods]
    cell = {Verdict.ALLOWED: True, Verdict.DENIED: False, Verdict.UNKNOWN: None}
    if output == "json":
        data = {
            "port": m.port,
            "protocol": m.protocol.value,
            "pods": keys,
            "templates": [p.key for p in m.pods if p.is_template],
            "allowed": {
                s: {d: cell[v] for d, v in zip(keys, row, strict=True)}
                for s, row in zip(keys, m.verdicts, strict=True)
            },
        }
        click.echo(json.dumps(data, indent=2))
        return
    if output == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["source", "destination", "port", "protocol", "verdict"])
        for s, row in zip(keys, m.verdicts, strict=True):
            for d, v in zip(keys, row, strict=True):
                writer.writerow([s, d, m.port, m.protocol.value, v.value])
        click.echo(buf.getvalue(), nl=False)
        return
    _report_problems(snapshot)
    use = _use_color(color)
    click.echo(render_matrix(m, use), nl=False, color=use)


@cli.command("check")
@_common
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text")
def check_cmd(snapshots: tuple[str, ...], cni: str | None, color: bool | None, output: str) -> None:
    """Read the input and report every problem in it (exit 2 if any is an error)."""
    snapshot = _load(snapshots)
    problems = snapshot.problems
    if output == "json":
        data: dict[str, Any] = {
            "summary": snapshot.summary(),
            "kinds": dict(sorted(snapshot.kinds.items())),
            "ignored_kinds": dict(sorted(snapshot.unknown_kinds.items())),
            "problems": [finding_dict(f) for f in problems],
        }
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(render_problems(problems), nl=False)
        summary = ", ".join(f"{v} {k}" for k, v in snapshot.summary().items() if v)
        click.echo(f"read: {summary or 'nothing'}")
    if any(f.severity is Severity.ERROR for f in problems):
        raise SystemExit(ExitCode.USAGE)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: every library error becomes one sentence and exit code 2."""
    try:
        cli.main(args=argv, prog_name="netpol-doctor", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return ExitCode.USAGE
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE
    except NetpolDoctorError as exc:
        click.echo(f"netpol-doctor: {exc}", err=True)
        return ExitCode.USAGE
    except BrokenPipeError:
        return ExitCode.ALLOWED
    return ExitCode.ALLOWED
