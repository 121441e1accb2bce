"""Demo GPU miner, stdlib only so it runs with any python3 and no install step.

Run: python miner.py --url URL --miner-id ID [--interval 3] mine
Posts URL/v1/miners/heartbeat?miner_id=ID every --interval seconds, one line per poll on stdout.
"""

import argparse
import json
import signal
import threading
import time
import urllib.parse
import urllib.request


def heartbeat(url: str, miner_id: str) -> str:
    query = urllib.parse.urlencode({"miner_id": miner_id})
    req = urllib.request.Request(f"{url.rstrip('/')}/v1/miners/heartbeat?{query}", data=b"{}",
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        body = json.load(resp)
    return f"ok status={resp.status} coordinator={body.get('service', '?')}"


def mine(args: argparse.Namespace) -> None:
    stop = threading.Event()
    # systemd stops with SIGTERM: finish the current poll's line and exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"miner {args.miner_id}: heartbeat to {args.url} every {args.interval}s", flush=True)
    polls = 0
    while not stop.is_set():
        polls += 1
        started = time.monotonic()
        try:
            status = heartbeat(args.url, args.miner_id)
        except Exception as exc:  # a coordinator outage must not kill the miner; retry next poll
            status = f"error {type(exc).__name__}: {exc}"
        took = (time.monotonic() - started) * 1000
        print(f"miner {args.miner_id}: poll {polls} {status} ({took:.0f} ms)", flush=True)
        stop.wait(args.interval)
    print(f"miner {args.miner_id}: stopped after {polls} polls", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="AITBC demo GPU miner")
    parser.add_argument("--url", default="http://127.0.0.1:8090", help="coordinator base URL")
    parser.add_argument("--miner-id", default="gpu-miner-1")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between heartbeats")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("mine", help="send heartbeats until stopped")
    args = parser.parse_args(argv)
    if args.command == "mine":
        mine(args)


if __name__ == "__main__":
    main()
