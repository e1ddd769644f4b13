"""Loading on both cores: the later part of a large input is read in a forked child
while this process reads the earlier part.

A forked child shares the text already read (copy-on-write), so nothing is sent to
it; it sends back what it parsed, pickled, over an anonymous pipe. Those bytes are
made by this program's own child from its own model objects and never touch a file,
so unpickling them runs nothing a user chose (a snapshot file is never unpickled:
compact.py). A child that fails in any way (killed, out of memory, an object pickle
cannot take) only costs time: its task is run here instead, so the answer never
depends on whether the split worked.

Forking is skipped where it is unsafe or useless: without `os.fork`, with other
threads running (the MCP server, a live read: a child would inherit their locks
held), on one CPU, and when NETPOL_DOCTOR_JOBS=1.
"""

from __future__ import annotations

import copyreg
import dataclasses
import multiprocessing
import operator
import os
import pickle
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from .. import findings, model

__all__ = ["JOBS_ENV", "cpus", "pickle_by_constructor", "run_shared"]

T = TypeVar("T")

#: NETPOL_DOCTOR_JOBS=1 keeps loading in one process.
JOBS_ENV = "NETPOL_DOCTOR_JOBS"


def cpus() -> int:
    """How many processes may load at once: 1 where forking is unsafe or off."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
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
    first. A unit a child took but did not send back is run here."""
    workers = min(cpus(), len(units))
    if workers < 2:
        return [unit() for unit in units]
    # The first (costliest) unit is this process's: it has no transfer to pay.
    taken = multiprocessing.get_context("fork").Value("q", 1)  # the next unit to take

    def work(pickled: bool, first: int | None = None) -> dict[int, Any]:
        done: dict[int, Any] = {}
        if first is not None:
            done[first] = units[first]()
        while True:
            with taken.get_lock():
                k = taken.value
                taken.value = k + 1
            if k >= len(units):
                return done
            result = units[k]()
            # A child pickles each result as it goes: the pickling is then part of
            # the units' cost, which the sharing evens out, not a tail of its own.
            done[k] = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL) if pickled else result

    children = [_start(partial(work, True)) for _ in range(workers - 1)]
    results = work(False, 0)
    for child in children:
        sent: dict[int, bytes] = _finish(child, dict)
        for k, data in sent.items():
            results[k] = pickle.loads(data)  # from our own child: see the module's docstring
    return [results[k] if k in results else unit() for k, unit in enumerate(units)]


def _start(task: Callable[[], Any]) -> tuple[int, int] | None:
    """(pid, read end of its pipe) of a child running `task`, or None when no child
    could be made."""
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
            data = pickle.dumps(task(), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write, "wb") as out:
                out.write(data)
            code = 0
        finally:
            # os._exit: no atexit handlers, no flushing of the parent's copied buffers.
            os._exit(code)
    os.close(write)
    return pid, read


def _finish(child: tuple[int, int] | None, otherwise: Callable[[], T]) -> T:
    """What the child's task returned, or `otherwise()` if it did not."""
    if child is None:
        return otherwise()
    pid, read = child
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not data:
        return otherwise()
    result: T = pickle.loads(data)  # from our own child: see the module's docstring
    return result


# Frozen slotted dataclasses pickle through a generic __setstate__ that calls
# dataclasses.fields() for each object: most of a pod's transfer. The classes a
# large input is made of are rebuilt from their fields by `fast_constructor`.
def pickle_by_constructor(cls: type) -> None:
    """Pickle the frozen, slotted dataclass `cls` as its fields, rebuilt by
    `model.fast_constructor`."""
    fields = dataclasses.fields(cls)
    assert all(f.init for f in fields), cls
    values = operator.attrgetter(*(f.name for f in fields))
    if len(fields) == 1:
        copyreg.pickle(cls, lambda obj: (_rebuild, (cls, (values(obj),))))
    else:
        copyreg.pickle(cls, lambda obj: (_rebuild, (cls, values(obj))))


def _rebuild(cls: type[T], values: tuple[Any, ...]) -> T:
    return model.fast_constructor(cls)(*values)


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
