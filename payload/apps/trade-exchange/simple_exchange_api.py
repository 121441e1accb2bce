#!/usr/bin/env python3
"""Demo exchange API, the stdlib variant the tree's own unit runs: no dependencies, no flags.

Its port is a default argument of run_server() (3003) and it binds "localhost"; the trades
database is `exchange.db` in the working directory (or DATABASE_URL). A deployer that wants
another port calls it: python -c "import simple_exchange_api as api; api.run_server(port=8085)".
"""

import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from database import init_db, orderbook, recent_trades

SERVICE = "exchange-api"


class ExchangeAPIHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/api/health":
            self.send_json({"status": "ok", "variant": "simple"})
        elif path.startswith("/api/trades/recent"):
            self.send_json({"items": recent_trades()})
        elif path.startswith("/api/orders/orderbook"):
            self.send_json(orderbook())
        else:
            self.send_json({"error": "not found", "path": path}, 404)

    def send_json(self, body: dict, status: int = 200) -> None:
        data = json.dumps({"service": SERVICE, **body}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def run_server(port=3003):
    init_db()
    server = HTTPServer(("localhost", port), ExchangeAPIHandler)
    # systemd stops with SIGTERM: end the loop and exit 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"{SERVICE}: simple API on http://localhost:{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    run_server()
