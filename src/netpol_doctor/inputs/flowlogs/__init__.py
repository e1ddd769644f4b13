"""Flow and drop logs -> `FlowRecord`s, one line at a time (files of hundreds of
megabytes are never held in memory). Formats and their sources: docs/flows.md.

Imports only its own modules: nothing here judges a record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from enum import Enum
from itertools import chain
from typing import Any

import orjson

from .antrea import looks_like_antrea, parse_antrea
from .aws import looks_like_aws, parse_aws
from .calico import looks_like_calico, parse_calico
from .hubble import HubbleParser, NotAFlow, looks_like_hubble
from .records import FlowPeer, FlowRecord, LineProblem, Observed

__all__ = [
    "FlowPeer",
    "FlowRecord",
    "Format",
    "LineProblem",
    "Observed",
    "detect_format",
    "read_records",
]


class Format(Enum):
    HUBBLE = "hubble"
    CALICO = "calico"
    ANTREA = "antrea"
    AWS = "aws"

    @property
    def cni(self) -> str:
        """The plugin a log of this format proves is running."""
        return {"hubble": "cilium", "calico": "calico", "antrea": "antrea", "aws": "aws-vpc-cni"}[
            self.value
        ]


#: a line longer than this is not a flow record (and would cost memory to decode)
MAX_LINE = 1 << 20
#: lines looked at to tell the format: the AWS agent's log has other lines before flows
DETECT_LINES = 200


def detect_format(line: str | bytes) -> Format | None:
    """The format of a log from its first non-empty line; None if none fits."""
    text = (line.decode("utf-8", "replace") if isinstance(line, bytes) else line).strip()
    if looks_like_aws(text):
        return Format.AWS
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            return None
        if looks_like_calico(doc):
            return Format.CALICO
        if looks_like_hubble(doc):
            return Format.HUBBLE
        return None
    if looks_like_antrea(text):
        return Format.ANTREA
    return None


def read_records(
    lines: Iterable[str] | Iterable[bytes], fmt: Format | None = None
) -> Iterator[tuple[int, FlowRecord] | LineProblem | Format]:
    """(line number, record) of one log, in order; a `LineProblem` for each line that
    is not one (the rest are still read). Lines may be bytes (a file opened in binary:
    JSON is decoded straight from them, and a line that is not UTF-8 is malformed).
    The first item yielded is the `Format` used; if none can be told, a single
    `LineProblem` for the first non-empty line and nothing else."""
    it: Iterator[str | bytes] = iter(lines)
    skipped: list[str | bytes] = []
    first = 0  # the first non-empty line, if any
    for line in it:
        skipped.append(line)
        if not line.strip():
            continue
        first = first or len(skipped)
        if fmt is not None:
            break
        fmt = detect_format(line[:MAX_LINE])
        # The first line decides, except that an AWS agent log has other lines first.
        if fmt is not None or len(skipped) >= DETECT_LINES:
            break
    if not first:
        return
    if fmt is None:
        yield LineProblem(
            first,
            "not a Hubble, Calico, Antrea or AWS network policy agent flow record, so the "
            "format of the file cannot be told (give --format)",
        )
        return
    yield fmt
    parse: Callable[[Any], FlowRecord | None] | None = None
    if fmt is Format.HUBBLE:
        parse = HubbleParser()
    elif fmt is Format.CALICO:
        parse = parse_calico
    for number, line in enumerate(chain(skipped, it), start=1):
        if len(line) > MAX_LINE:
            yield LineProblem(number, f"a line of {len(line)} characters is not a flow record")
            continue
        text = line.strip()
        if not text:
            continue
        try:
            if parse is not None:
                record = parse(orjson.loads(text))
            elif fmt is Format.AWS:
                record = _aws(text)
            else:
                record = parse_antrea(
                    text.decode("utf-8", "replace") if isinstance(text, bytes) else text
                )
        except NotAFlow:
            continue
        except RecursionError:
            yield LineProblem(number, "JSON nested too deeply to be a flow record")
            continue
        except json.JSONDecodeError as exc:  # orjson's error is one
            yield LineProblem(number, f"not valid JSON ({exc.msg})")
            continue
        except (ValueError, TypeError, AttributeError) as exc:
            yield LineProblem(number, f"not a {fmt.value.capitalize()} flow record: {exc}")
            continue
        if record is not None:
            yield number, record


def _aws(text: str | bytes) -> FlowRecord | None:
    line = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    if not looks_like_aws(line):
        return None  # the agent's other log lines
    return parse_aws(line, orjson.loads(text) if line.startswith("{") else None)
