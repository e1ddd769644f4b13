"""`netpol-doctor triage`: from a NotReady alert (Alertmanager webhook payload, file or
stdin) or `--pod` / `--service`, to a checklist of the pod's network needs, the first
failing one leading with its fix. Read-only, like every command but `probe`.

Every command imports this module (cli.py registers it): the analyses it runs are
imported when it runs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import NetpolDoctorError

if TYPE_CHECKING:
    from ..analysis.triage import Triage
    from ..analysis.triage_evidence import Edge
    from ..inputs.flowlogs import LineProblem
    from ..snapshot import Snapshot

__all__ = ["triage"]


def _key(text: str, what: str) -> str:
    ns, sep, name = text.partition("/")
    if not sep or not ns or not name or "/" in name:
        raise click.BadParameter(f"{text!r}: write {what} as NAMESPACE/NAME")
    return text


@click.command("triage")
@click.argument("payload", required=False, metavar="[ALERTS.json | -]")
@click.option("--pod", "pod", default=None, help="Triage this pod: NS/NAME.")
@click.option("--service", "service", default=None, help="Triage this Service: NS/NAME.")
@click.option("--output", "-o", type=click.Choice(["text", "json", "markdown"]), default="text")
@click.option("--snapshot", "snapshots", multiple=True, type=click.Path(exists=True),
              help="Manifests or kubectl dumps (default: a live read).")  # fmt: skip
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None)
@click.option("--context", default=None)
@click.option("--cni", default=None, help="The network plugin, if it cannot be detected.")
@click.option(
    "--flows",
    "flow_logs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Flow or drop logs (formats as `flows`): who the pod talks to; repeatable.",
)
@click.option(
    "--contract",
    "contracts",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A `verify` contract: its allowed flows to and from the pod; repeatable.",
)
def triage(
    payload: str | None,
    pod: str | None,
    service: str | None,
    output: str,
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    cni: str | None,
    flow_logs: tuple[str, ...],
    contracts: tuple[str, ...],
) -> None:
    """Is NetworkPolicy why a pod or Service is NotReady? Checks the readiness probe's
    ingress from the node, DNS, the API server, the Services its env names, and its
    clients' ingress, each as `diagnose` does; the first failing item leads.

    With --flows and --contract, the traffic a log recorded (forwarded or dropped) and
    the flows a contract allows, to and from the pod's workload, are checked too.

    Exit code: 0 policy is not the cause, 1 it is, 3 cannot tell, 2 bad input.
    """
    from .. import cli as c
    from ..analysis.triage import triage_pod, triage_service
    from ..engine import Verdict
    from ..inputs.alerts import AlertTarget, parse_alerts
    from ..live import Scope, collect, to_snapshot
    from ..live_client import Limits
    from ..render.triage import render_triage_markdown, render_triage_text, triage_dict

    given = sum(x is not None for x in (payload, pod, service))
    if given != 1:
        raise click.UsageError("give one of: an alert payload (file or -), --pod, --service")
    if payload is not None:
        where = "stdin" if payload == "-" else payload
        try:
            text = sys.stdin.read() if payload == "-" else Path(payload).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise NetpolDoctorError(f"{where}: cannot read ({exc})") from None
        targets = parse_alerts(text, where)
    elif pod is not None:
        targets = [AlertTarget("pod", _key(pod, "--pod"), "")]
    else:
        assert service is not None
        targets = [AlertTarget("service", _key(service, "--service"), "")]
    if snapshots:
        snapshot = c._load(snapshots)
    else:
        scope = Scope(None)  # clients and DNS live in other namespaces
        snapshot = to_snapshot(collect(scope, kubeconfig, context, limits=Limits(60.0, 30.0)))
    c._report_problems(snapshot)
    info = c._cni(snapshot, cni)
    edges = _evidence(snapshot, flow_logs, contracts)
    results: list[Triage] = []
    for t in targets:
        run = triage_pod if t.kind == "pod" else triage_service
        results.append(run(snapshot, t.key, info, t.alert or None, edges))
    if output == "json":
        click.echo(json.dumps(triage_dict(results), indent=2))
    else:
        render = render_triage_markdown if output == "markdown" else render_triage_text
        click.echo("\n".join(render(t) for t in results), nl=False)
    verdicts = {t.verdict for t in results}
    if Verdict.DENIED in verdicts:
        raise SystemExit(c.ExitCode.DENIED)
    if Verdict.UNKNOWN in verdicts:
        raise SystemExit(c.ExitCode.UNKNOWN)


def _evidence(snapshot: Snapshot, logs: tuple[str, ...], contracts: tuple[str, ...]) -> list[Edge]:
    """Edges from the logs (read a line at a time; malformed lines are counted on
    stderr, the rest is used) and from the contracts."""
    from ..analysis.triage_evidence import edges_from_contract, edges_from_flows
    from ..contract import load_contract
    from ..inputs.flowlogs import read_records

    edges: list[Edge] = []
    for path in logs:
        bad = _Malformed()
        with open(path, "rb") as f:
            edges += edges_from_flows(snapshot, bad.skip(read_records(f)))
        if bad.first is not None:
            lines = "line is" if bad.count == 1 else "lines are"
            at = f" (line {bad.first.line}: {bad.first.message})" if bad.first.line else ""
            click.echo(
                f"netpol-doctor: {path}: {bad.count} {lines} not flow records{at}; skipped",
                err=True,
            )
    for path in contracts:
        edges += edges_from_contract(snapshot, load_contract(path))
    return edges


@dataclass
class _Malformed:
    """Lines of a log that are not records: counted, the first kept for the message."""

    count: int = 0
    first: LineProblem | None = None

    def skip(self, items: Iterable[object]) -> Iterator[object]:
        from ..inputs.flowlogs import LineProblem

        for item in items:
            if isinstance(item, LineProblem):
                self.count += 1
                self.first = self.first or item
                continue
            yield item
