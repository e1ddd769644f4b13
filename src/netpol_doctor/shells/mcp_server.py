"""`netpol-doctor mcp`: the engine as Model Context Protocol tools, over stdio.

An assistant asks the tool instead of guessing NetworkPolicy semantics. Built on the
official Python SDK (PyPI `mcp`, `mcp.server.mcpserver.MCPServer`, which derives each
tool's JSON schema for its arguments from the function's signature and docstring).
Tools: `diagnose`, `pod`, `matrix` (the namespace-pair summary), `lint`, `verify`. Each
returns the JSON `--output json` prints as `structuredContent` and as the first text
block, and the text rendering as the second block; every result names what was read
(`read_from`). All tools are read-only (annotated so); the input is fixed when the
server starts: `--snapshot PATH`, loaded once, or a kubeconfig context, read afresh
for every call (only GET requests, as the CLI).

stdout is the protocol channel: nothing else may print there, so problems in the input
travel in the results (`problems`), never on stdout.

Every command imports this module (cli.py registers it): the SDK and the analyses the
tools run are imported when the server is built.
"""

# No `from __future__ import annotations` here: the SDK reads the tools' annotations
# (their JSON schemas) at registration, and those are local to `build_server`.
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click

from ..errors import NetpolDoctorError

if TYPE_CHECKING:
    from ..live import Scope
    from ..model import Protocol
    from ..snapshot import Snapshot

__all__ = ["Source", "build_server", "mcp"]


@dataclass(frozen=True)
class Source:
    """What the server reads: snapshot paths (loaded once) or a live context."""

    snapshots: tuple[str, ...] = ()
    kubeconfig: str | None = None
    context: str | None = None

    def describe(self) -> dict[str, Any]:
        if self.snapshots:
            return {"snapshot": list(self.snapshots)}
        return {"context": self.context or "(current)", "kubeconfig": self.kubeconfig}


class _Reader:
    def __init__(self, source: Source, loaded: "Snapshot | None" = None) -> None:
        self.source = source
        self._loaded = loaded

    def read(self, scope: "Scope | None" = None) -> "tuple[Snapshot, dict[str, Any]]":
        from ..live import Limits, Scope, collect, to_snapshot
        from ..snapshot import load_snapshot

        if self.source.snapshots:
            if self._loaded is None:
                self._loaded = load_snapshot(self.source.snapshots)
            return self._loaded, self.source.describe()
        got = collect(
            scope or Scope(None), self.source.kubeconfig, self.source.context, limits=Limits()
        )
        return to_snapshot(got), {"context": got.context, "server": got.server}


def _protocol(text: str) -> "Protocol":
    from ..model import Protocol

    try:
        return Protocol(text.upper())
    except ValueError:
        raise ValueError(f"{text!r} is not a protocol (TCP, UDP, SCTP or ICMP)") from None


def _result(data: dict[str, Any], text: str) -> Any:
    from mcp.types import CallToolResult, TextContent

    return CallToolResult(
        content=[
            TextContent(type="text", text=json.dumps(data, indent=2)),
            TextContent(type="text", text=text),
        ],
        structured_content=data,
    )


@contextmanager
def _one_sentence() -> Iterator[None]:
    """A bad question or an unreadable cluster: its one sentence goes back to the
    assistant as the tool's error (the SDK hides any other exception's text)."""
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        yield
    except click.ClickException as exc:  # a bad value, worded as the CLI words it
        raise ToolError(exc.format_message()) from None
    except (NetpolDoctorError, ValueError, OSError) as exc:
        raise ToolError(str(exc)) from None


def _problems(snapshot: "Snapshot") -> list[dict[str, Any]]:
    from ..findings import Severity
    from ..render.structured import finding_dict

    return [finding_dict(f) for f in snapshot.problems if f.severity is not Severity.INFO]


def build_server(source: Source, loaded: "Snapshot | None" = None) -> Any:
    """The MCPServer with the six tools, reading `source` (`loaded`: its snapshot,
    already read)."""
    import tempfile

    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations
    from pydantic import Field

    from ..contract import load_contract, verify
    from ..diagnose import diagnose
    from ..findings import Severity
    from ..lint import RULES, LintOptions, lint
    from ..live import Scope
    from ..matrix import compute_matrix
    from ..podinfo import pod_view
    from ..render.changes import contract_dict, render_contract
    from ..render.matrixout import render_summary, summary_rows
    from ..render.structured import diagnosis_dict, finding_dict, pod_dict
    from ..render.text import render_diagnosis, render_lint, render_pod
    from ..targets import resolve

    # Imported here: kubectl_plugin imports cli, which registers this module's command.
    from .kubectl_plugin import _scope, to_spec

    reader = _Reader(source, loaded)
    server = MCPServer(
        "netpol-doctor",
        log_level="WARNING",
        instructions=(
            "Kubernetes NetworkPolicy answers with the engine's exact semantics, read-only. "
            f"Input: {json.dumps(source.describe())}. Name pods as NS/NAME or, with "
            "`namespace`, kubectl's TYPE/NAME (deploy/api, sts/db, svc/api, pod/x)."
        ),
    )
    read_only = ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )

    def tool(f: Callable[..., Any]) -> None:
        server.tool(annotations=read_only, structured_output=False)(f)

    Name = Annotated[str, Field(description="NS/NAME, TYPE/NAME (deploy/api), svc/NS/NAME, ...")]
    Ns = Annotated[str, Field(description="Namespace for bare names and TYPE/NAME")]

    def diagnose_tool(
        source: Name,
        destination: Annotated[str, Field(description="As source, or `dns` or `apiserver`")],
        port: Annotated[int | str | None, Field(description="Number or port name")] = None,
        protocol: Annotated[str, Field(description="TCP, UDP, SCTP or ICMP")] = "TCP",
        namespace: Ns = "default",
    ) -> Any:
        """Can SOURCE reach DESTINATION on PORT? Verdict (allowed, denied, unknown), the
        policy and rule that decide it, and the fix. Same JSON as `diagnose -o json`."""
        with _one_sentence():
            src, dst = to_spec(source, namespace), to_spec(destination, namespace)
            if port is None and dst not in ("dns", "apiserver") and protocol.upper() != "ICMP":
                raise ValueError("port is required (except for the dns and apiserver checks)")
            snapshot, where = reader.read(_scope(src, dst))
            diag = diagnose(snapshot, src, dst, port, _protocol(protocol), namespace=namespace)
            problems = [f for f in snapshot.problems if f.severity is not Severity.INFO]
            data = {"read_from": where, **diagnosis_dict(diag, problems)}
            return _result(data, render_diagnosis(diag))

    diagnose_tool.__name__ = "diagnose"
    tool(diagnose_tool)

    def pod_tool(pod: Name, namespace: Ns = "default") -> Any:
        """Which policies select POD, per direction, and what they admit. Same JSON as
        `pod -o json` (one entry per pod; a workload gives all of its pods)."""
        with _one_sentence():
            spec = to_spec(pod, namespace)
            snapshot, where = reader.read(_scope(spec))
            target = resolve(snapshot, spec, namespace=namespace)
            views = [pod_view(snapshot, m.endpoint.pod) for m in target.members if m.endpoint.pod]
            data = {"read_from": where, "pods": [pod_dict(v) for v in views]}
            return _result(data, "\n".join(render_pod(v) for v in views))

    pod_tool.__name__ = "pod"
    tool(pod_tool)

    def matrix_tool(
        port: Annotated[int, Field(ge=1, le=65535, description="Destination port")],
        protocol: Annotated[str, Field(description="TCP, UDP or SCTP")] = "TCP",
        namespaces: Annotated[list[str], Field(description="Limit to these; [] = all")] = [],  # noqa: B006
    ) -> Any:
        """Allowed / denied / unknown pod-pair counts per (source, destination) namespace
        pair on one port: the `matrix -o summary` table, as JSON and text."""
        with _one_sentence():
            scope = Scope(frozenset(namespaces)) if namespaces else Scope(None)
            snapshot, where = reader.read(scope)
            m = compute_matrix(snapshot, port, _protocol(protocol), tuple(namespaces))
            rows = summary_rows(m)
            data = {
                "read_from": where,
                "port": port,
                "protocol": m.protocol.value,
                "pods": len(m.pods),
                "totals": {
                    "allowed": sum(r[2] for r in rows),
                    "denied": sum(r[3] for r in rows),
                    "unknown": sum(r[4] for r in rows),
                },
                "namespace_pairs": [
                    {"source": a, "destination": b, "allowed": x, "denied": y, "unknown": z}
                    for a, b, x, y, z in rows
                ],
                "problems": _problems(snapshot),
            }
            return _result(data, render_summary(m))

    matrix_tool.__name__ = "matrix"
    tool(matrix_tool)

    def lint_tool(
        ignore: Annotated[list[str], Field(description="Rule ids to skip")] = [],  # noqa: B006
        enable: Annotated[list[str], Field(description="Off-by-default rules")] = [],  # noqa: B006
    ) -> Any:
        """Policy mistakes by documented rule (docs/lint/): same JSON as `lint -o json`."""
        with _one_sentence():
            known = {r.id for r in RULES}
            for rule_id in (*ignore, *enable):
                if rule_id not in known:
                    raise ValueError(f"{rule_id!r} is not a lint rule ({', '.join(sorted(known))})")
            snapshot, where = reader.read()
            found = lint(snapshot, LintOptions(frozenset(ignore), frozenset(enable)))
            shared = {"policy-invalid", "policy-warning"}
            data = {
                "read_from": where,
                "schema_version": 1,
                "summary": {s.value: sum(1 for f in found if f.severity is s) for s in Severity},
                "findings": [finding_dict(f) for f in found],
                "problems": [finding_dict(p) for p in snapshot.problems if p.id not in shared],
            }
            return _result(data, render_lint(found))

    lint_tool.__name__ = "lint"
    tool(lint_tool)

    def verify_tool(
        contract: Annotated[str, Field(description="The contract YAML (docs/contract.md)")],
    ) -> Any:
        """Check a connectivity contract (flows that must be allowed or denied); same
        JSON as `verify -o json`. The contract text is given, not a path."""
        with _one_sentence():
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "contract.yaml"
                path.write_text(contract, encoding="utf-8")
                parsed = load_contract(path)
            snapshot, where = reader.read()
            results = verify(snapshot, parsed)
            data = {"read_from": where, **contract_dict(results), "problems": _problems(snapshot)}
            return _result(data, render_contract(results))

    verify_tool.__name__ = "verify"
    tool(verify_tool)

    def flows_tool(
        log: Annotated[str, Field(description="Flow-log lines: Hubble JSON, Calico, Antrea, AWS")],
        format: Annotated[  # the CLI's --format
            str | None, Field(description="hubble, calico, antrea or aws; default: told")
        ] = None,
        since: Annotated[
            str | None, Field(description="15m (back from the newest record) or RFC 3339")
        ] = None,
        namespaces: Annotated[list[str], Field(description="Only these; [] = all")] = [],  # noqa: B006
        top: Annotated[int | None, Field(ge=1, description="At most this many groups")] = None,
    ) -> Any:
        """Explain what the data plane dropped (or let through): records grouped by
        source, destination, protocol and port, each with the verdict the policies give,
        its rule and fix; groups where the log and the policies disagree first. Same
        JSON as `flows -o json`. The log text is given, not a path."""
        from ..analysis.flows import FlowWindow
        from ..inputs.flowlogs import Format
        from ..render.flows import flows_dict, render_flows_text
        from .flows_cmd import explain_logs, parse_since

        with _one_sentence():
            if format is not None and format not in {f.value for f in Format}:
                raise ValueError(f"format {format!r}: use one of {[f.value for f in Format]}")
            window = parse_since(since) if since else FlowWindow()
            snapshot, where = reader.read()
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "flows.log"
                path.write_text(log, encoding="utf-8")
                report, stats, problems = explain_logs(
                    snapshot, (str(path),), format, window, tuple(namespaces), top, None, "log"
                )
            data = {"read_from": where, **flows_dict(report, stats, problems)}
            return _result(data, render_flows_text(report, stats))

    flows_tool.__name__ = "flows"
    tool(flows_tool)
    return server


@click.command("mcp")
@click.option(
    "--snapshot",
    "snapshots",
    multiple=True,
    type=click.Path(exists=True),
    help="Serve answers about these files (loaded once); without it, a live cluster.",
)
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None)
@click.option("--context", default=None, help="Kubeconfig context for live reads.")
def mcp(snapshots: tuple[str, ...], kubeconfig: str | None, context: str | None) -> None:
    """Serve diagnose, pod, matrix, lint and verify as MCP tools over stdio (read-only).

    For AI assistants: README "MCP server" has the configuration block.
    """
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError:
        raise click.UsageError(
            "the MCP server needs the `mcp` package: pip install 'netpol-doctor[mcp]'"
        ) from None
    from ..snapshot import load_snapshot

    # A snapshot is loaded before serving, so a broken path fails at start.
    loaded = load_snapshot(snapshots) if snapshots else None
    build_server(Source(snapshots, kubeconfig, context), loaded).run("stdio")
