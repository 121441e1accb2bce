"""inherit_socket.py: a stdlib server run on the socket it is handed, as systemd hands it.

The test plays systemd: it listens, passes the socket as fd 3 with LISTEN_FDS/LISTEN_PID, and
keeps its own copy, so connections made while no process serves wait in the socket's queue.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from aitbc_infra.render import INHERIT_SOCKET_SOURCE

# A program as the trade exchange's: it binds its own port with http.server. A second bind of
# the port the test already holds would fail (EADDRINUSE): serving proves the socket was adopted.
PROGRAM = """import sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(float(self.path.strip("/") or 0))  # /SECONDS: a slow request
        body = f"{sys.argv[1]} {self.server.server_port}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
try:
    server.serve_forever()
finally:
    server.server_close()
print("stopped after serving", flush=True)
"""


def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def _start(tmp_path: Path, listener: socket.socket, name: str) -> subprocess.Popen:
    program = tmp_path / "server.py"
    program.write_text(PROGRAM)
    port, fd = listener.getsockname()[1], listener.fileno()
    # The child's fd 3 (SD_LISTEN_FDS_START) is the socket; exec keeps the shell's pid, which
    # LISTEN_PID must name, as systemd sets it.
    return subprocess.Popen(
        ["/bin/sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh", sys.executable,
         str(INHERIT_SOCKET_SOURCE), str(program), name, str(port)],
        preexec_fn=lambda: os.dup2(fd, 3), pass_fds=(3,),  # noqa: PLW1509 (no threads touch it)
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _get(port: int, path: str = "/", timeout: float = 10) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
        return resp.read().decode()


def _wait_serving(port: int) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            return _get(port, timeout=1)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_stdlib_server_serves_on_the_inherited_socket(tmp_path):
    listener = _listener()
    port = listener.getsockname()[1]
    proc = _start(tmp_path, listener, "first")
    try:
        assert _wait_serving(port) == f"first {port}"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped after serving" in out


def test_sigterm_finishes_the_request_in_hand_and_the_next_process_answers_the_queue(tmp_path):
    listener = _listener()
    port = listener.getsockname()[1]
    first = _start(tmp_path, listener, "first")
    _wait_serving(port)
    answers: dict[str, str] = {}
    slow = threading.Thread(target=lambda: answers.update(slow=_get(port, "/1")))
    slow.start()
    time.sleep(0.3)  # the slow request is being handled
    first.send_signal(signal.SIGTERM)
    slow.join(timeout=10)
    assert first.wait(timeout=10) == 0
    assert answers["slow"] == f"first {port}"
    # No process serves now, yet the socket is open: this request waits in its queue...
    queued = threading.Thread(target=lambda: answers.update(queued=_get(port)))
    queued.start()
    time.sleep(0.5)
    assert "queued" not in answers
    # ...and the next process answers it: what a restart under systemd looks like.
    second = _start(tmp_path, listener, "second")
    try:
        queued.join(timeout=10)
        assert answers["queued"] == f"second {port}"
    finally:
        second.terminate()
        second.communicate(timeout=10)


def test_without_a_socket_the_program_binds_as_it_says(tmp_path):
    program = tmp_path / "server.py"
    program.write_text(PROGRAM)
    probe = _listener()
    port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen([sys.executable, str(INHERIT_SOCKET_SOURCE), str(program), "own", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_serving(port) == f"own {port}"
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
