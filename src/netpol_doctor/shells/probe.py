"""`netpol-doctor probe`: the one command that acts on a cluster, and only when run.

It runs the connectivity test a diagnosis prints from inside the source pod through the
Kubernetes exec API (pods/exec, the official client's WebSocket stream), reads what
happened, and compares it with the verdict the policies predict
(analysis/probe_compare.py). Everything else in netpol-doctor only reads.

Safety: `--dry-run` prints the exec calls and makes none; a hostNetwork source is
refused unless `--allow-host-network` (its test would leave from the node, not from a
pod, and say nothing about pod policy); each command is bounded by `--timeout`.

Every command imports this module (cli.py registers it): the analyses it runs are
imported when it runs.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from ..errors import NetpolDoctorError

if TYPE_CHECKING:
    from ..analysis.probe_compare import Outcome
    from ..analysis.probe_plan import Planned, Result
    from ..findings import Finding
    from ..model import Pod, Protocol

__all__ = ["ExecCall", "ExecReply", "probe", "probe_pair", "run_plan"]

#: tried in this order: nc speaks UDP too and says why it failed; bash needs timeout(1)
TOOLS = ("nc", "bash", "curl", "wget")
_LOOKUP = ("nc", "bash", "timeout", "curl", "wget")


@dataclass(frozen=True, slots=True)
class ExecCall:
    namespace: str
    pod: str
    container: str | None
    argv: tuple[str, ...]

    def kubectl(self) -> str:
        """The same call as a kubectl line, for --dry-run and the report."""
        words = ["kubectl", "exec", "-n", self.namespace, self.pod]
        if self.container:
            words += ["-c", self.container]
        return " ".join(shlex.quote(w) for w in [*words, "--", *self.argv])


@dataclass(frozen=True, slots=True)
class ExecReply:
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None  # None: the command did not run (see failure)
    failure: str | None = None
    forbidden: bool = False


Runner = Callable[[ExecCall], ExecReply]


def kube_runner(api_client: Any, seconds: float) -> Runner:
    """Exec through the API server: GET .../pods/NAME/exec upgraded to a WebSocket
    (channel protocol v5/v4); the final status arrives on channel 3."""
    import websocket
    from kubernetes import client
    from kubernetes.stream import stream

    # ws_client builds its WebSocket with the library's default timeout (None: a server
    # that never answers the upgrade would hang the command)
    websocket.setdefaulttimeout(seconds + 10)
    core = client.CoreV1Api(api_client)

    def run(call: ExecCall) -> ExecReply:
        kwargs: dict[str, Any] = {"command": list(call.argv), "stdin": False, "tty": False}
        kwargs |= {"stdout": True, "stderr": True, "_preload_content": False}
        if call.container:
            kwargs["container"] = call.container
        try:
            ws = stream(core.connect_get_namespaced_pod_exec, call.pod, call.namespace, **kwargs)
        except Exception as exc:  # the client wraps every handshake failure in ApiException
            text = str(getattr(exc, "reason", None) or exc)  # ApiException(0, reason=...)
            if "403" in text or "401" in text:
                return ExecReply(failure=f"exec refused: {_first_line(text)}", forbidden=True)
            return ExecReply(failure=f"exec failed: {_first_line(text)}")
        try:
            ws.run_forever(timeout=seconds + 10)
            if ws.is_open():
                return ExecReply(failure=f"the command did not finish within {seconds + 10:g} s")
            out, err, status = ws.read_stdout(), ws.read_stderr(), ws.read_channel(3)
        finally:
            ws.close()
        return _reply(out, err, status)

    return run


def _reply(out: str, err: str, status_text: str) -> ExecReply:
    """Channel 3's Status: Success, NonZeroExitCode with the code in
    details.causes[reason=ExitCode], or a failure to start (no such executable)."""
    try:
        status = json.loads(status_text) if status_text.strip() else {}
    except ValueError:
        status = {}
    if not isinstance(status, dict) or not status:
        return ExecReply(out, err, failure="no exit status came back")
    if status.get("status") == "Success":
        return ExecReply(out, err, 0)
    causes = (status.get("details") or {}).get("causes") or []
    for cause in causes:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            try:
                return ExecReply(out, err, int(cause.get("message", "")))
            except ValueError:
                break
    return ExecReply(out, err, failure=_first_line(str(status.get("message") or status)))


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]


def find_tools(run: Runner, pod: Pod, container: str | None) -> tuple[set[str], str]:
    """Which test tools the container has (one `command -v`), and what went wrong."""
    reply = run(ExecCall(pod.namespace, pod.name, container, ("sh", "-c", _lookup_script())))
    if reply.forbidden:
        return set(), reply.failure or "exec refused"
    if reply.exit_code is None:
        return set(), f"no shell to look for tools with ({reply.failure})"
    found = {line.rsplit("/", 1)[-1].strip() for line in reply.stdout.splitlines()}
    return found & set(_LOOKUP), ""


def _lookup_script() -> str:
    return "command -v " + " ".join(_LOOKUP)


def connect_argv(
    tool: str, host: str, port: int, protocol: Protocol, seconds: int
) -> tuple[str, ...] | None:
    """The connect-only command for one tool; None when the tool cannot test this."""
    from ..model import Protocol

    w = str(seconds)
    addr = f"[{host}]" if ":" in host else host
    if protocol is Protocol.UDP:
        return ("nc", "-z", "-u", "-w", w, host, str(port)) if tool == "nc" else None
    if tool == "nc":
        return ("nc", "-z", "-w", w, host, str(port))
    if tool == "bash":  # bash has no connect timeout of its own
        return ("timeout", w, "bash", "-c", f"exec 3<>/dev/tcp/{host}/{port}")
    if tool == "curl":
        return ("curl", "-sS", "-o", "/dev/null", "--connect-timeout", w, "--max-time",
                str(seconds * 2), f"http://{addr}:{port}/")  # fmt: skip
    if tool == "wget":
        return ("wget", "-q", "-O", "/dev/null", "-T", w, f"http://{addr}:{port}/")
    return None


def probe_pair(
    run: Runner,
    pod: Pod,
    container: str | None,
    host: str,
    port: int,
    protocol: Protocol,
    seconds: int,
) -> tuple[Outcome, list[ExecCall]]:
    """Look for a tool, run one connect test with it; the outcome and the calls made."""
    from ..analysis.probe_compare import Observed, Outcome, classify
    from ..model import Protocol

    calls: list[ExecCall] = []

    def traced(call: ExecCall) -> ExecReply:
        calls.append(call)
        return run(call)

    tools, why = find_tools(traced, pod, container)
    if why:
        forbidden = "refused" in why
        return Outcome(Observed.FORBIDDEN if forbidden else Observed.NO_TOOL, detail=why), calls
    usable = [t for t in TOOLS if t in tools and (t != "bash" or "timeout" in tools)]
    for tool in usable:
        argv = connect_argv(tool, host, port, protocol, seconds)
        if argv is None:
            continue
        reply = traced(ExecCall(pod.namespace, pod.name, container, argv))
        if reply.forbidden:
            return Outcome(Observed.FORBIDDEN, tool, detail=reply.failure or ""), calls
        if reply.exit_code is None:
            return Outcome(Observed.ERROR, tool, detail=reply.failure or ""), calls
        return classify(tool, protocol, reply.exit_code, reply.stderr), calls
    what = "nc (the only one that tests UDP)" if protocol is Protocol.UDP else ", ".join(TOOLS)
    return Outcome(Observed.NO_TOOL, detail=f"none of {what} in the container"), calls


def run_plan(
    plan: Iterable[Planned],
    run: Runner,
    container: str | None,
    protocol: Protocol,
    seconds: int,
    explain: Callable[[Planned], tuple[Finding, ...]],
) -> list[Result]:
    from ..analysis.probe_compare import Agreement, compare
    from ..analysis.probe_plan import Result

    results = []
    for p in plan:
        outcome, calls = probe_pair(run, p.source, container, p.host, p.port, protocol, seconds)
        flow = f"{p.source.key} -> {p.destination} ({p.host}:{p.port}/{protocol.value})"
        comparison = compare(p.predicted, outcome, protocol, flow)
        why = explain(p) if comparison.agreement is Agreement.MISMATCH else ()
        results.append(Result(p, comparison, tuple(c.kubectl() for c in calls), why))
    return results


def dry_run_calls(
    plan: Iterable[Planned], container: str | None, protocol: Protocol, seconds: int
) -> list[str]:
    lines = []
    for p in plan:
        look = ExecCall(
            p.source.namespace, p.source.name, container, ("sh", "-c", _lookup_script())
        )
        lines.append(look.kubectl())
        for tool in TOOLS:
            argv = connect_argv(tool, p.host, p.port, protocol, seconds)
            if argv is not None:
                call = ExecCall(p.source.namespace, p.source.name, container, argv)
                lines.append(f"  then, if {tool} is there: {call.kubectl()}")
    return lines


def refuse_host_network(plan: list[Planned], allow: bool) -> None:
    hosts = sorted({p.source.key for p in plan if p.source.host_network})
    if hosts and not allow:
        raise NetpolDoctorError(
            f"{', '.join(hosts)} uses hostNetwork: a test from it leaves from the node, not "
            "a pod, and runs in the node's network namespace; pass --allow-host-network to "
            "run it anyway"
        )


# ---------------------------------------------------------------- the command


@click.command("probe")
@click.argument("endpoints", nargs=-1, metavar="[SOURCE DESTINATION]")
@click.option("--port", "-p", "port_text", metavar="PORT", default=None, help="Destination port.")
@click.option("--protocol", default="TCP", show_default=True, help="TCP or UDP.")
@click.option("--namespace", "-n", default="default", show_default=True)
@click.option("--container", "-c", default=None, help="Container of the source pod to exec in.")
@click.option("--timeout", "seconds", type=click.IntRange(1, 30), default=3, show_default=True,
              help="Seconds each connect test may wait.")  # fmt: skip
@click.option("--matrix", is_flag=True, help="One pair per class pair in --namespace.")
@click.option("--max-pairs", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--dry-run", is_flag=True, help="Print the exec calls; make none.")
@click.option("--allow-host-network", is_flag=True, help="Also exec in hostNetwork sources.")
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--snapshot",
    "snapshots",
    multiple=True,
    type=click.Path(exists=True),
    help="Predict from these files, not a live read (the exec is still live).",
)
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None)
@click.option("--context", default=None)
@click.option("--cni", default=None, help="The network plugin, if it cannot be detected.")
def probe(
    endpoints: tuple[str, ...],
    port_text: str | None,
    protocol: str,
    namespace: str,
    container: str | None,
    seconds: int,
    matrix: bool,
    max_pairs: int,
    dry_run: bool,
    allow_host_network: bool,
    output: str,
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    cni: str | None,
) -> None:
    """Run the connectivity test from inside SOURCE (pods/exec) and compare with the
    predicted verdict. The only command that acts on the cluster.

    Exit code: 0 every test agrees, 1 a mismatch, 3 a result could not be told.
    Needs RBAC `create` (and, before Kubernetes 1.35, `get`) on pods/exec.
    """
    from .. import cli as c
    from ..analysis.probe_compare import Agreement
    from ..analysis.probe_plan import plan_matrix, plan_single
    from ..diagnose import diagnose
    from ..live_client import Limits
    from ..model import Protocol
    from ..render.probe import render_results, results_dict

    proto = c._protocol(protocol)
    if proto not in (Protocol.TCP, Protocol.UDP):
        raise click.BadParameter("probe tests TCP or UDP")
    if port_text is None:
        raise click.UsageError("--port is required")
    if matrix == bool(endpoints) or (endpoints and len(endpoints) != 2):
        raise click.UsageError("give SOURCE and DESTINATION, or --matrix")
    limits = Limits(60.0, 30.0)
    if snapshots:
        snapshot = c._load(snapshots)
    else:
        from ..live import Scope, collect, to_snapshot

        scope = Scope(frozenset({namespace})) if matrix else c._scope_for(*endpoints)
        snapshot = to_snapshot(collect(scope, kubeconfig, context, limits=limits))
    info = c._cni(snapshot, cni)
    if matrix:
        number = c._port_number(port_text)
        if number is None:
            raise click.BadParameter("--matrix needs a port number")
        plan = plan_matrix(snapshot, namespace, number, proto, max_pairs, info)
    else:
        plan, _ = plan_single(
            snapshot, endpoints[0], endpoints[1], c._parse_port(port_text), proto, namespace,
            max_pairs, info,
        )  # fmt: skip
    if not plan:
        raise NetpolDoctorError("nothing to probe: no running source pod with a destination IP")
    refuse_host_network(plan, allow_host_network)
    if dry_run:
        click.echo("\n".join(dry_run_calls(plan, container, proto, seconds)))
        return
    from ..live_client import ReadClock, make_client

    api_client, _, _ = make_client(kubeconfig, context, ReadClock(limits))

    def explain(p: Planned) -> tuple[Finding, ...]:
        diag = diagnose(snapshot, p.question[0], p.question[1], p.port, proto, cni=info)
        return tuple(f for f in diag.findings if diag.decides(f))

    results = run_plan(plan, kube_runner(api_client, seconds), container, proto, seconds, explain)
    if output == "json":
        click.echo(json.dumps(results_dict(results, proto), indent=2))
    else:
        click.echo(render_results(results, proto), nl=False)
    agreements = {r.comparison.agreement for r in results}
    if Agreement.MISMATCH in agreements:
        raise SystemExit(c.ExitCode.DENIED)
    if Agreement.UNKNOWN in agreements:
        raise SystemExit(c.ExitCode.UNKNOWN)
