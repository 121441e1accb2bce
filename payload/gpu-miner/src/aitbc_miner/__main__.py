"""Demo GPU miner: polls COORDINATOR_URL/v1/health every MINER_POLL_SECONDS, one log line each.

Run: python -m aitbc_miner
Env (case-insensitive): COORDINATOR_URL (default http://127.0.0.1:8090), MINER_POLL_SECONDS
(default 10), MINER_ID (default: host name). No port.
"""

import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.request

SERVICE = "gpu-miner"


def main() -> None:
    env = {k.upper(): v for k, v in os.environ.items()}
    url = (env.get("COORDINATOR_URL") or "http://127.0.0.1:8090").rstrip("/") + "/v1/health"
    interval = float(env.get("MINER_POLL_SECONDS") or 10)
    miner_id = env.get("MINER_ID") or socket.gethostname()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"{SERVICE}: miner {miner_id} polling {url} every {interval}s", flush=True)
    polls = 0
    while not stop.is_set():
        polls += 1
        started = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                body = json.load(resp)
            status = f"ok status={resp.status} coordinator={body.get('service', '?')}"
        except Exception as exc:
            status = f"error {type(exc).__name__}: {exc}"
        elapsed_ms = (time.monotonic() - started) * 1000
        print(f"{SERVICE}: poll {polls} {url} {status} ({elapsed_ms:.0f} ms)", flush=True)
        stop.wait(interval)
    print(f"{SERVICE}: stopped after {polls} polls", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
