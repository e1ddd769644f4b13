"""`netpol-doctor triage`: from a NotReady alert (Alertmanager webhook payload, file or
stdin) or `--pod` / `--service`, to a checklist of the pod's network needs, the first
failing one leading with its fix. Read-only, like every command but `probe`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..analysis.triage import Triage, triage_pod, triage_service
from ..engine import Verdict
from ..errors import NetpolDoctorError
from ..inputs.alerts import AlertTarget, parse_alerts
from ..render.triage import render_triage_markdown, render_triage_text, triage_dict

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
def triage(
    payload: str | None,
    pod: str | None,
    service: str | None,
    output: str,
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    cni: str | None,
) -> None:
    """Is NetworkPolicy why a pod or Service is NotReady? Checks the readiness probe's
    ingress from the node, DNS, the API server, the Services its env names, and its
    clients' ingress, each as `diagnose` does; the first failing item leads.

    Exit code: 0 policy is not the cause, 1 it is, 3 cannot tell, 2 bad input.
    """
    from .. import cli as c
    from ..live import Scope, collect, to_snapshot
    from ..live_client import Limits

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
    results: list[Triage] = []
    for t in targets:
        run = triage_pod if t.kind == "pod" else triage_service
        results.append(run(snapshot, t.key, info, t.alert or None))
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
