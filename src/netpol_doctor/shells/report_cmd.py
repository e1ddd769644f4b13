"""`netpol-doctor report`: the self-contained HTML page (heatmap, workload graph,
isolation, lint findings, diagnoses of the questions asked).

Every command imports this module (cli.py registers it): the analyses it runs, numpy
among them, are imported when it runs."""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import click

from ..cli import _cni, _common, _load, _protocol, _report_problems
from ..errors import NetpolDoctorError

if TYPE_CHECKING:
    from ..snapshot import Snapshot

__all__ = ["report"]

#: lint findings listed in the page (all are counted by id)
FINDINGS_LIMIT = 500


def _parse_question(text: str) -> tuple[str, str, int | str | None, str]:
    parts = text.split()
    if len(parts) not in (2, 3) or (len(parts) == 2 and parts[1] not in ("dns", "apiserver")):
        raise click.BadParameter(
            f"--question {text!r}: expected 'SRC DST PORT' (PORT a number or name, "
            "optionally PORT/PROTOCOL), or 'SRC dns'",
            param_hint="--question",
        )
    port: int | str | None = None
    proto = "TCP"
    if len(parts) == 3:
        raw, _, proto_text = parts[2].partition("/")
        port = int(raw) if raw.isdigit() else raw
        proto = proto_text or "TCP"
    return parts[0], parts[1], port, proto


def _question(snapshot: Snapshot, text: str, cni: Any) -> dict[str, Any]:
    from ..diagnose import diagnose
    from ..render.text import render_diagnosis

    src, dst, port, proto = _parse_question(text)
    try:
        diag = diagnose(snapshot, src, dst, port, _protocol(proto), cni=cni)
    except NetpolDoctorError as exc:
        return {"question": text, "verdict": "not answered", "text": str(exc)}
    return {"question": text, "verdict": diag.verdict.value, "text": render_diagnosis(diag)}


@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    default="report.html",
    show_default=True,
    help="The HTML file to write.",
)
@click.option(
    "--question",
    "questions",
    multiple=True,
    help="'SRC DST PORT' to diagnose in the page; repeatable.",
)
def _report(
    out: str,
    questions: tuple[str, ...],
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    cni: str | None,
    color: bool | None,
) -> None:
    """One self-contained HTML page: a namespace heatmap with drill-down to workloads,
    the workload graph, isolation per namespace, lint findings and diagnoses."""
    del color
    from ..analysis.grouped import compute_grouped
    from ..analysis.report import report_data
    from ..lint import LintOptions, lint
    from ..render.grouped import port_words
    from ..render.html import render_report
    from ..render.structured import finding_dict

    started = time.monotonic()
    for q in questions:  # before the long part: a typo should not cost minutes
        _protocol(_parse_question(q)[3])
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise click.BadParameter(f"{parent} is not a directory", param_hint="--out")
    snapshot = _load(snapshots, kubeconfig, context)
    phases = {"read": time.monotonic() - started}
    problems = _report_problems(snapshot)
    cni_info = _cni(snapshot, cni)
    mark = time.monotonic()
    gm = compute_grouped(snapshot, "workload", (), cni_info)
    phases["workload table"] = time.monotonic() - mark
    mark = time.monotonic()

    words: dict[bytes, tuple[str, bool] | None] = {}

    def edge(i: int, j: int) -> tuple[str, bool] | None:
        # the words depend only on the cell's codes per port group: few distinct ones
        key = gm.codes[i, j].tobytes()
        if key not in words:
            words[key] = _edge_words(i, j)
        return words[key]

    def _edge_words(i: int, j: int) -> tuple[str, bool] | None:
        cell = gm.cell(i, j)
        if not (cell.allowed or cell.unknown or cell.partial):
            return None
        parts = [port_words(cell.allowed, gm.ports)] if cell.allowed else []
        if cell.unknown:
            parts.append("unknown: " + port_words(cell.unknown, gm.ports))
        if cell.partial:
            parts.append("some pods only: " + port_words(cell.partial, gm.ports))
        return "; ".join(parts), bool(cell.allowed)

    sources = list(snapshots) or [f"live cluster (context {context or 'current'})"]
    data = report_data(snapshot, gm, edge, sources)
    phases["page data"] = time.monotonic() - mark
    mark = time.monotonic()
    findings = lint(snapshot, LintOptions(cni=cni))
    phases["lint"] = time.monotonic() - mark
    mark = time.monotonic()
    data["lint"] = {
        "total": len(findings),
        "by_id": dict(Counter(f.id for f in findings).most_common()),
        "findings": [
            {
                "severity": d["severity"],
                "id": d["id"],
                "objects": [
                    "/".join(x for x in (o["kind"], o["namespace"], o["name"]) if x)
                    for o in d["objects"]
                ],
                "message": d["message"],
            }
            for d in (finding_dict(f) for f in findings[:FINDINGS_LIMIT])
        ],
    }
    data["problems"] = [finding_dict(f)["message"] for f in problems]
    data["questions"] = [_question(snapshot, q, cni_info) for q in questions]
    phases["questions"] = time.monotonic() - mark
    page = render_report(data, "netpol-doctor report")
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(page)
    size = os.path.getsize(out)
    click.echo(
        f"wrote {out}: {size / 1024:.0f} KiB, {len(data['namespaces'])} namespaces, "
        f"{len(gm.members)} workloads and address blocks, {len(findings)} lint findings, "
        f"{len(questions)} questions, in {time.monotonic() - started:.1f} s ("
        + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items())
        + ")"
    )


# Built here rather than with a decorator: cli.py imports this module at its end, and
# an annotated name is what lets the type checker follow the import cycle.
report: click.Command = click.command("report")(_common(_report))
