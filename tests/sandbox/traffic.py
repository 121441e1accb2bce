"""A request loop against the sandbox site, counting per route what was sent and what failed.

It runs while a deploy runs: every route in turn, as fast as they answer. Each route is held
to the status the model declares it answers (never to whatever it answered first: a route
answering 404 to everyone would pass as healthy); any other status, or no answer within the
timeout, is a failure, with its time kept so a test can tell how long a route was down.
Requests from another machine's network (a forward open to at1 only) run in a thread of
their own that entered that machine's network namespace.
Raw sockets keep each request cheap and independent (no pooled connection outliving a reload).
"""

from __future__ import annotations

import ctypes
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    name: str  # how a test refers to it: a path through the proxy, or "ns3:PORT/path"
    address: str
    port: int
    path: str
    expected: int  # the status the model declares the route answers
    tls_name: str | None = None  # SNI and Host for HTTPS through the proxy
    netns: str | None = None  # /proc/PID/ns/net of the machine the requests come from


@dataclass
class RouteCount:
    expected: int
    sent: int = 0
    failed: int = 0
    failures: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, what)
    slowest: float = 0.0  # the longest a request waited for its answer (queued in a socket)
    last: str = ""  # the latest answer
    # Outages: runs of failed requests with no good answer between them, [first, last failure].
    windows: list[list[float]] = field(default_factory=list)

    def record(self, answer: str, seconds: float = 0.0) -> None:
        now = time.monotonic()
        self.sent += 1
        self.slowest = max(self.slowest, seconds)
        if answer != str(self.expected):
            self.failed += 1
            self.failures.append((now, answer))
            if self.last == str(self.expected) or not self.windows:
                self.windows.append([now, now])
            else:
                self.windows[-1][1] = now
        self.last = answer

    @property
    def outage_seconds(self) -> float:
        """The longest outage: from its first failed request to its last (0 when none)."""
        return max((end - start for start, end in self.windows), default=0.0)

    def describe(self) -> str:
        if not self.windows:
            return "-"
        total = sum(end - start for start, end in self.windows)
        return (f"{len(self.windows)} outage(s), longest {self.outage_seconds:.1f}s, "
                f"total {total:.1f}s ({self.failures[0][1]})")


# A request waits this long: a restarting service's socket queues connections for that time.
TIMEOUT = 10.0


def request(target: Target, context: ssl.SSLContext, timeout: float = TIMEOUT) -> int:
    """The status code of one GET over a fresh connection; raises OSError when there is none."""
    host = target.tls_name or target.address
    with socket.create_connection((target.address, target.port), timeout=timeout) as raw:
        sock = context.wrap_socket(raw, server_hostname=host) if target.tls_name else raw
        sock.settimeout(timeout)
        sock.sendall(f"GET {target.path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(1024)
            if not chunk:
                raise ConnectionError("connection closed before a status line")
            head += chunk
    return int(head.split(b" ", 2)[1])


_CLONE_NEWNET = 0x40000000


def enter_netns(path: str) -> None:
    """Move the calling thread (only it: a network namespace is per thread) into `path`'s."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


class Traffic:
    def __init__(self, targets: list[Target], cafile: str):
        self.targets = targets
        self.context = ssl.create_default_context(cafile=cafile)
        self.counts: dict[str, RouteCount] = {}
        self._stop = threading.Event()
        groups: dict[str | None, list[Target]] = {}
        for target in targets:
            groups.setdefault(target.netns, []).append(target)
        self._threads = [threading.Thread(target=self._loop, args=(netns, group), daemon=True)
                         for netns, group in groups.items()]

    def _loop(self, netns: str | None, targets: list[Target]) -> None:
        if netns:
            enter_netns(netns)
        while not self._stop.is_set():
            for target in targets:
                sent = time.monotonic()
                try:
                    got = str(request(target, self.context))
                except OSError as err:
                    got = f"{type(err).__name__}: {err}"
                self.counts[target.name].record(got, time.monotonic() - sent)
            time.sleep(0.02)

    def start(self) -> None:
        for target in self.targets:
            self.counts[target.name] = RouteCount(expected=target.expected,
                                                  last=str(target.expected))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    @property
    def sent(self) -> int:
        return sum(c.sent for c in self.counts.values())

    @property
    def slowest(self) -> float:
        return max((c.slowest for c in self.counts.values()), default=0.0)

    def failed_routes(self) -> set[str]:
        return {name for name, c in self.counts.items() if c.failed}

    def failing_at_the_end(self) -> set[str]:
        return {name for name, c in self.counts.items() if c.last != str(c.expected)}

    def report(self) -> str:
        lines = [f"{'ROUTE':<28} {'SENT':>6} {'FAILED':>6} {'SLOWEST':>8}  OUTAGES"]
        for name, c in sorted(self.counts.items()):
            lines.append(f"{name:<28} {c.sent:>6} {c.failed:>6} {c.slowest:>7.2f}s  {c.describe()}")
        return "\n".join(lines)


@contextmanager
def running(targets: list[Target], cafile: str) -> Iterator[Traffic]:
    traffic = Traffic(targets, cafile)
    traffic.start()
    try:
        yield traffic
    finally:
        traffic.stop()


REPORTS: list[str] = []  # every request loop's report, printed at the end of the test run
