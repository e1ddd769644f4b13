"""The command line: options -> library calls -> renderer -> exit code.

The only module that knows about terminals, flags and exit codes:
0 allowed, 1 denied, 3 unknown, 2 usage or input error.

Each command imports the library it runs inside its function, and option choices
the library names are read when click needs them: a command pays at start-up for
its own modules only, never numpy, the kubernetes client or the MCP SDK when it
does not use them (tests/test_startup.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from enum import IntEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .errors import NetpolDoctorError

if TYPE_CHECKING:
    from .cni import CniInfo
    from .engine import Verdict
    from .findings import Finding
    from .live import Collection, Scope
    from .model import IPNetwork, Protocol
    from .snapshot import Snapshot

__all__ = ["ExitCode", "main"]


class ExitCode(IntEnum):
    ALLOWED = 0
    DENIED = 1
    USAGE = 2
    UNKNOWN = 3
    #: stdout's reader left (`| head -1`): what a shell reports for a command killed
    #: by SIGPIPE (128 + 13), as other tools are
    BROKEN_PIPE = 141


_GRID_LIMIT = 120

#: A verdict's exit code, by the verdict's value (keyed so, the engine is not imported here).
_VERDICT_EXIT = {
    "allowed": ExitCode.ALLOWED,
    "denied": ExitCode.DENIED,
    "unknown": ExitCode.UNKNOWN,
}


def _verdict_exit(verdict: Verdict) -> ExitCode:
    return _VERDICT_EXIT[verdict.value]


F = TypeVar("F", bound=Callable[..., Any])


if TYPE_CHECKING:
    _StrChoice = click.Choice[str]
else:
    _StrChoice = click.Choice  # generic from click 8.2 on; 8.1 is supported


class _LibraryChoice(_StrChoice):
    """A choice of names the library owns (CNI profiles, symptoms), read from it when
    click first needs them (help, a given value), not when the commands are defined."""

    def __init__(self, names: Callable[[], Sequence[str]]) -> None:
        self._names = names
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self._names())

    @choices.setter
    def choices(self, _value: Sequence[str]) -> None:
        pass  # click.Choice.__init__ stores its (empty) argument: the names come from _names


@cache
def _cni_names() -> tuple[str, ...]:
    from .cni import KNOWN_CNIS

    return tuple(p.name for p in KNOWN_CNIS)


@cache
def _symptom_names() -> tuple[str, ...]:
    from .diagnose import Symptom

    return tuple(s.value for s in Symptom)


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "": 1.0}


def _remember_seconds(ctx: click.Context, param: click.Parameter, value: str) -> None:
    """A duration as kubectl writes it (30, 30s, 2m, 500ms), kept off the command
    signatures: only `_collect` needs it."""
    number = value.strip().rstrip("ms")
    try:
        seconds = float(number) * _UNITS[value.strip()[len(number) :]]
    except (ValueError, KeyError):
        raise click.BadParameter(
            f"{value!r} is not a duration (write 30, 30s, 2m or 500ms)"
        ) from None
    if not 0 < seconds < float("inf"):
        raise click.BadParameter(f"{value!r}: give a duration above zero")
    ctx.meta[f"live.{param.name}"] = seconds


#: Bounds on a live read (no effect with --snapshot); see README "A live cluster".
_LIVE_LIMITS = [
    click.option(
        "--read-deadline",
        default="60s",
        show_default=True,
        expose_value=False,
        callback=_remember_seconds,
        help="Give up a live read that has not finished after this long (exit 2).",
    ),
    click.option(
        "--request-timeout",
        default="30s",
        show_default=True,
        expose_value=False,
        callback=_remember_seconds,
        help="Wall-clock limit for one API request, retried while the deadline allows.",
    ),
]


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
            "--kubeconfig",
            type=click.Path(dir_okay=False),
            default=None,
            help="Kubeconfig for a live read (default: $KUBECONFIG, ~/.kube/config, in-cluster).",
        ),
        click.option("--context", default=None, help="Kubeconfig context for a live read."),
        click.option(
            "--cni",
            type=_LibraryChoice(_cni_names),
            default=None,
            help="The network plugin, when it cannot be detected from the input.",
        ),
        click.option(
            "--color/--no-color",
            default=None,
            help="Colour the text output (default: when stdout is a terminal).",
        ),
        *_LIVE_LIMITS,
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _scope_for(*specs: str) -> Scope:
    """The namespaces a live read needs for these question endpoints; None: all."""
    from .live import Scope

    namespaces: set[str] = set()
    for spec in specs:
        if spec in ("dns", "apiserver"):
            continue  # kube-system and default are always read
        head, _, rest = spec.partition("/")
        if head in ("ip", "node") or spec == "*":
            return Scope(None)  # an address may be any pod's
        if head in ("svc", "service"):
            head, _, rest = rest.partition("/")
        elif ".svc" in spec and "/" not in spec:
            head = spec.split(".")[1]
        if "/" in spec or ".svc" in spec:
            namespaces.add(head)
    return Scope(frozenset(namespaces))


def _load(
    snapshots: tuple[str, ...],
    kubeconfig: str | None = None,
    context: str | None = None,
    scope: Scope | None = None,
) -> Snapshot:
    """Read --snapshot paths, or else the cluster (`scope`: the namespaces to read)."""
    if snapshots:
        from .snapshot import load_snapshot

        # A one-shot process: what was loaded lives to the end, so no collection need
        # walk it (a library caller keeps the collector's default behaviour).
        return load_snapshot(snapshots, keep=True)
    from .live import Scope, to_snapshot

    collection = _collect(kubeconfig, context, scope or Scope(None))
    return to_snapshot(collection)


def _collect(kubeconfig: str | None, context: str | None, scope: Scope) -> Collection:
    """Read the cluster; on a terminal, show progress once it takes over a second."""
    import threading

    from .live import Limits, collect

    meta = click.get_current_context().meta
    limits = Limits(meta["live.read_deadline"], meta["live.request_timeout"])
    if not sys.stderr.isatty():
        return collect(scope, kubeconfig, context, limits=limits)
    from rich.console import Console

    console = Console(stderr=True)
    status = console.status("reading the cluster")
    timer = threading.Timer(1.0, status.start)
    timer.start()
    try:
        return collect(
            scope, kubeconfig, context, progress=lambda m: status.update(m), limits=limits
        )
    finally:
        timer.cancel()
        status.stop()


def _cni(snapshot: Snapshot, name: str | None) -> CniInfo:
    from .cni import CniInfo, detect_cni, profile_named

    if name is None:
        return detect_cni(snapshot)
    return CniInfo(profile_named(name), forced=True)


def _report_problems(snapshot: Snapshot) -> list[Finding]:
    """Input problems go to stderr whatever the output format (JSON carries them too),
    so a broken input is never silent; returns them."""
    from .findings import Severity
    from .render.text import render_problems

    shown = [f for f in snapshot.problems if f.severity is not Severity.INFO]
    if shown:
        click.echo(render_problems(shown), err=True, nl=False)
    return shown


def _use_color(color: bool | None) -> bool:
    if color is not None:
        return color
    # https://no-color.org: an empty NO_COLOR does not count
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


_PORT_WORDS = (
    "a port number 1-65535 or a port name (1-15 of a-z, 0-9 and '-', with a letter, "
    "no '-' at either end or twice in a row)"
)


def _shown(text: str) -> str:
    # A pasted 5,000-digit number or a whole file should not become a 5,000-column error.
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _port_number(text: str) -> int | None:
    """`text` as a port number 1-65535; None when it is not ASCII digits at all."""
    if not (text.isascii() and text.isdigit()):
        return None  # "²".isdigit() is true, and int() would refuse it
    digits = text.lstrip("0")
    # int() refuses more than 4,300 digits: look at the length first.
    if len(digits) > 5 or not 1 <= int(digits or "0") <= 65535:
        raise click.BadParameter(f"{_shown(text)} is out of range 1-65535")
    return int(digits)


def _parse_port(value: str) -> int | str:
    """A number, or a name as Kubernetes' IsValidPortName accepts it (what a
    containerPort may be called), so a typo or a shell fragment is not looked up."""
    from .validation import valid_port_name

    number = _port_number(value)
    if number is not None:
        return number
    if not valid_port_name(value):
        raise click.BadParameter(f"{_shown(value)} is not {_PORT_WORDS}")
    return value


def _port_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    """--port of diagnose: a number or a port name."""
    return None if value is None else _parse_port(value)


def _port_number_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    """--port of matrix: a number only (it computes one table per port number)."""
    if value is None:
        return None
    number = _port_number(value)
    if number is None:
        raise click.BadParameter(f"{_shown(value)} is not a port number 1-65535")
    return number


def _protocol(value: str) -> Protocol:
    from .model import Protocol

    try:
        return Protocol(value.upper())
    except ValueError:
        raise click.BadParameter(f"{value!r}: use TCP, UDP, SCTP or ICMP") from None


class _ReaderGone(Exception):
    """stdout's reader left (`| head -1`): not an error, nothing to say."""


class _Commands(click.Group):
    # click turns EPIPE into exit 1 before main() sees it, and 1 means "denied".

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:  # --help and --version print while the arguments are parsed
            return super().make_context(*args, **kwargs)
        except BrokenPipeError as exc:
            raise _ReaderGone from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise _ReaderGone from exc


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="netpol-doctor")
def cli() -> None:
    """Explain why Kubernetes NetworkPolicy blocks (or allows) traffic. Read-only."""


@cli.command("diagnose")
@click.argument("source")
@click.argument("destination")
@click.option(
    "--port",
    "-p",
    metavar="PORT",
    callback=_port_option,
    default=None,
    help="Destination port: a number or a port name (not needed for `dns`, `apiserver`).",
)
@click.option(
    "--protocol", default="TCP", show_default=True, help="TCP, UDP, SCTP, or ICMP (ping)."
)
@click.option(
    "--symptom",
    type=_LibraryChoice(_symptom_names),
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
    port: int | str | None,
    protocol: str,
    symptom: str | None,
    namespace: str,
    output: str,
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
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
    from .diagnose import Symptom, diagnose

    scope = None if snapshots else _scope_for(source, destination)
    snapshot = _load(snapshots, kubeconfig, context, scope)
    icmp = protocol.upper() == "ICMP"
    if port is None and destination not in ("dns", "apiserver") and not icmp:
        raise click.UsageError("--port is required (except for the dns and apiserver checks)")
    diag = diagnose(
        snapshot,
        source,
        destination,
        port,
        _protocol(protocol),
        namespace=namespace,
        cni=_cni(snapshot, cni),
        symptom=Symptom(symptom) if symptom else None,
    )
    problems = _report_problems(snapshot)
    if output == "json":
        from .render.structured import diagnosis_dict

        click.echo(json.dumps(diagnosis_dict(diag, problems), indent=2))
    elif output == "markdown":
        from .render.markdown import render_diagnosis_markdown

        click.echo(render_diagnosis_markdown(diag, problems), nl=False)
    else:
        from .render.text import render_diagnosis

        use = _use_color(color)
        click.echo(render_diagnosis(diag, use), nl=False, color=use)
    raise SystemExit(_verdict_exit(diag.verdict))


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
    kubeconfig: str | None,
    context: str | None,
    cni: str | None,
    color: bool | None,
) -> None:
    """Which policies select POD, per direction, and what they admit."""
    from .podinfo import pod_view
    from .render.structured import pod_dict
    from .render.text import render_pod
    from .targets import resolve

    scope = None if snapshots else _scope_for(pod if "/" in pod else f"{namespace}/{pod}")
    snapshot = _load(snapshots, kubeconfig, context, scope)
    target = resolve(snapshot, pod, namespace=namespace)
    views = [pod_view(snapshot, m.endpoint.pod) for m in target.members if m.endpoint.pod]
    if not views:
        raise NetpolDoctorError(f"{pod} is not a pod")
    _report_problems(snapshot)
    if output == "json":
        click.echo(json.dumps([pod_dict(v) for v in views], indent=2))
        return
    use = _use_color(color)
    click.echo("\n".join(render_pod(v, use) for v in views), nl=False, color=use)


@cli.command("matrix")
@click.option("--namespace", "-n", "namespaces", multiple=True, help="Limit to these; repeatable.")
@click.option(
    "--port",
    "-p",
    metavar="NUMBER",
    callback=_port_number_option,
    default=None,
    help="Destination port, 1-65535.",
)
@click.option("--protocol", default="TCP", show_default=True)
@click.option(
    "--all-ports",
    is_flag=True,
    help="Every port any pod declares or any rule names, summarised per pair.",
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json", "csv", "summary", "markdown", "dot", "mermaid"]),
    default="text",
    show_default=True,
    help="text: a grid (summary above 120 pods); summary: counts per namespace pair; "
    "markdown, dot, mermaid: the graph (with --by workload, or --by pod --all-ports).",
)
@click.option(
    "--by",
    type=click.Choice(["pod", "workload"]),
    default="pod",
    show_default=True,
    help="workload: rows are workloads and address blocks, cells the allowed ports.",
)
@_common
def matrix_cmd(
    namespaces: tuple[str, ...],
    port: int | None,
    protocol: str,
    all_ports: bool,
    output: str,
    by: str,
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    cni: str | None,
    color: bool | None,
) -> None:
    """The allowed/denied table for every pod pair in scope, on one port (or all)."""
    if by == "workload" or output in ("markdown", "dot", "mermaid"):
        from .shells.matrix_by import grouped_matrix

        grouped_matrix(by, namespaces, port, all_ports, output, snapshots, kubeconfig, context, cni)
        return
    if port is None and not all_ports:
        raise click.UsageError("give --port P, or --all-ports")
    if all_ports and output == "csv":
        raise click.UsageError("--all-ports prints json, text or summary")
    from .live import Scope
    from .matrix import compute_matrix, compute_port_sweep
    from .render.matrixout import (
        iter_csv,
        iter_json,
        iter_sweep_json,
        render_summary,
        render_sweep_summary,
    )
    from .render.structured import finding_dict
    from .render.text import render_matrix

    proto = _protocol(protocol)
    scope = Scope(frozenset(namespaces)) if namespaces else Scope(None)
    snapshot = _load(snapshots, kubeconfig, context, scope)
    problems = [finding_dict(f) for f in _report_problems(snapshot)]
    if all_ports:
        sw = compute_port_sweep(snapshot, namespaces, _cni(snapshot, cni))
        if output == "json":
            for chunk in iter_sweep_json(sw, problems):
                sys.stdout.write(chunk)
            sys.stdout.flush()
            return
        click.echo(render_sweep_summary(sw), nl=False)
        return
    assert port is not None
    m = compute_matrix(snapshot, port, proto, namespaces, _cni(snapshot, cni))
    if output in ("json", "csv"):
        chunks = iter_json(m, problems) if output == "json" else iter_csv(m)
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    if output == "summary" or len(m.pods) > _GRID_LIMIT:
        click.echo(render_summary(m), nl=False)
        return

    use = _use_color(color)
    click.echo(render_matrix(m, use), nl=False, color=use)


@cli.command("check")
@_common
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text")
def check_cmd(
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    cni: str | None,
    color: bool | None,
    output: str,
) -> None:
    """Read the input and report every problem in it (exit 2 if any is an error)."""
    from .analysis.words import plural
    from .findings import Severity
    from .render.structured import finding_dict
    from .render.text import render_problems

    snapshot = _load(snapshots, kubeconfig, context)
    problems = snapshot.problems
    if output == "json":
        _report_problems(snapshot)  # exit 2 with nothing on stderr would help nobody
        data: dict[str, Any] = {
            "summary": snapshot.summary(),
            "kinds": dict(sorted(snapshot.kinds.items())),
            "ignored_kinds": dict(sorted(snapshot.unknown_kinds.items())),
            "problems": [finding_dict(f) for f in problems],
        }
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(render_problems(problems), nl=False)
        summary = ", ".join(
            plural(v, _SINGULAR.get(k, k), _WORDS.get(k, k))
            for k, v in snapshot.summary().items()
            if v
        )
        click.echo(f"read: {summary or 'nothing'}")
    if any(f.severity is Severity.ERROR for f in problems):
        raise SystemExit(ExitCode.USAGE)


#: `check`'s summary keys (JSON) as words.
_WORDS = {
    "services": "Services",
    "template_pods": "template pods",
    "networkpolicies": "NetworkPolicies",
    "rejected_networkpolicies": "rejected NetworkPolicies",
    "extended_policies": "other policy objects",
    "ignored_objects": "ignored objects",
}
_SINGULAR = {
    "namespaces": "namespace",
    "pods": "pod",
    "template_pods": "template pod",
    "services": "Service",
    "networkpolicies": "NetworkPolicy",
    "rejected_networkpolicies": "rejected NetworkPolicy",
    "nodes": "node",
    "extended_policies": "other policy object",
    "events": "event",
    "ignored_objects": "ignored object",
}


@cli.command("lint")
@click.option("--ignore", "ignore", multiple=True, help="A rule id to skip; repeatable.")
@click.option("--enable", "enable", multiple=True, help="An off-by-default rule to run.")
@click.option("--pod-cidr", "pod_cidrs", multiple=True, help="The cluster's pod CIDR(s).")
@click.option("--service-cidr", "service_cidrs", multiple=True, help="The Service CIDR(s).")
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info"]),
    default="error",
    show_default=True,
    help="Exit 1 when a finding is at least this severe.",
)
@click.option("--output", "-o", type=click.Choice(["text", "json", "sarif"]), default="text")
@_common
def lint_cmd(
    ignore: tuple[str, ...],
    enable: tuple[str, ...],
    pod_cidrs: tuple[str, ...],
    service_cidrs: tuple[str, ...],
    fail_on: str,
    output: str,
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    cni: str | None,
    color: bool | None,
) -> None:
    """Check policies before they merge: documented rules (docs/lint/), text, JSON or
    SARIF for code scanning. Exit 1 on a finding at --fail-on or worse, 2 on bad input.
    Suppress per object with the annotation netpol-doctor.io/ignore: "id,id"."""
    from .lint import RULES, LintOptions, lint

    known = {r.id for r in RULES}
    for rule_id in (*ignore, *enable):
        if rule_id not in known:
            raise click.BadParameter(f"{rule_id!r} is not a lint rule (see docs/lint/)")
    options = LintOptions(
        ignore=frozenset(ignore),
        enable=frozenset(enable),
        pod_cidrs=tuple(_cidr(c) for c in pod_cidrs),
        service_cidrs=tuple(_cidr(c) for c in service_cidrs),
        cni=cni,
    )
    snapshot = _load(snapshots, kubeconfig, context)
    report_lint(snapshot, lint(snapshot, options), output, fail_on)


def report_lint(
    snapshot: Snapshot,
    findings: list[Finding],
    output: str,
    fail_on: str,
    read_from: dict[str, Any] | None = None,
    heading: str | None = None,
) -> None:
    """Print lint's findings and the input's problems in `output` and exit as lint does
    (2 when the input could not all be read, 1 at `fail_on` or worse). `read_from` and
    `heading`: what the kubectl plugin adds (a JSON field, a first text line)."""
    from .findings import Severity
    from .lint import RULES
    from .render.structured import finding_dict
    from .render.text import render_lint, render_problems

    shared = {"policy-invalid", "policy-warning"}  # lint reports these itself
    problems = [p for p in snapshot.problems if p.id not in shared]
    shown = [p for p in problems if p.severity is not Severity.INFO]
    if shown:  # on stderr whatever the format: exit 2 with nothing said helps nobody
        click.echo(render_problems(shown), err=True, nl=False)
    if output == "sarif":
        from .render.sarif import render_sarif

        click.echo(render_sarif(findings, RULES, base_dir=os.getcwd()))
    elif output == "json":
        counts = {s.value: sum(1 for f in findings if f.severity is s) for s in Severity}
        data: dict[str, Any] = {} if read_from is None else {"read_from": read_from}
        data |= {
            "schema_version": 1,
            "summary": counts,
            "findings": [finding_dict(f) for f in findings],
            "problems": [finding_dict(f) for f in problems],
        }
        click.echo(json.dumps(data, indent=2))
    else:
        if heading is not None:
            click.echo(heading)
        click.echo(render_lint(findings), nl=False)
    if any(p.severity is Severity.ERROR for p in problems):
        raise SystemExit(ExitCode.USAGE)
    threshold = Severity(fail_on).rank
    if any(f.severity.rank <= threshold for f in findings):
        raise SystemExit(ExitCode.DENIED)


def _cidr(text: str) -> IPNetwork:
    from ipaddress import ip_network

    try:
        return ip_network(text, strict=False)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a CIDR") from None


@cli.command("verify")
@click.argument("contract_path", metavar="CONTRACT.yaml", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text")
@_common
def verify_cmd(
    contract_path: str,
    output: str,
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    cni: str | None,
    color: bool | None,
) -> None:
    """Check a connectivity contract: flows that must be allowed or denied.

    Every matching pod pair is checked; a violation prints the pair and the same
    explanation `diagnose` gives. Exit 1 on any violation. Format: docs/contract.md.
    """
    from .contract import load_contract, verify
    from .findings import unread_input
    from .render.changes import contract_dict, render_contract

    contract = load_contract(contract_path)
    snapshot = _load(snapshots, kubeconfig, context)
    problems = _report_problems(snapshot)
    results = verify(snapshot, contract, _cni(snapshot, cni))
    if output == "json":
        click.echo(json.dumps(contract_dict(results, problems), indent=2))
    else:
        use = _use_color(color)
        click.echo(render_contract(results, use), nl=False, color=use)
    if unread_input(problems):
        # A policy in an unread file could decide any flow: nothing is proven.
        click.echo(
            "netpol-doctor: part of the input was not read: the contract is unproven", err=True
        )
        raise SystemExit(ExitCode.USAGE)
    if any(not r.ok for r in results):
        raise SystemExit(ExitCode.DENIED)


@cli.command("diff")
@click.option("--before", "before", required=True, help="Snapshot path, or git:REV:path.")
@click.option("--after", "after", required=True, help="Snapshot path, or git:REV:path.")
@click.option("--namespace", "-n", "namespaces", multiple=True, help="Limit to these; repeatable.")
@click.option(
    "--port",
    "-p",
    "ports",
    multiple=True,
    callback=lambda _ctx, _param, values: [_port_spec(v) for v in values],
    help="PORT or PROTO/PORT; default: all ports.",
)
@click.option("--output", "-o", type=click.Choice(["text", "json", "markdown"]), default="text")
@click.option("--cni", type=_LibraryChoice(_cni_names), default=None)
def diff_cmd(
    before: str,
    after: str,
    namespaces: tuple[str, ...],
    ports: list[tuple[Protocol, int]],
    output: str,
    cni: str | None,
) -> None:
    """Which pod pairs and ports changed verdict between two snapshots, and which
    object changes cause each (biggest blast radius first; markdown: a pull-request
    comment). Exit 0 nothing changed, 1 something changed, 2 a side could not be read
    completely."""
    from .diff import diff_snapshots, load_revision
    from .render.changes import diff_dict, render_diff
    from .render.diffmd import render_diff_markdown
    from .render.text import render_problems

    a, b = load_revision(before), load_revision(after)
    result = diff_snapshots(a, b, namespaces, ports, _cni(b, cni))
    for side, spec, problems in (
        ("before", before, result.problems_before),
        ("after", after, result.problems_after),
    ):
        if problems:
            click.echo(f"--{side} {spec}:", err=True)
            click.echo(render_problems(problems), err=True, nl=False)
    if output == "json":
        click.echo(json.dumps(diff_dict(result), indent=2))
    elif output == "markdown":
        click.echo(render_diff_markdown(result, b), nl=False)
    else:
        click.echo(render_diff(result), nl=False)
    if result.unread_sides:
        raise SystemExit(ExitCode.USAGE)  # "nothing changed" cannot be claimed
    if result.changes:
        raise SystemExit(ExitCode.DENIED)


def _port_spec(text: str) -> tuple[Protocol, int]:
    from .model import Protocol

    proto, _, number = text.rpartition("/")
    port = _port_number(number)
    if port is None:
        raise click.BadParameter(f"{_shown(text)}: write PORT or PROTO/PORT (PORT 1-65535)")
    return (_protocol(proto) if proto else Protocol.TCP), port


@cli.group("snapshot")
def snapshot_group() -> None:
    """Save what a live read sees, for offline analysis and sharing."""


def _writable_directory(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Refuse a DIRECTORY that cannot be created before reading the whole cluster."""
    path = Path(value).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise click.BadParameter(f"{value}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise click.BadParameter(f"{value}: {existing} is not writable")
    return value


@snapshot_group.command("save")
@click.argument("directory", type=click.Path(file_okay=False), callback=_writable_directory)
@click.option("--namespace", "-n", "namespaces", multiple=True, help="Limit to these; repeatable.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None)
@click.option("--context", default=None)
@_LIVE_LIMITS[0]
@_LIVE_LIMITS[1]
def snapshot_save_cmd(
    directory: str, namespaces: tuple[str, ...], kubeconfig: str | None, context: str | None
) -> None:
    """Read the cluster (GET only) and write it to DIRECTORY for --snapshot.

    Secrets and ConfigMaps are never read; env values, last-applied annotations and
    managedFields are removed before writing. Reads that were refused are recorded,
    so offline answers are unknown in the same places.
    """
    from .live import Scope, save

    scope = Scope(frozenset(namespaces)) if namespaces else Scope(None)
    collection = _collect(kubeconfig, context, scope)
    files = save(collection, directory)
    click.echo(
        f"wrote {len(collection.objects)} objects to {directory} ({len(files)} files) "
        f"with {collection.requests} API requests in {collection.seconds:.1f}s"
    )
    for (resource, ns), why in sorted(
        collection.gaps.items(), key=lambda g: (g[0][0], g[0][1] or "")
    ):
        click.echo(f"not readable: {resource} in {ns or 'all namespaces'}: {why}", err=True)


@snapshot_group.command("pack")
@click.argument("output", type=click.Path(dir_okay=False))
@click.option(
    "--snapshot",
    "snapshots",
    multiple=True,
    required=True,
    type=click.Path(exists=True),
    help="Manifests or kubectl dumps to read; repeatable.",
)
def snapshot_pack_cmd(output: str, snapshots: tuple[str, ...]) -> None:
    """Parse manifests once and write them to OUTPUT in the compact format.

    `--snapshot OUTPUT` then loads without parsing the manifests again. The file is
    typed JSON, checked on load: safe to share (docs/compact-format.md). Input
    problems are printed, and kept in the file so every later run reports them too.
    """
    from .compact import save_compact
    from .snapshot import load_snapshot

    snapshot = load_snapshot(snapshots)
    _report_problems(snapshot)
    save_compact(snapshot, output)
    s = snapshot.summary()
    click.echo(f"packed {s['pods']} pods, {s['networkpolicies']} policies into {output}")


# Subcommands in their own modules import the helpers above, so they come after them.
from .shells import flows_cmd, report_cmd, triage_cmd  # noqa: E402
from .shells import probe as probe_cmd  # noqa: E402

cli.add_command(flows_cmd.flows)
cli.add_command(probe_cmd.probe)
cli.add_command(triage_cmd.triage)
cli.add_command(report_cmd.report)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: every library error becomes one sentence and exit code 2."""
    return run_group(cli, argv, "netpol-doctor")


def run_group(group: click.Group, argv: list[str] | None, prog_name: str) -> int:
    """Run a command group (this one, or the kubectl plugin's) with these exit codes."""
    try:
        group.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return ExitCode.USAGE
    except click.BadParameter as exc:
        # The value was given, just wrong: one line; the usage block would bury it.
        click.echo(f"netpol-doctor: {exc.format_message()}", err=True)
        return ExitCode.USAGE
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE
    except NetpolDoctorError as exc:
        click.echo(f"netpol-doctor: {exc}", err=True)
        return ExitCode.USAGE
    except _ReaderGone:
        # Quiet, as other tools. Python would flush the rest at exit and print
        # "Exception ignored": send it nowhere.
        _discard_stdout()
        return ExitCode.BROKEN_PIPE
    except OSError as exc:
        return _output_error(exc)
    return ExitCode.ALLOWED


def _output_error(exc: OSError) -> int:
    """An OSError that reached the top: output (a full disk, a closed pipe, a path
    that cannot be created), since input problems are findings, not exceptions."""
    why = exc.strerror or str(exc)
    if exc.filename is not None:
        where = os.fsdecode(exc.filename)
        if exc.filename2 is not None:
            where += f" -> {os.fsdecode(exc.filename2)}"
    elif _raised_by_our_output(exc):
        where = f"cannot write standard output ({_stdout_path()})"
    else:
        where = "cannot write output"
    with contextlib.suppress(OSError):  # stderr gone too: the exit code is what is left
        click.echo(f"netpol-doctor: {where}: {why}", err=True)
    return ExitCode.USAGE


def _raised_by_our_output(exc: BaseException) -> bool:
    """Whether the write that failed was this module's own printing (click.echo or a
    streamed chunk) rather than a file the library was writing."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_globals.get("__name__") in (__name__, "click.utils")


def _discard_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # not a real file descriptor (a test harness): nothing to flush at exit


def _stdout_path() -> str:
    try:
        return os.readlink(f"/proc/self/fd/{sys.stdout.fileno()}")
    except (OSError, ValueError):
        return "a pipe or file"


from .shells import mcp_server  # noqa: E402  (a subcommand in its own module)

cli.add_command(mcp_server.mcp)
