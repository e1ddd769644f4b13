"""Markdown for pasting into an incident ticket: verdict, findings, explanation."""

from __future__ import annotations

from typing import Any

from ..diagnose import Diagnosis
from ..findings import Finding
from .safe import printable
from .structured import diagnosis_dict

__all__ = ["render_diagnosis_markdown"]


def _direction(md: list[str], title: str, d: dict[str, Any] | None) -> None:
    if d is None:
        return
    md.append(f"### {title}")
    md.append("")
    md.append(f"{d['summary']}")
    md.append("")
    for r in d["rules"]:
        md.append(f"- **{r['name']}**: {r['result']} ({r['description']})")
        for p in r.get("peers") or []:
            md.append(f"  - {p['explanation']}")
        for p in r.get("ports") or []:
            md.append(f"  - {p['explanation']}")
    if d["rules"]:
        md.append("")


def render_diagnosis_markdown(diag: Diagnosis, problems: list[Finding]) -> str:
    data = diagnosis_dict(diag, problems)
    src, dst = data["source"]["label"], data["destination"]["label"]
    md = [
        f"## netpol-doctor: `{src}` → `{dst}` {data['protocol']} {data['port']}: "
        f"**{data['verdict'].upper()}**",
        "",
    ]
    if data["findings"]:
        md += ["| severity | id | finding |", "| --- | --- | --- |"]
        for f in data["findings"]:
            msg = f["message"].replace("\n", "<br>").replace("|", "\\|")
            md.append(f"| {f['severity']} | `{f['id']}` | {msg} |")
        md.append("")
    fixes = [f for f in data["findings"] if f["fix"] and f["fix"]["snippet"]]
    if fixes:
        md += ["### Fixes (printed, not applied)", ""]
        for f in fixes:
            md.append(f"- `{f['id']}`: {f['fix']['summary']}")
            md += [
                "",
                "  ```",
                *("  " + line for line in f["fix"]["snippet"].splitlines()),
                "  ```",
            ]
            if f["fix"]["caution"]:
                md.append(f"  Note: {f['fix']['caution']}")
            md.append("")
    if data["verify"]:
        md += ["### Confirm it", "", "```", *data["verify"], "```", ""]
    if len(data["pairs"]) > 1:
        md += ["| source | destination | port | verdict |", "| --- | --- | --- | --- |"]
        for p in data["pairs"]:
            port = "—" if p["port"] is None else p["port"]
            verdict = p["verdict"] or f"no such port: {p['problem'] or 'not resolved'}"
            md.append(f"| {p['source']} | {p['destination']} | {port} | {verdict} |")
        md.append("")
    _direction(md, f"Egress from {src}", data["egress"])
    _direction(md, f"Ingress to {dst}", data["ingress"])
    if data["problems"]:
        md += ["### Input problems", ""]
        md += [f"- `{p['id']}` {p['message']}" for p in data["problems"]]
        md.append("")
    md.append(f"CNI: {data['cni'] or 'not identified'}")
    return printable("\n".join(md).rstrip() + "\n")
