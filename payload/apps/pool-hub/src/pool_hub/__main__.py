"""The pool hub's HTTP server (stdlib), its registry in PostgreSQL, a counter in Redis.

Run: python -m pool_hub [--host 127.0.0.1] [--port 8210]
Env: DATABASE_URL (postgresql://ROLE:PASSWORD@HOST:PORT/DATABASE, the password percent-encoded),
     REDIS_URL (redis://HOST:PORT/N; optional).

GET  /health             a real round trip: the registry's table made if missing, the role,
                         database and number of miners read back (and Redis PINGed, a counter
                         INCRed): 200, or 503 naming what failed (never the URL or its password)
GET  /v1/miners          the registered miners
POST /v1/miners/MINER_ID register (or see again) a miner
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import pg8000.native

SERVICE = "pool-hub"
MINER = re.compile(r"/v1/miners/([A-Za-z0-9_.-]{1,64})")
SCHEMA = ("CREATE TABLE IF NOT EXISTS miners (id text PRIMARY KEY, "
          "last_seen timestamptz NOT NULL DEFAULT now())")


class Unavailable(Exception):
    """A backing service cannot be used; the message names which and why, never a secret."""


def database() -> pg8000.native.Connection:
    url = urlsplit(os.environ.get("DATABASE_URL", ""))
    if url.scheme != "postgresql" or not url.hostname or not url.path.strip("/"):
        raise Unavailable("DATABASE_URL is not a postgresql:// URL")
    try:
        return pg8000.native.Connection(
            user=unquote(url.username or ""), password=unquote(url.password or ""),
            host=url.hostname, port=url.port or 5432, database=unquote(url.path.strip("/")),
            timeout=5)
    except (pg8000.native.DatabaseError, pg8000.native.InterfaceError, OSError) as exc:
        # The server's own words (e.g. "password authentication failed for user ...") say
        # why; the URL, which holds the password, is not repeated.
        raise Unavailable(f"database: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    found = exc.args[0] if exc.args else exc
    if isinstance(found, dict):  # pg8000: the server's error fields
        return str(found.get("M", "refused"))
    return type(exc).__name__ if not str(found) else str(found)


def redis_command(*words: str) -> bytes:
    """One command to the database of REDIS_URL (RESP, pipelined after its SELECT): the
    command's reply line."""
    url = urlsplit(os.environ["REDIS_URL"])
    request = _command("SELECT", url.path.strip("/") or "0") + _command(*words)
    try:
        with socket.create_connection((url.hostname, url.port or 6379), timeout=5) as conn:
            conn.sendall(request)
            replies = conn.makefile("rb")
            selected, reply = replies.readline(), replies.readline()
    except OSError as exc:
        raise Unavailable(f"redis: {exc.strerror or type(exc).__name__}") from None
    if selected != b"+OK\r\n" or not reply or reply.startswith(b"-"):
        raise Unavailable(f"redis: {(reply or selected).decode(errors='replace').strip()}")
    return reply.rstrip(b"\r\n")


def _command(*words: str) -> bytes:
    encoded = [w.encode() for w in words]
    return f"*{len(encoded)}\r\n".encode() + b"".join(
        b"$%d\r\n%s\r\n" % (len(w), w) for w in encoded)


def health() -> dict:
    conn = database()
    try:
        conn.run(SCHEMA)
        (role, name, miners), = conn.run(
            "SELECT current_user, current_database(), (SELECT count(*) FROM miners)")
    finally:
        conn.close()
    found = {"service": SERVICE, "status": "ok", "database": name, "role": role,
             "miners": miners}
    if os.environ.get("REDIS_URL"):
        found["redis"] = redis_command("PING").decode().lstrip("+")
        found["checks"] = int(redis_command("INCR", "pool-hub:health-checks").lstrip(b":"))
    return found


def register(miner: str) -> dict:
    conn = database()
    try:
        conn.run(SCHEMA)
        conn.run("INSERT INTO miners (id) VALUES (:id) ON CONFLICT (id) DO UPDATE "
                 "SET last_seen = now()", id=miner)
    finally:
        conn.close()
    return {"service": SERVICE, "miner": miner}


def miners() -> dict:
    conn = database()
    try:
        conn.run(SCHEMA)
        rows = conn.run("SELECT id FROM miners ORDER BY id")
    finally:
        conn.close()
    return {"service": SERVICE, "miners": [row[0] for row in rows]}


class Handler(BaseHTTPRequestHandler):
    def _answer(self, work) -> None:
        try:
            status, body = 200, work()
        except Unavailable as exc:
            status, body = 503, {"service": SERVICE, "status": "unavailable", "error": str(exc)}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        if self.path == "/health":
            self._answer(health)
        elif self.path == "/v1/miners":
            self._answer(miners)
        else:
            self.send_error(404)

    def do_POST(self) -> None:  # noqa: N802
        found = MINER.fullmatch(self.path)
        if found:
            self._answer(lambda: register(found.group(1)))
        else:
            self.send_error(404)


def _stop(*_) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="AITBC pool hub")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8210)
    args = parser.parse_args(argv)
    httpd = ThreadingHTTPServer((args.host, args.port), Handler)
    signal.signal(signal.SIGTERM, _stop)  # systemd's stop: leave serve_forever, exit 0
    print(f"{SERVICE}: serving on {args.host}:{args.port}", file=sys.stderr, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
