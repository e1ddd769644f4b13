"""The exec subresource of the fake API server: a WebSocket upgrade speaking the
Kubernetes channel protocol, with results scripted per pod.

Wire format, as the API server and the ``kubernetes`` client speak it:

- the client sends ``GET /api/v1/namespaces/NS/pods/NAME/exec?command=..&stdout=true..``
  with ``Upgrade: websocket`` and ``Sec-WebSocket-Protocol: v5.channel.k8s.io,
  v4.channel.k8s.io`` (kubernetes/stream/ws_client.py ``create_websocket``);
- every binary message starts with one channel byte: 1 stdout, 2 stderr, 3 the final
  status (a meta/v1 Status as JSON), 255 (v5 only) "close this channel";
- a non-zero exit is ``{"status": "Failure", "reason": "NonZeroExitCode", "details":
  {"causes": [{"reason": "ExitCode", "message": "<code>"}]}}``
  (k8s.io/apimachinery/pkg/util/remotecommand/constants.go; the client reads
  ``details.causes[0].message`` as the code, ws_client.py ``returncode``);
- a command that cannot start (no such binary) is a Failure with reason InternalError
  and the runtime's message, no ExitCode cause.

The WebSocket layer is wsproto (sans-I/O): the existing threaded HTTPS server owns the
socket; wsproto parses the handshake and frames. Nothing here is hand-rolled framing.
"""

from __future__ import annotations

import json
import shlex
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Request,
)

#: what the API server prefers when the client offers both (KEP-4006)
SUBPROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDOUT, STDERR, ERROR = 1, 2, 3


@dataclass(frozen=True)
class ExecResult:
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    #: the runtime could not start the command at all (no such executable)
    start_error: str | None = None

    def status(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"metadata": {}}
        if self.start_error is not None:
            return meta | {
                "status": "Failure",
                "message": self.start_error,
                "reason": "InternalError",
                "code": 500,
            }
        if self.exit_code == 0:
            return meta | {"status": "Success"}
        return meta | {
            "status": "Failure",
            "message": f"command terminated with non-zero exit code: exit status {self.exit_code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(self.exit_code)}]},
        }


#: (argv, container or "") -> what the container answers
ExecHandler = Callable[[list[str], str], ExecResult]


def _not_found(binary: str) -> ExecResult:
    return ExecResult(
        start_error=(
            "OCI runtime exec failed: exec failed: unable to start container process: "
            f'exec: "{binary}": executable file not found in $PATH: unknown'
        )
    )


@dataclass
class ScriptedShell:
    """A container image as far as a connectivity probe can tell: which tools it
    has and what connecting to each address does ("connected", "refused", "timeout").

    Understands the commands a probe sends: ``sh -c 'command -v TOOL'`` and the
    connect forms of nc, bash /dev/tcp, curl and wget. Anything else exits 127.
    """

    tools: frozenset[str] = frozenset({"sh", "nc"})
    outcomes: Mapping[tuple[str, int], str] = field(default_factory=dict)
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, argv: list[str], container: str) -> ExecResult:
        self.calls.append(argv)
        if argv[:1] == ["timeout"] and "timeout" in self.tools and len(argv) > 2:
            argv = argv[2:]  # coreutils timeout N CMD...: the command runs under it
        if not argv or argv[0] not in self.tools:
            return _not_found(argv[0] if argv else "")
        if argv[0] == "sh" and argv[1:2] == ["-c"]:
            return self._sh(argv[2] if len(argv) > 2 else "")
        return self._connect(argv)

    def _sh(self, script: str) -> ExecResult:
        words = shlex.split(script)
        if words[:2] == ["command", "-v"]:
            found = [w for w in words[2:] if w in self.tools]
            return ExecResult(
                stdout="".join(f"/usr/bin/{w}\n" for w in found), exit_code=0 if found else 1
            )
        return ExecResult(stderr=f"sh: {script}: not found\n", exit_code=127)

    def _connect(self, argv: list[str]) -> ExecResult:
        tool = argv[0]
        target = _target_of(argv)
        if target is None:
            return ExecResult(stderr=f"{tool}: usage\n", exit_code=2)
        outcome = self.outcomes.get(target, "timeout")
        host, port = target
        if outcome == "connected":
            return ExecResult(stderr=f"Connection to {host} {port} port [tcp/*] succeeded!\n")
        if outcome == "refused":
            messages = {
                "nc": f"nc: connect to {host} port {port} (tcp) failed: Connection refused\n",
                "curl": f"curl: (7) Failed to connect to {host} port {port}: Connection refused\n",
                "wget": f"wget: can't connect to remote host ({host}): Connection refused\n",
                "bash": f"bash: connect: Connection refused\nbash: /dev/tcp/{host}/{port}: "
                "Connection refused\n",
            }
            code = {"curl": 7, "wget": 1}.get(tool, 1)
            return ExecResult(stderr=messages[tool], exit_code=code)
        # timeout: each tool's own way of saying it gave up
        if tool == "curl":
            return ExecResult(stderr="curl: (28) Connection timed out\n", exit_code=28)
        if tool == "bash":  # `timeout` kills bash: 124
            return ExecResult(exit_code=124)
        if tool == "wget":
            return ExecResult(stderr="wget: download timed out\n", exit_code=1)
        return ExecResult(
            stderr=f"nc: connect to {host} port {port} (tcp) timed out\n", exit_code=1
        )


def _target_of(argv: list[str]) -> tuple[str, int] | None:
    """The (host, port) a connect command names, whatever the tool."""
    if argv[0] == "nc":
        args = [a for a in argv[1:] if not a.startswith("-")]
        # -w takes a value: drop the number right after it
        if "-w" in argv:
            args.remove(argv[argv.index("-w") + 1])
        return (args[0], int(args[1])) if len(args) >= 2 and args[1].isdigit() else None
    text = " ".join(argv)
    for marker in ("/dev/tcp/", "telnet://", "http://"):
        if marker in text:
            rest = text.split(marker, 1)[1].split()[0].strip("'\"/")
            host, _, port = rest.replace("/", ":").partition(":")
            port = port.split(":")[0]
            if port.isdigit():
                return host.strip("[]"), int(port)
    return None


def serve_exec(
    sock: socket.socket, request_head: bytes, handler: ExecHandler, argv: list[str], container: str
) -> str | None:
    """Complete the WebSocket handshake on ``sock`` (the request head already read by
    http.server), run ``handler`` and send its channels; returns the subprotocol."""
    ws = WSConnection(ConnectionType.SERVER)
    ws.receive_data(request_head)
    request = next((e for e in ws.events() if isinstance(e, Request)), None)
    if request is None:
        return None
    offered = [p.strip() for p in request.subprotocols]
    chosen = next((p for p in SUBPROTOCOLS if p in offered), None)
    sock.sendall(ws.send(AcceptConnection(subprotocol=chosen)))
    result = handler(argv, container)
    out = b""
    if result.stdout:
        out += ws.send(BytesMessage(bytes([STDOUT]) + result.stdout.encode()))
    if result.stderr:
        out += ws.send(BytesMessage(bytes([STDERR]) + result.stderr.encode()))
    out += ws.send(BytesMessage(bytes([ERROR]) + json.dumps(result.status()).encode()))
    out += ws.send(CloseConnection(code=1000))
    sock.sendall(out)
    sock.settimeout(2)
    try:  # wait for the client's close frame, as a well-behaved server does
        while data := sock.recv(4096):
            ws.receive_data(data)
            if any(isinstance(e, CloseConnection) for e in ws.events()):
                break
    except OSError:
        pass
    return chosen
