"""`matrix --by workload` (and the pod graph): the grouped all-ports table, rendered.
Called from `cli.matrix_cmd`, which owns the options."""

from __future__ import annotations

import click

from ..analysis.grouped import compute_grouped
from ..cli import _cni, _load, _report_problems
from ..live import Scope
from ..render.grouped import (
    render_csv,
    render_dot,
    render_json,
    render_markdown,
    render_mermaid,
    render_text,
)
from ..render.structured import finding_dict

__all__ = ["grouped_matrix"]


def grouped_matrix(
    by: str,
    namespaces: tuple[str, ...],
    port: int | None,
    all_ports: bool,
    output: str,
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    cni: str | None,
) -> None:
    if port is not None:
        raise click.UsageError(
            f"--by {by} --output {output} sweeps every port (as --all-ports); drop --port"
        )
    if output == "summary":
        raise click.UsageError("--by workload prints text, json, csv, markdown, dot or mermaid")
    del all_ports  # implied: a cell lists the ports allowed
    scope = Scope(frozenset(namespaces)) if namespaces else Scope(None)
    snapshot = _load(snapshots, kubeconfig, context, scope)
    problems = [finding_dict(f) for f in _report_problems(snapshot)]
    gm = compute_grouped(snapshot, by, namespaces, _cni(snapshot, cni))
    if output == "json":
        text = render_json(gm, by, problems)
    elif output == "csv":
        text = render_csv(gm)
    elif output == "markdown":
        text = render_markdown(gm, by)
    elif output == "dot":
        text = render_dot(gm)
    elif output == "mermaid":
        text = render_mermaid(gm)
    else:
        text = render_text(gm, by)
    click.echo(text, nl=False)
