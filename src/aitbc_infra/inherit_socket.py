"""Run a Python program on the listening socket systemd hands it (socket activation).

    python inherit_socket.py -m MODULE [ARG...]
    python inherit_socket.py -c CODE [ARG...]
    python inherit_socket.py SCRIPT [ARG...]

Installed on the hosts and run by the units of services that bind their port with the standard
library's `socketserver` (http.server's HTTPServer and ThreadingHTTPServer), which cannot take a
socket from systemd themselves: the program's first server adopts the socket systemd passed
instead of binding its own. The socket outlives the process, so a restart queues connections in
the kernel instead of refusing them. SIGTERM stops the server after the request in hand.

Standard library only, and nothing of this project: it runs in each release's venv.
"""

from __future__ import annotations

import os
import runpy
import signal
import socket
import socketserver
import sys
import threading

SD_LISTEN_FDS_START = 3  # the first file descriptor systemd passes (sd_listen_fds(3))
USAGE = "usage: inherit_socket.py -m MODULE [ARG...] | -c CODE [ARG...] | SCRIPT [ARG...]"


def inherited_socket() -> socket.socket | None:
    """The one socket systemd passed this process, or None when started without one."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    count = os.environ.get("LISTEN_FDS", "0")
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)  # not for the program's own children
    if count != "1":
        raise SystemExit(f"inherit_socket: expected one socket from systemd, got {count}")
    return socket.socket(fileno=SD_LISTEN_FDS_START)


def adopt(listener: socket.socket) -> list[socketserver.BaseServer]:
    """Make the next TCP server created take `listener`; returns the list it will be added to."""
    adopted: list[socketserver.BaseServer] = []
    bind, activate = socketserver.TCPServer.server_bind, socketserver.TCPServer.server_activate

    def server_bind(self: socketserver.TCPServer) -> None:
        if adopted:  # only the first server: a program's other servers bind as they say
            return bind(self)
        self.socket.close()
        self.socket = listener
        # HTTPServer.server_bind reads this back for its server_name and server_port.
        self.server_address = listener.getsockname()
        adopted.append(self)

    def server_activate(self: socketserver.TCPServer) -> None:
        if self not in adopted:
            activate(self)
        # The adopted socket already listens, with systemd's backlog: listen() again would
        # shrink it to request_queue_size, and connections queued during a restart would wait.

    socketserver.TCPServer.server_bind = server_bind
    socketserver.TCPServer.server_activate = server_activate
    return adopted


def stop_gracefully(adopted: list[socketserver.BaseServer]) -> None:
    """On SIGTERM, let serve_forever() return after the request in hand (shutdown() blocks
    until it has, so it runs in a thread; the program's own code then ends as on Ctrl-C)."""

    def on_term(signum: int, _frame) -> None:
        if not adopted:  # not serving yet: nothing to finish
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        for server in adopted:
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)


def run(argv: list[str]) -> None:
    """Run the program as `python ARGV...` would, sys.argv and sys.path[0] included."""
    if not argv or argv[0] in ("-m", "-c") and len(argv) < 2:
        raise SystemExit(USAGE)
    if argv[0] == "-m":
        sys.argv = [argv[1], *argv[2:]]
        sys.path[0] = os.getcwd()
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    elif argv[0] == "-c":
        sys.argv = ["-c", *argv[2:]]
        sys.path[0] = ""
        exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102 (python -c)
    else:
        sys.argv = list(argv)
        sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
        runpy.run_path(argv[0], run_name="__main__")


def main() -> None:
    listener = inherited_socket()
    if listener is not None:
        stop_gracefully(adopt(listener))
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
