"""GET-only transport to a live API server, bounded so that a broken or hostile server
cannot hang, loop or crash a read.

`Limits` bounds one read: a wall-clock deadline for the whole read (credential plugin,
discovery, every page of every list, every retry), a wall-clock timeout per request
(a socket timeout alone bounds each `recv`, not a server that trickles a byte at a
time), a page count per list (`live` enforces it) and a number of attempts. A body
that is not the JSON object the API promises, or a status that outlives the retries,
is a `RequestFailed` naming the path and what happened; the caller decides whether
that is a gap or fatal. With `live`, the only module that imports `kubernetes` (lazily:
it is slow to import and only live reads need it). Imports `errors`.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml

from .errors import NetpolDoctorError

__all__ = [
    "ClusterError",
    "DeadlineExceeded",
    "Limits",
    "ReadClock",
    "RequestFailed",
    "make_client",
]

T = TypeVar("T")

#: Defaults; kubectl has no overall deadline, but a diagnosis that waits longer than a
#: minute is not worth waiting for.
DEADLINE = 60.0
REQUEST_TIMEOUT = 30.0
#: 500 objects a page: half a million objects of one kind in one list.
MAX_PAGES = 1000
ATTEMPTS = 4
_CONNECT_TIMEOUT = 5.0
_MAX_WAIT = 8.0
_RETRIED = {
    429: "throttled",
    500: "server error",
    502: "bad gateway",
    503: "unavailable",
    504: "gateway timeout",
}


class ClusterError(NetpolDoctorError):
    """The cluster cannot be read at all (config, reachability, credentials, deadline)."""


class DeadlineExceeded(ClusterError):
    """The whole read overran `Limits.deadline`: too little was read to answer anything."""


class RequestFailed(NetpolDoctorError):
    """One GET gave no usable answer. `status` is the HTTP status (0: none or a 2xx whose
    body is unusable); `why` is a phrase for a gap's reason."""

    def __init__(self, path: str, status: int, why: str) -> None:
        super().__init__(f"GET {path}: {why}")
        self.path, self.status, self.why = path, status, why


@dataclass(frozen=True, slots=True)
class Limits:
    """What one live read may take; every bound is wall-clock seconds or a count."""

    deadline: float = DEADLINE
    request_timeout: float = REQUEST_TIMEOUT
    max_pages: int = MAX_PAGES
    attempts: int = ATTEMPTS


class ReadClock:
    """The wall-clock budget of one read, shared by every request and retry. It starts
    once the client is imported: a slow import is not a slow server."""

    def __init__(self, limits: Limits) -> None:
        importlib.import_module("kubernetes.client")
        importlib.import_module("kubernetes.config")
        self.limits = limits
        self._end = time.monotonic() + limits.deadline

    def remaining(self) -> float:
        return self._end - time.monotonic()

    def check(self, doing: str) -> float:
        """The seconds left; DeadlineExceeded, saying what was pending, when none are."""
        left = self.remaining()
        if left <= 0:
            raise self.expired(doing)
        return left

    def expired(self, doing: str) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"the live read did not finish within its {self.limits.deadline:g} s deadline "
            f"(--read-deadline) while {doing}"
        )


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    reason: str
    headers: Any
    body: bytes


class _Timeout(Exception):
    """A request outlived its wall-clock budget."""


class GetClient:
    """GET with bounded retries over the official client's configured ApiClient."""

    def __init__(self, api: Any, clock: ReadClock, server: str | None) -> None:
        self.api = api
        self.clock = clock
        self.server = server
        self.requests = 0
        self._lock = threading.Lock()

    def get(self, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        """The JSON object at `path`. RequestFailed for an answer that is an error or
        unusable; ClusterError when the server cannot be reached or rejects the
        credentials; DeadlineExceeded when the read is out of time."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import ConnectTimeoutError, HTTPError
        from urllib3.exceptions import TimeoutError as SocketTimeout

        limits = self.clock.limits
        doing = f"waiting for GET {path}"
        timed_out = f"no complete answer within the {limits.request_timeout:g} s request timeout"
        for attempt in range(1, limits.attempts + 1):
            budget = min(limits.request_timeout, self.clock.check(doing))
            with self._lock:
                self.requests += 1
            unreachable, headers = False, None
            try:
                answer = self._send(path, query or {}, budget)
            except _Timeout:
                self._deadline_cut(budget, doing)
                status, why = 0, timed_out
            except ApiException as exc:  # the client's wrapping of a TLS failure
                raise ClusterError(
                    f"cannot reach the API server{self._at()}: {_reason(exc)}"
                ) from None
            except HTTPError as exc:
                status = 0
                if _caused_by(exc, ConnectTimeoutError):  # NewConnectionError is one too
                    unreachable, why = True, f"cannot reach the API server{self._at()}"
                    why += f" ({_reason(exc)})"
                elif _caused_by(exc, SocketTimeout):
                    self._deadline_cut(budget, doing)
                    why = timed_out
                else:
                    why = f"the connection broke mid-answer ({_reason(exc)})"
            else:
                if 200 <= answer.status <= 299:
                    return _object(path, answer)
                if answer.status == 401:
                    raise ClusterError(
                        f"the API server{self._at()} rejected the credentials (401 "
                        "Unauthorized): the token may have expired; refresh it (e.g. run any "
                        "kubectl command) and retry"
                    )
                message = _status_message(answer)
                if answer.status not in _RETRIED:
                    raise RequestFailed(path, answer.status, message)
                status, headers = answer.status, answer.headers
                why = f"{_RETRIED[status]} ({status}: {message})"
            wait = _backoff(attempt, headers)
            if attempt == limits.attempts or wait >= self.clock.remaining():
                if unreachable:
                    raise ClusterError(why)
                plural = "s" if attempt > 1 else ""
                raise RequestFailed(path, status, f"{why}, after {attempt} attempt{plural}")
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _deadline_cut(self, budget: float, doing: str) -> None:
        """A timeout the read deadline imposed (not the request timeout) ends the read."""
        if budget < self.clock.limits.request_timeout:
            raise self.clock.expired(doing)

    def _at(self) -> str:
        return f" at {self.server}" if self.server else ""

    def _send(self, path: str, query: dict[str, str], budget: float) -> _Answer:
        responses: list[Any] = []  # the urllib3 response once its headers are in

        def request() -> _Answer:
            method, url, headers, _, _ = self.api.param_serialize(
                "GET",
                path,
                query_params=list(query.items()),
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            timeout = (min(_CONNECT_TIMEOUT, budget), budget)
            resp = self.api.call_api(method, url, header_params=headers, _request_timeout=timeout)
            responses.append(resp.response)
            body = resp.read()
            return _Answer(resp.status, str(resp.reason or ""), resp.headers, body)

        def cut() -> None:
            # Unblocks the abandoned thread's read, so it does not outlive the read.
            for resp in responses:
                with contextlib.suppress(OSError, ValueError, RuntimeError):
                    resp.shutdown()

        return _within(budget, request, cut)


def _within(seconds: float, work: Callable[[], T], abandon: Callable[[], None]) -> T:
    """`work()` on a daemon thread, waited for at most `seconds` of wall clock; a thread
    still blocked after that never holds the process, and `abandon` may unblock it."""
    result: list[T] = []
    error: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # re-raised in the waiting thread
            error.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="netpol-doctor-get", daemon=True).start()
    if not done.wait(seconds):
        abandon()
        raise _Timeout
    if error:
        raise error[0]
    return result[0]


def _object(path: str, answer: _Answer) -> dict[str, Any]:
    """The body as the JSON object the API promises, or RequestFailed saying what it is."""
    ctype = str((answer.headers or {}).get("Content-Type") or "no Content-Type")
    try:
        data = json.loads(answer.body)
    except UnicodeDecodeError:
        raise RequestFailed(path, 0, f"the answer is not JSON ({ctype}, not even text)") from None
    except json.JSONDecodeError as exc:
        if "json" in ctype:
            why = f"the answer is cut short or malformed JSON ({exc.msg} at byte {exc.pos} "
            raise RequestFailed(path, 0, why + f"of {len(answer.body)})") from None
        start = answer.body[:40].decode("utf-8", "replace").strip()
        raise RequestFailed(path, 0, f"the answer is not JSON ({ctype}: {start!r}...)") from None
    if not isinstance(data, dict):
        kind = _JSON_TYPES.get(type(data), type(data).__name__)
        why = f"the answer is a JSON {kind}, not the object the API promises"
        raise RequestFailed(path, 0, why)
    return data


_JSON_TYPES: dict[type, str] = {list: "array", str: "string", int: "number", float: "number"}
_JSON_TYPES |= {bool: "boolean", type(None): "null"}


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    return isinstance(exc, kind) or isinstance(getattr(exc, "reason", None), kind)


def _backoff(attempt: int, headers: Any) -> float:
    retry_after = None
    if headers is not None:
        value = headers.get("Retry-After") if hasattr(headers, "get") else None
        if value is not None and str(value).isdigit():
            retry_after = float(value)
    base = retry_after if retry_after is not None else 0.25 * 2 ** (attempt - 1)
    return min(_MAX_WAIT, base + random.uniform(0, 0.1))


def _reason(exc: BaseException) -> str:
    """Why a connection failed, as words: the operating system's reason when there is
    one ("connection refused"), never urllib3's object repr ("HTTPSConnection(host=...)")."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.strerror and not _is_wrapper(e):
            return e.strerror[:1].lower() + e.strerror[1:200]
        inner = getattr(e, "reason", None)
        todo += [e.__cause__, e.__context__, inner if isinstance(inner, BaseException) else None]
    inner = getattr(exc, "reason", None)
    text = str(inner or exc).split("\n")[0]
    # "HTTPSConnection(host='h', port=1): Failed to establish ...: [Errno 111] Connection
    # refused" -> "connection refused"
    text = re.sub(r"^<?[\w.]+(?: object at 0x[0-9a-f]+>|\([^)]*\))\s*:\s*", "", text)
    text = re.sub(r"^.*\[Errno -?\d+\]\s*", "", text)
    return (text[:1].lower() + text[1:])[:200]


def _is_wrapper(e: OSError) -> bool:
    """urllib3's errors subclass OSError without an errno of their own."""
    return type(e).__module__.startswith("urllib3")


def _status_message(answer: _Answer) -> str:
    """The Status object's message, on one short line whatever the server sent."""
    try:
        body = json.loads(answer.body)
        message = str(body.get("message") or answer.reason)
    except (TypeError, ValueError, AttributeError):
        message = answer.reason or "no message"
    return " ".join(message.split())[:300]


# --- credentials ---------------------------------------------------------------------


class _PluginTimeout(BaseException):
    """Not an Exception: kube_config turns any Exception from a credential plugin into a
    log line and carries on without credentials, which would end in a misleading 401."""

    def __init__(self, command: str) -> None:
        self.command = command


_PATCH_LOCK = threading.Lock()


def _bounded_popen(seconds: float) -> type[subprocess.Popen[str]]:
    class BoundedPopen(subprocess.Popen[str]):
        """The plugin process, given `seconds` to answer and killed (its whole process
        group, when it is not talking to a terminal) if it does not."""

        def __init__(self, args: Any, **kwargs: Any) -> None:
            self._group = kwargs.get("stdin") is None
            super().__init__(args, start_new_session=self._group, **kwargs)

        def communicate(self, input: Any = None, timeout: float | None = None) -> Any:
            try:
                return super().communicate(input, timeout=seconds)
            except subprocess.TimeoutExpired:
                try:
                    if self._group:
                        os.killpg(self.pid, signal.SIGKILL)
                    else:
                        self.kill()
                except ProcessLookupError:
                    pass
                self.wait()
                args = self.args if isinstance(self.args, list) else [self.args]
                raise _PluginTimeout(str(args[0] if args else "?")) from None

    return BoundedPopen


def make_client(
    kubeconfig: str | None, context: str | None, clock: ReadClock
) -> tuple[Any, str | None, str | None]:
    """An ApiClient for the kubeconfig context (exec plugins included, bounded by the
    clock) or in-cluster, with its context name and server."""
    from kubernetes import client
    from kubernetes import config as kube_config
    from kubernetes.config import exec_provider as _exec_provider
    from kubernetes.config.config_exception import ConfigException

    config: Any = kube_config  # the loaders carry no type hints
    exec_provider: Any = _exec_provider
    in_cluster = (
        kubeconfig is None
        and context is None
        and "KUBECONFIG" not in os.environ
        and not os.path.exists(os.path.expanduser("~/.kube/config"))
        and "KUBERNETES_SERVICE_HOST" in os.environ
    )
    cfg = client.Configuration()
    cfg.retries = 0  # retries are ours: bounded, with Retry-After
    source = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    try:
        if in_cluster:
            config.load_incluster_config(client_configuration=cfg)
            cfg.retries = 0
            return client.ApiClient(cfg), "in-cluster", cfg.host
        seconds = clock.check("loading the kubeconfig")
        shim = types.SimpleNamespace(Popen=_bounded_popen(seconds), PIPE=subprocess.PIPE)
        with _PATCH_LOCK:
            original = exec_provider.subprocess
            exec_provider.subprocess = shim
            try:
                config.load_kube_config(
                    config_file=kubeconfig, context=context, client_configuration=cfg
                )
                _, active = config.list_kube_config_contexts(config_file=kubeconfig)
            finally:
                exec_provider.subprocess = original
        # The refresh hook would run the plugin again mid-read, unbounded; a token that
        # expires within the read deadline then shows as a 401, which says so.
        cfg.refresh_api_key_hook = None
        cfg.retries = 0
        name = context or (active or {}).get("name")
        return client.ApiClient(cfg), name, cfg.host
    except _PluginTimeout as exc:
        raise ClusterError(
            f"the kubeconfig's credential plugin ({exc.command}) did not answer within "
            f"{clock.limits.deadline:g} s, the read deadline (--read-deadline); it was stopped"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.name}, line {mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ClusterError(
            f"cannot read the kubeconfig {where}: not valid YAML ({problem})"
        ) from None
    except ConfigException as exc:
        raise ClusterError(_config_problem(str(exc), kubeconfig, context, source)) from None
    except OSError as exc:
        raise ClusterError(f"cannot load the kubeconfig: {exc}") from None
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        # kube_config assumes a well-formed file; anything else surfaces as these.
        detail = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise ClusterError(
            f"cannot use the kubeconfig {source}: it is not a valid kubeconfig ({detail}); "
            + _SNAPSHOT_HINT
        ) from None


_SNAPSHOT_HINT = (
    "to analyse files instead, pass --snapshot PATH (manifests, or a dump from "
    "`kubectl get namespaces,nodes,pods,services,networkpolicies -A -o yaml`)"
)


def _config_problem(text: str, kubeconfig: str | None, context: str | None, source: str) -> str:
    """kube_config's ConfigException as one plain sentence with what to do instead."""
    first = text.splitlines()[0] if text else ""
    if "No configuration found" in first or "does not exist" in first:
        if kubeconfig or os.environ.get("KUBECONFIG"):
            missing = f"the kubeconfig {source} does not exist or holds no configuration"
        else:
            missing = (
                "no kubeconfig found ($KUBECONFIG is not set and ~/.kube/config does not "
                "exist) and not running in a pod"
            )
        return f"{missing}: give --kubeconfig FILE; {_SNAPSHOT_HINT}"
    if context and "Expected object with name" in first:
        return (
            f"the kubeconfig {source} has no context {context!r} "
            "(see `kubectl config get-contexts`)"
        )
    first = first.replace("Invalid kube-config file. ", "")
    return f"cannot use the kubeconfig {source}: {first}; {_SNAPSHOT_HINT}"
