"""`netpol-doctor flows FILE...`: explain what the data plane dropped (docs/flows.md).

A thin shell: reads the logs a line at a time into `analysis.flows`, renders, sets the
exit code (0 the log and the policies agree, 1 some group disagrees, 2 nothing could be
read). It imports cli.py's helpers, and cli.py registers it after defining them; the
library it runs is imported when it runs (every command imports this module).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, BinaryIO

import click

from ..cli import ExitCode, _cni, _common, _LibraryChoice, _load, _report_problems

if TYPE_CHECKING:
    from ..analysis.flows import FlowReport, FlowWindow, GroupFolder
    from ..cni import CniInfo
    from ..findings import Finding
    from ..inputs.flowlogs import Format, LineProblem
    from ..render.flows import InputStat
    from ..snapshot import Snapshot

__all__ = ["explain_logs", "flows", "parse_since"]

#: malformed lines reported one by one per file; the rest are counted
_SHOWN_PROBLEMS = 20
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)?$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_since(text: str) -> FlowWindow:
    """An RFC3339 time (absolute), or a duration (30s, 15m, 2h, 1d; bare: seconds)
    counted back from the newest record of the input."""
    from ..analysis.flows import FlowWindow
    from ..inputs.flowlogs.timeparse import rfc3339

    m = _DURATION.match(text.strip())
    if m:
        seconds = float(m.group(1)) * _SECONDS[m.group(2)]
        if seconds <= 0:
            raise click.BadParameter(f"{text!r}: give a duration above zero")
        return FlowWindow(last=seconds)
    when = rfc3339(text.strip())
    if when is None:
        raise click.BadParameter(
            f"{text!r} is neither a duration (30s, 15m, 2h, 1d) nor an RFC3339 time "
            "(2024-05-01T10:00:00Z)"
        )
    return FlowWindow(since=when)


@contextmanager
def _lines(path: str) -> Iterator[BinaryIO]:
    """Bytes: JSON is decoded straight from them, and a line that is not UTF-8 is
    reported, not fatal."""
    if path == "-":
        yield sys.stdin.buffer
        return
    with open(path, "rb") as f:
        yield f


def _problem(name: str, p: LineProblem) -> Finding:
    from ..findings import Finding, Severity
    from ..model import ObjectRef

    where = ObjectRef("file", None, name, file=name, line=p.line)
    return Finding("input-malformed", Severity.ERROR, p.message, (where,))


def _read(
    paths: tuple[str, ...], fmt: Format | None, folder: GroupFolder, shown_as: str | None = None
) -> tuple[list[InputStat], list[Finding]]:
    """`shown_as`: the name records and problems carry (the MCP tool's temporary file
    is "log" to the assistant)."""
    from ..findings import Finding, Severity
    from ..inputs.flowlogs import Format, LineProblem, read_records
    from ..model import ObjectRef
    from ..render.flows import InputStat

    stats: list[InputStat] = []
    problems: list[Finding] = []
    for path in paths:
        name = shown_as or ("stdin" if path == "-" else path)
        found: Format | None = None
        records = malformed = 0
        with _lines(path) as lines:
            for item in read_records(lines, fmt):
                if isinstance(item, Format):
                    found = item
                elif isinstance(item, LineProblem):
                    malformed += 1
                    if malformed <= _SHOWN_PROBLEMS:
                        problems.append(_problem(name, item))
                else:
                    line, record = item
                    records += 1
                    folder.add(record, name, line)
        if malformed > _SHOWN_PROBLEMS:
            more = LineProblem(0, f"{malformed - _SHOWN_PROBLEMS} more malformed line(s)")
            problems.append(
                Finding(
                    "input-malformed",
                    Severity.ERROR,
                    more.message,
                    (ObjectRef("file", None, name, file=name),),
                )
            )
        stats.append(InputStat(name, found.value if found else None, records, malformed))
    return stats, problems


def explain_logs(
    snapshot: Snapshot,
    paths: tuple[str, ...],
    fmt: str | None,
    window: FlowWindow,
    namespaces: tuple[str, ...],
    top: int | None,
    cni: str | None,
    shown_as: str | None = None,
) -> tuple[FlowReport, list[InputStat], list[Finding]]:
    """The flows pipeline, for this command and the MCP tool: the logs read into groups
    (`fmt`: the log format, None to tell it per file), then each group answered."""
    from ..analysis.flows import GroupFolder, analyse
    from ..inputs.flowlogs import Format

    folder = GroupFolder(snapshot, window, namespaces)
    stats, problems = _read(paths, Format(fmt) if fmt else None, folder, shown_as)
    return analyse(folder, _plugin(_cni(snapshot, cni), cni, stats), top), stats, problems


def _plugin(snapshot_cni: CniInfo, forced: str | None, stats: list[InputStat]) -> CniInfo:
    """--cni, else what the input shows, else what the logs prove is running."""
    from ..cni import CniInfo, profile_named
    from ..inputs.flowlogs import Format

    if forced is not None or snapshot_cni.profile is not None:
        return snapshot_cni
    formats = {s.format for s in stats if s.format}
    if len(formats) == 1:
        profile = profile_named(Format(formats.pop()).cni)
        return CniInfo(profile, forced=True)
    return snapshot_cni


@cache
def _format_names() -> tuple[str, ...]:
    from ..inputs.flowlogs import Format

    return tuple(f.value for f in Format)


@click.command("flows")
@click.argument(
    "files",
    nargs=-1,
    required=True,
    metavar="FILE...",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
)
@click.option(
    "--format",
    "fmt",
    type=_LibraryChoice(_format_names),
    default=None,
    help="The log format (default: told from each file's first record).",
)
@click.option(
    "--since",
    default=None,
    help="Only records from this RFC3339 time, or the last DURATION (15m, 2h, 1d) "
    "before the newest record.",
)
@click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    help="Only flows from or to this namespace; repeatable.",
)
@click.option("--top", type=click.IntRange(min=1), default=None, help="Show the first N groups.")
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@_common
def _flows(
    files: tuple[str, ...],
    fmt: str | None,
    since: str | None,
    namespaces: tuple[str, ...],
    top: int | None,
    output: str,
    snapshots: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    cni: str | None,
    color: bool | None,
) -> None:
    """Explain flow-log records (Hubble, Calico, Antrea, AWS; FILE or - for stdin): grouped
    by source, destination, protocol and port, each with the verdict the policies give,
    its deciding rule and fix; where the log and the policies disagree, that first.
    Exit code: 0 they agree, 1 some group disagrees, 2 nothing could be read."""
    if files.count("-") > 1:
        raise click.BadParameter("stdin (-) can be read once")
    from ..analysis.flows import FlowWindow
    from ..render.flows import flows_dict, render_flows_markdown, render_flows_text
    from ..render.text import render_problems

    window = parse_since(since) if since else FlowWindow()
    snapshot = _load(snapshots, kubeconfig, context)
    _report_problems(snapshot)
    report, stats, problems = explain_logs(snapshot, files, fmt, window, namespaces, top, cni)
    if problems:
        click.echo(render_problems(problems), err=True, nl=False)
    if output == "json":
        click.echo(json.dumps(flows_dict(report, stats, problems), indent=2))
    elif output == "markdown":
        click.echo(render_flows_markdown(report, stats), nl=False)
    else:
        click.echo(render_flows_text(report, stats), nl=False)
    if not any(s.records for s in stats) and problems:
        raise SystemExit(ExitCode.USAGE)
    if any(g.mismatch for g in report.groups):
        raise SystemExit(ExitCode.DENIED)


#: typed here: cli.py imports this module from inside its own import
flows: click.Command = _flows
