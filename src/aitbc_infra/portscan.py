"""Which TCP ports answer: a connect() to each, all at once, as a client on the network would.

Run where the view is wanted (`ip netns exec NS python -m aitbc_infra.portscan ...` for the
sandbox's outside view). A port "answers" when the handshake completes; a refusal (RST) and a
silent drop (a firewall's DROP: the connect times out) both count as closed.
Output: one `ADDRESS PORT` line per port that answered, sorted. Standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
from ipaddress import IPv4Address

# Under the default soft limit of 1024 descriptors, a scan of 1024 ports at once would fail
# with EMFILE, which reads as "closed": main() raises the soft limit to 4096 first.
_PARALLEL = 1024
# New connections per second to one address. A firewall's SYN-flood protection (firehol's
# `protection strong`: 100/s, burst 50) drops SYNs beyond its limit, and a dropped SYN reads as
# a closed port: a scan faster than that would miss ports that are open.
RATE = 80


def parse_ports(spec: str) -> list[int]:
    """"22,80,8000-8010" -> [22, 80, 8000, ..., 8010]."""
    ports: set[int] = set()
    for part in spec.split(","):
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        if not 1 <= first <= last <= 65535:
            raise ValueError(f"not a port or port range: {part!r}")
        ports.update(range(first, last + 1))
    return sorted(ports)


async def _answers(address: str, port: int, timeout: float, gate: asyncio.Semaphore,
                   start: float) -> bool:
    await asyncio.sleep(start)
    async with gate:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
        except (TimeoutError, OSError):
            return False
        writer.close()
        with contextlib.suppress(OSError):  # closed at once: a reset is an answer too
            await writer.wait_closed()
        return True


def schedule(targets: list[tuple[str, int]], rate: float) -> list[float]:
    """When each connect starts (seconds from now): each address at `rate` per second, the
    addresses side by side."""
    seen: dict[str, int] = {}
    starts = []
    for address, _ in targets:
        starts.append(seen.get(address, 0) / rate)
        seen[address] = seen.get(address, 0) + 1
    return starts


async def scan(targets: list[tuple[str, int]], timeout: float,
               rate: float = RATE) -> list[tuple[str, int]]:
    gate = asyncio.Semaphore(_PARALLEL)
    results = await asyncio.gather(*(_answers(a, p, timeout, gate, start) for (a, p), start
                                     in zip(targets, schedule(targets, rate), strict=True)))
    return sorted((t for t, ok in zip(targets, results, strict=True) if ok),
                  key=lambda t: (IPv4Address(t[0]), t[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aitbc_infra.portscan",
                                     description="Print `ADDRESS PORT` for every TCP port that "
                                     "completes a handshake.")
    parser.add_argument("targets", nargs="+", metavar="ADDRESS:PORTS",
                        help="an IPv4 address and its ports, e.g. 10.231.0.2:1-1024,8000")
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds per connect")
    parser.add_argument("--rate", type=float, default=RATE,
                        help=f"new connections per second to each address (default {RATE})")
    args = parser.parse_args(argv)
    targets = []
    try:
        for item in args.targets:
            address, _, ports = item.partition(":")
            IPv4Address(address)
            targets += [(address, p) for p in parse_ports(ports)]
    except ValueError as exc:
        parser.error(str(exc))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    for address, port in asyncio.run(scan(targets, args.timeout, args.rate)):
        print(address, port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
