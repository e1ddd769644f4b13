"""Loading on every CPU: a large input, cut into units (snapshot._read_parallel), is
read by this process and forked children, each taking the next unit left.

A forked child shares the text already read (copy-on-write), so nothing is sent to
it; it sends back each unit's result, pickled, over an anonymous pipe, as soon as it
has it. Those bytes are made by this program's own child from its own model objects
and never touch a file, so unpickling them runs nothing a user chose (a snapshot
file is never unpickled: compact.py). A child that fails in any way (killed, out of
memory, an object pickle cannot take) only costs time: the units it did not send
are run here, so the answer never depends on whether the sharing worked.

Forking is skipped where it is unsafe or useless: off Linux, with other
threads running (the MCP server, a live read: a child would inherit their locks
held), on one CPU, and when NETPOL_DOCTOR_JOBS=1.
"""

from __future__ import annotations

import copyreg
import dataclasses
import operator
import os
import pickle
import sys
import threading
import types
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .. import findings, model

__all__ = ["JOBS_ENV", "cpus", "pickle_by_constructor", "run_shared"]

T = TypeVar("T")

#: NETPOL_DOCTOR_JOBS=1 keeps loading in one process.
JOBS_ENV = "NETPOL_DOCTOR_JOBS"


def cpus() -> int:
    """How many processes may load at once: 1 where forking is unsafe or off."""
    # Linux only: macOS frameworks are not fork-safe (Python itself spawns there).
    if not sys.platform.startswith("linux") or threading.active_count() > 1:
        return 1
    try:
        wanted = int(os.environ.get(JOBS_ENV, "0"))
    except ValueError:
        wanted = 0
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 1
    return max(1, min(wanted, available) if wanted > 0 else available)


def run_shared(units: Sequence[Callable[[], T]]) -> list[T]:
    """Each unit's result, in order. This process and forked children (one per
    further CPU) take the units in order, each the next one left as soon as it is
    free, so a unit that costs more than expected delays no one: give the costliest
    first. A child sends each result as soon as it has it, and this process unpickles
    what has arrived between its own units: the transfer is shared out like the work.
    A unit a child took but did not send back is run here."""
    workers = min(cpus(), len(units))
    if workers < 2:
        return [unit() for unit in units]
    import multiprocessing  # here: 15-30 ms at start that a small input does not need

    # The first (costliest) unit is this process's: it has no transfer to pay.
    taken = multiprocessing.get_context("fork").Value("q", 1)  # the next unit to take

    def take() -> int | None:
        with taken.get_lock():
            k = taken.value
            taken.value = k + 1
        return k if k < len(units) else None

    # All children are forked before any reader thread starts: no fork beside a thread.
    forked = [c for c in (_start(units, take) for _ in range(workers - 1)) if c is not None]
    children = [_Child(pid, read) for pid, read in forked]
    results: dict[int, Any] = {0: units[0]()}
    while (k := take()) is not None:
        results[k] = units[k]()
        for child in children:
            child.unpickle_into(results)
    for child in children:
        child.finish(results)
    return [results[k] if k in results else unit() for k, unit in enumerate(units)]


class _Child:
    """A forked child's end here: its frames, read off the pipe by a thread as they
    come (so the child never waits on a full pipe), unpickled by the caller."""

    def __init__(self, pid: int, read: int) -> None:
        self.pid = pid
        self.frames: list[bytes] = []
        self.reader = threading.Thread(target=self._read, args=(read,), daemon=True)
        self.reader.start()

    def _read(self, read: int) -> None:
        with os.fdopen(read, "rb") as pipe:
            while len(head := pipe.read(8)) == 8:
                frame = pipe.read(int.from_bytes(head, "big"))
                if len(frame) < int.from_bytes(head, "big"):
                    return  # the child died mid-frame: that unit is run here
                self.frames.append(frame)  # list.append is atomic under the GIL

    def unpickle_into(self, results: dict[int, Any]) -> None:
        while self.frames:
            k, value = pickle.loads(self.frames.pop(0))  # our own child's: see above
            results[k] = value

    def finish(self, results: dict[int, Any]) -> None:
        self.reader.join()
        os.waitpid(self.pid, 0)
        self.unpickle_into(results)


def _start(
    units: Sequence[Callable[[], Any]], take: Callable[[], int | None]
) -> tuple[int, int] | None:
    """A child taking units until none is left and sending each (index, result) as a
    length-prefixed pickle: its pid and the read end of its pipe, or None when no
    child could be made."""
    try:
        read, write = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return None
    if pid == 0:  # the child: never returns
        os.close(read)
        code = 1
        try:
            with os.fdopen(write, "wb") as out:
                while (k := take()) is not None:
                    frame = pickle.dumps((k, units[k]()), protocol=pickle.HIGHEST_PROTOCOL)
                    out.write(len(frame).to_bytes(8, "big") + frame)
                    out.flush()
            code = 0
        finally:
            # os._exit: no atexit handlers, no flushing of the parent's copied buffers.
            os._exit(code)
    os.close(write)
    return pid, read


# Frozen slotted dataclasses pickle through a generic __setstate__ that calls
# dataclasses.fields() for each object: most of a pod's transfer. The classes a
# large input is made of are pickled as their fields and rebuilt by a copy of
# `model.fast_constructor`, bound to a name in this module: pickle finds a function
# by name, and calling the constructor itself saves a lookup per object.
def pickle_by_constructor(cls: type) -> None:
    """Pickle the frozen, slotted dataclass `cls` as its fields, rebuilt by
    `model.fast_constructor`."""
    fields = dataclasses.fields(cls)
    assert all(f.init for f in fields), cls
    values = operator.attrgetter(*(f.name for f in fields))
    made: types.FunctionType = model.fast_constructor(cls)  # type: ignore[assignment]
    name = f"_make_{cls.__module__.replace('.', '_')}_{cls.__qualname__.replace('.', '_')}"
    make = types.FunctionType(made.__code__, made.__globals__, name)
    make.__module__, make.__qualname__ = __name__, name
    globals()[name] = make
    if len(fields) == 1:
        copyreg.pickle(cls, lambda obj: (make, (values(obj),)))
    else:
        copyreg.pickle(cls, lambda obj: (make, values(obj)))


def _frozen_dataclasses(module: Any) -> list[type]:
    return [
        cls
        for cls in vars(module).values()
        if isinstance(cls, type)
        and cls.__module__ == module.__name__
        and dataclasses.is_dataclass(cls)
        and "__slots__" in vars(cls)
        and all(f.init for f in dataclasses.fields(cls))
    ]


for _cls in _frozen_dataclasses(model) + _frozen_dataclasses(findings):
    pickle_by_constructor(_cls)
