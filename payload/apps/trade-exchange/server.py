"""Trade exchange front end: static files from the working directory (or --dir), stdlib only.

Run: python server.py --port 3002 [--dir DIR]
There is no --host: like the real one it binds every address, so only a firewall limits it.
"""

import argparse
import functools
import os
import signal
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


class Handler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        # The page calls the exchange API from other origins during development.
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        super().end_headers()

    def do_OPTIONS(self) -> None:  # noqa: N802 (http.server naming)
        self.send_response(204)
        self.end_headers()


def _stop(*_) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="AITBC trade exchange static server")
    parser.add_argument("--port", type=int, default=3002)
    parser.add_argument("--dir", default=os.getcwd())
    args = parser.parse_args(argv)
    handler = functools.partial(Handler, directory=args.dir)
    httpd = ThreadingHTTPServer(("", args.port), handler)
    # systemd stops with SIGTERM: leave serve_forever() through the normal path and exit 0.
    signal.signal(signal.SIGTERM, _stop)
    print(f"trade-exchange: serving {args.dir} on port {args.port}", file=sys.stderr, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
