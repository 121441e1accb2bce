"""Demo coordinator API: a plain ASGI app (no framework) with the real app's routes and settings.

Run: python -m uvicorn app.main:app --host H --port 8000 (installed as a wheel: any cwd).
"""

import json
import re
import sqlite3
from pathlib import Path

import aitbc_crypto

from app.config import settings
from app.logging import get_logger

SERVICE = "coordinator-api"
log = get_logger("app.main")
DATABASE_URL = settings.database.effective_url
# Only the scheme is ever reported: a URL may carry credentials.
SCHEME = DATABASE_URL.split(":", 1)[0]
# A fixed demo identity, not a secret: it only proves aitbc-crypto (and pynacl) are installed.
SIGNER = aitbc_crypto.public_key_hex(aitbc_crypto.signing_key(b"aitbc-coordinator-demo"))
BLOCKS = [{"height": h, "hash": f"{h:064x}", "txs": h % 3} for h in range(3, 0, -1)]
# The users router of the real app is mounted at /v1/users and declares its routes as
# "/users/me", "/users/{id}/balance", "/users/{id}/transactions": under /v1/users/users/.
USER_TRANSACTIONS = re.compile(r"/v1/users/users/([A-Za-z0-9_-]+)/transactions")
OPENAPI = {"openapi": "3.1.0", "info": {"title": "AITBC Coordinator API", "version": "0.1.0"},
           "paths": {p: {"get": {}} for p in ("/v1/health", "/v1/explorer/blocks",
                                               "/v1/explorer/transactions",
                                               "/v1/users/users/{user_id}/transactions")}}


def open_database() -> None:
    """Create the sqlite file now, so a wrong working or data directory fails at start, loudly."""
    if not SCHEME.startswith("sqlite"):
        return
    path = Path(DATABASE_URL.split(":///", 1)[1])
    if not path.parent.is_dir():
        raise RuntimeError(f"database directory {path.parent.resolve()} does not exist ({DATABASE_URL})")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, state TEXT)")
    log.info("database ready", extra={"path": str(path.resolve())})


def recent_jobs(limit: int = 50) -> list[dict]:
    """The jobs table read back, newest first: what the explorer's transactions list is made of,
    so the route fails (500) on a database this release cannot read."""
    if not SCHEME.startswith("sqlite"):
        return []  # the demo keeps its jobs in sqlite only
    path = Path(DATABASE_URL.split(":///", 1)[1])
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT id, state FROM jobs ORDER BY id DESC LIMIT ?", (limit,))
        return [{"id": job_id, "state": state} for job_id, state in rows]


async def respond(send, status: int, body: dict, headers: list) -> None:
    data = json.dumps({"service": SERVICE, **body}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + headers})
    await send({"type": "http.response.body", "body": data})


async def lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                open_database()
            except (OSError, RuntimeError, sqlite3.Error) as exc:
                await send({"type": "lifespan.startup.failed", "message": f"{SERVICE}: {exc}"})
                return
            log.info("started", extra={"app_env": settings.app_env, "database": SCHEME})
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    if scope["type"] != "http":
        return None
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    origin = headers.get("origin")
    allowed = origin is not None and origin in settings.allow_origins
    cors = [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")] if allowed else []
    method, path = scope["method"], scope["path"]

    if method == "OPTIONS":  # CORS preflight: only listed origins get a 200
        if not allowed:
            return await respond(send, 400, {"error": "disallowed CORS origin"}, [])
        cors += [(b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                 (b"access-control-allow-headers", b"Content-Type, X-Api-Key, Authorization")]
        return await respond(send, 200, {"preflight": True}, cors)
    if path == "/v1/admin" or path.startswith("/v1/admin/"):
        if headers.get("x-api-key") not in settings.admin_api_keys:
            return await respond(send, 401, {"error": "invalid or missing X-Api-Key"}, cors)
        return await respond(send, 200, {"admin": True, "path": path}, cors)
    if method not in ("GET", "HEAD"):
        return await respond(send, 405, {"error": "method not allowed"}, cors)
    if path == "/v1/health":
        body = {"status": "ok", "database": SCHEME, "signer": SIGNER}
        return await respond(send, 200, body, cors)
    if path == "/openapi.json":
        return await respond(send, 200, OPENAPI, cors)
    if path.rstrip("/") == "/v1/explorer/blocks":
        return await respond(send, 200, {"items": BLOCKS}, cors)
    if path.rstrip("/") == "/v1/explorer/transactions":
        try:
            return await respond(send, 200, {"items": recent_jobs()}, cors)
        except sqlite3.Error as exc:
            log.error("cannot read the jobs", extra={"error": str(exc)})
            return await respond(send, 500, {"error": "database unreadable"}, cors)
    user = USER_TRANSACTIONS.fullmatch(path)
    if user:  # the real route's answer for a user without any: an empty history
        body = {"user_id": user.group(1), "transactions": [], "total": 0}
        return await respond(send, 200, body, cors)
    return await respond(send, 404, {"error": "not found", "path": path}, cors)
