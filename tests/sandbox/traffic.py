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

import _thread
import ctypes
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
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
    # Where the requests come from: a function giving /proc/PID/ns/net of that machine now (a
    # machine that reboots has a new PID 1, and its old namespace is gone with it).
    netns: Callable[[], str] | None = None


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
    """Move the calling OS thread (only it: a network namespace is per thread) into `path`'s."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


def os_thread(target, *args) -> Callable[[float], None]:
    """Run target(*args) on an OS thread of its own; returns a join(timeout) for it.

    pyinfra's CLI, imported by the deploy helpers, patches `threading` with gevent: a Thread is
    then a greenlet on the main OS thread, and setns() from it would move the main thread (and
    every process it starts) into the other network. The unpatched primitives start a real one.
    """
    try:
        from gevent.monkey import get_original
        start, allocate = get_original("_thread", ["start_new_thread", "allocate_lock"])
    except ImportError:  # nothing patched
        start, allocate = _thread.start_new_thread, _thread.allocate_lock
    done = allocate()
    done.acquire()

    def run() -> None:
        try:
            target(*args)
        finally:
            done.release()

    start(run, ())

    def join(timeout: float) -> None:
        if done.acquire(timeout=timeout):
            done.release()

    return join


def answer(target: Target, context: ssl.SSLContext) -> str:
    """The status of one request, or the error that stood in its way."""
    try:
        return str(request(target, context))
    except OSError as err:
        return f"{type(err).__name__}: {err}"


def by_network(targets: list[Target]) -> dict[str | None, list[Target]]:
    groups: dict[str | None, list[Target]] = {}
    for target in targets:
        groups.setdefault(target.netns, []).append(target)
    return groups


def answers(targets: list[Target], context: ssl.SSLContext) -> dict[str, str]:
    """One request per target, each from the network it is asked from: {name: answer}."""
    got: dict[str, str] = {}

    def ask(netns: Callable[[], str] | None, group: list[Target]) -> None:
        if netns:
            try:
                enter_netns(netns())
            except (OSError, LookupError) as err:  # the machine is down: no request went out
                got.update((t.name, f"{type(err).__name__}: {err}") for t in group)
                return
        got.update((t.name, answer(t, context)) for t in group)

    groups = by_network(targets)
    joins = [os_thread(ask, netns, group) for netns, group in groups.items() if netns]
    ask(None, groups.get(None, []))
    for join in joins:
        join(60)
    return got


class Traffic:
    def __init__(self, targets: list[Target], cafile: str):
        self.targets = targets
        self.context = ssl.create_default_context(cafile=cafile)
        self.counts: dict[str, RouteCount] = {}
        self._stopping = False  # read by every loop, set once: no lock of either kind needed
        self._groups = by_network(targets)
        self._joins: list[Callable[[float], None]] = []

    def _loop(self, netns: Callable[[], str] | None, targets: list[Target]) -> None:
        entered = None
        while not self._stopping:
            if netns:  # followed each round: after a reboot the machine's namespace is another
                try:
                    path = netns()
                    if path != entered:
                        enter_netns(path)
                        entered = path
                except (OSError, LookupError) as err:
                    for target in targets:
                        self.counts[target.name].record(f"{type(err).__name__}: {err}", 0.0)
                    time.sleep(0.1)
                    continue
            for target in targets:
                sent = time.monotonic()
                got = answer(target, self.context)
                self.counts[target.name].record(got, time.monotonic() - sent)
            # An OS thread holds the interpreter while the greenlets wait: paced, it leaves the
            # requests through the proxy their share.
            time.sleep(0.1 if netns else 0.02)

    def start(self) -> None:
        for target in self.targets:
            self.counts[target.name] = RouteCount(expected=target.expected,
                                                  last=str(target.expected))
        for netns, group in self._groups.items():
            if netns:
                self._joins.append(os_thread(self._loop, netns, group))
            else:
                thread = threading.Thread(target=self._loop, args=(None, group), daemon=True)
                thread.start()
                self._joins.append(thread.join)

    def stop(self) -> None:
        self._stopping = True
        for join in self._joins:
            join(30)

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
