"""What a connectivity test observed, read from the tool's exit and messages, and how
it compares with the verdict the policies predict. Pure: no cluster, no words beyond
the finding message.

Owns: `Observed`, `Outcome`, `classify`, `compare`, `Comparison`. Must not import
shells (the code that runs the test) or render.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..engine import Verdict
from ..findings import Finding, Fix, Severity
from ..model import Protocol

__all__ = [
    "Agreement",
    "Comparison",
    "Observed",
    "Outcome",
    "classify",
    "compare",
]

#: Ids shared with `flows` (issue #11): the data plane and the policies disagree.
DROP_ALLOWED = "observed-drop-policy-allows"
ALLOW_DENIED = "observed-allow-policy-denies"


class Observed(Enum):
    CONNECTED = "connected"  # the TCP handshake completed
    REFUSED = "refused"  # an RST or ICMP port-unreachable came back: the packet arrived
    TIMEOUT = "timeout"  # no answer at all within the timeout: what a policy drop looks like
    UNREACHABLE = "unreachable"  # "no route to host": an ICMP reject, by a firewall or policy
    SILENT = "silent"  # UDP: nothing came back; a drop and a quiet listener look the same
    NO_TOOL = "no-tool"  # the container has none of nc, bash+timeout, curl, wget
    FORBIDDEN = "forbidden"  # exec refused (RBAC on pods/exec) or the pod is gone
    ERROR = "error"  # the exec itself failed; nothing was learned


@dataclass(frozen=True, slots=True)
class Outcome:
    observed: Observed
    tool: str | None = None  # nc | bash | curl | wget
    exit_code: int | None = None
    detail: str = ""  # the tool's own message (stderr), one line


class Agreement(Enum):
    AGREE = "agree"
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Comparison:
    agreement: Agreement
    predicted: Verdict
    outcome: Outcome
    reason: str  # why this agreement (a short clause, worded for the renderer)
    finding: Finding | None = None


def classify(tool: str, protocol: Protocol, exit_code: int, stderr: str) -> Outcome:
    """The outcome of one connect command by its exit code and message.

    The exit codes are each tool's documented ones: curl(1) EXIT CODES (7 could not
    connect, 28 timeout), coreutils timeout(1) (124 timed out), nc and wget exit 1 and
    say why on stderr (OpenBSD nc, busybox nc, GNU and busybox wget).
    """
    text = stderr.lower()
    line = stderr.strip().splitlines()[-1][:200] if stderr.strip() else ""

    def out(observed: Observed) -> Outcome:
        return Outcome(observed, tool, exit_code, line)

    if "refused" in text:
        return out(Observed.REFUSED)
    if "no route to host" in text or "host is unreachable" in text:
        return out(Observed.UNREACHABLE)
    if protocol is Protocol.UDP:
        # nc -zu sends one datagram and reports success unless an ICMP error came back
        return out(Observed.SILENT if exit_code == 0 or "timed out" in text else Observed.ERROR)
    if exit_code == 0:
        return out(Observed.CONNECTED)
    if tool == "curl":
        if exit_code == 28 and "operation timed out" in text and "0 out of" not in text:
            # the connect phase ended; the transfer timed out: the port answered
            return out(Observed.CONNECTED)
        if exit_code == 28:
            return out(Observed.TIMEOUT)
        if exit_code == 7:
            return out(Observed.TIMEOUT if "timed out" in text else Observed.ERROR)
        return out(Observed.CONNECTED)  # an HTTP/TLS-level error after connecting
    if tool == "wget":
        if "timed out" in text:
            return out(Observed.TIMEOUT)
        if "server returned error" in text or "http/" in text or "error 4" in text:
            return out(Observed.CONNECTED)
        return out(Observed.ERROR)
    if tool == "bash":
        return out(Observed.TIMEOUT if exit_code == 124 else Observed.ERROR)
    if "timed out" in text or "timeout" in text or not text:
        return out(Observed.TIMEOUT)
    return out(Observed.ERROR)


_NOT_TOLD = {
    Observed.NO_TOOL: "the source container has no tool to test with (nc, bash with timeout, "
    "curl, wget)",
    Observed.FORBIDDEN: "the exec was refused",
    Observed.ERROR: "the test command failed without telling how the connection went",
}


def compare(predicted: Verdict, outcome: Outcome, protocol: Protocol, flow: str = "") -> Comparison:
    """Agreement of the observed outcome with the predicted verdict; a mismatch carries
    the finding that names it. `flow` ("shop/web -> 10.0.0.5:8080/TCP") goes in its
    message."""
    obs = outcome.observed
    if obs in _NOT_TOLD:
        return Comparison(Agreement.UNKNOWN, predicted, outcome, _NOT_TOLD[obs])
    if obs is Observed.SILENT:
        return Comparison(
            Agreement.UNKNOWN,
            predicted,
            outcome,
            "UDP without an answer: a drop and a listener that does not reply look the same; "
            "only an ICMP port-unreachable ('refused') proves the datagram arrived",
        )
    blocked = obs in (Observed.TIMEOUT, Observed.UNREACHABLE)
    if predicted is Verdict.UNKNOWN:
        return Comparison(
            Agreement.UNKNOWN,
            predicted,
            outcome,
            f"the policies' verdict is unknown; the test says {obs.value}",
        )
    if obs is Observed.REFUSED and predicted is Verdict.ALLOWED:
        return Comparison(
            Agreement.AGREE,
            predicted,
            outcome,
            "the packet arrived (policy let it through); nothing listens on that port",
        )
    if obs is Observed.REFUSED and protocol is Protocol.TCP:
        # A refusal is what an unenforced policy and a plugin that rejects (RST) both give.
        return Comparison(
            Agreement.UNKNOWN,
            predicted,
            outcome,
            "refused: either the policy is not enforced and nothing listens, or the plugin "
            "rejects instead of dropping",
        )
    if obs is Observed.CONNECTED and predicted is Verdict.ALLOWED:
        return Comparison(Agreement.AGREE, predicted, outcome, "connected, as the policies allow")
    if blocked and predicted is Verdict.DENIED:
        return Comparison(
            Agreement.AGREE, predicted, outcome, f"{obs.value}, as a policy drop looks"
        )
    if blocked:  # predicted allowed
        finding = Finding(
            DROP_ALLOWED,
            Severity.ERROR,
            f"{flow or 'the connection'}: {obs.value} although NetworkPolicy allows it: "
            "something else drops it (the plugin has not programmed the policy yet or "
            "disagrees with it, a host firewall, a cloud security group, a mesh), or "
            "nothing answers on that address",
            fix=Fix(
                "Check the network plugin's agent on both nodes (logs, policy sync), host and "
                "cloud firewalls, and that the destination listens on the port."
            ),
        )
        return Comparison(Agreement.MISMATCH, predicted, outcome, "blocked", finding)
    finding = Finding(
        ALLOW_DENIED,
        Severity.ERROR,
        f"{flow or 'the connection'}: {obs.value} although NetworkPolicy denies it: the "
        "policy is not enforced on this path (a plugin that enforces no NetworkPolicy, an "
        "agent not running on the node, a hostNetwork or node-local path)",
        fix=Fix(
            "Check that the network plugin enforces NetworkPolicy and that its agent runs on "
            "the destination's node; `netpol-doctor check` reports the plugin it detects."
        ),
    )
    return Comparison(Agreement.MISMATCH, predicted, outcome, "not enforced", finding)
