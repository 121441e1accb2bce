"""Demo trade exchange front end, stdlib only (the real one is a `python server.py`).

Run: python -m trade_exchange.server [--host 127.0.0.1] [--port 3002]
Env (case-insensitive; the flags win): HOST, PORT, EXCHANGE_API_BASE.
Routes: GET /Exchange (HTML), GET /Exchange/health (JSON).
"""

import argparse
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE = "trade-exchange"
ENV = {k.upper(): v for k, v in os.environ.items()}
API_BASE = ENV.get("EXCHANGE_API_BASE") or "/api"

PAGE = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>AITBC Trade Exchange</title></head>
<!-- aitbc-marker: trade-exchange -->
<body>
<h1>AITBC Trade Exchange</h1>
<p>aitbc-marker: trade-exchange</p>
<pre id="trades">loading recent trades…</pre>
<script>
fetch("{API_BASE}/trades/recent").then(r => r.json())
  .then(d => document.getElementById("trades").textContent = JSON.stringify(d.trades, null, 2))
  .catch(e => document.getElementById("trades").textContent = "exchange API unavailable: " + e);
</script>
</body>
</html>
"""


class Handler(BaseHTTPRequestHandler):
    server_version = "aitbc-trade-exchange/0.1"

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, body: dict) -> None:
        self._send(status, "application/json", json.dumps({"service": SERVICE, **body}).encode())

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        path = self.path.split("?", 1)[0]
        if path in ("/Exchange", "/Exchange/", "/Exchange/index.html"):
            self._send(200, "text/html; charset=utf-8", PAGE.encode())
        elif path in ("/Exchange/health", "/Exchange/health/"):
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": "not found", "path": path})

    do_HEAD = do_GET

    def log_message(self, format: str, *args) -> None:  # one line per request on stderr
        sys.stderr.write(f"{SERVICE}: {self.address_string()} {format % args}\n")


def _terminate(*_) -> None:
    raise KeyboardInterrupt  # leave serve_forever() cleanly: exit 0 on systemctl stop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=ENV.get("HOST") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=int(ENV.get("PORT") or 3002))
    args = parser.parse_args(argv)
    httpd = ThreadingHTTPServer((args.host, args.port), Handler)
    signal.signal(signal.SIGTERM, _terminate)
    print(f"{SERVICE}: listening on {args.host}:{args.port}", file=sys.stderr, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
