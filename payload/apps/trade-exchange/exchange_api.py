"""Exchange API: a flat module next to database.py, so it only imports with this directory on
sys.path (python -m uvicorn run from here does that).

Run from apps/trade-exchange: python -m uvicorn exchange_api:app --host H --port 8085
"""

import json
import os
import sqlite3
import sys

from database import init_db, orderbook, recent_trades
from pydantic import BaseModel

SERVICE = "exchange-api"
# Secrets have no defaults: a missing one stops the process at import, naming every gap at once.
_missing = [n for n in ("SESSION_SECRET", "WALLET_ENCRYPTION_KEY") if not os.environ.get(n, "").strip()]
if _missing:
    print(f"{SERVICE}: refusing to start, missing or empty: {', '.join(_missing)}", file=sys.stderr)
    raise SystemExit(2)
ALLOW_ORIGINS = json.loads(os.environ.get("ALLOW_ORIGINS") or "[]")


class Trade(BaseModel):
    id: int
    amount: float
    price: float
    total: float
    created_at: str


async def respond(send, status: int, body: dict, headers: list) -> None:
    data = json.dumps({"service": SERVICE, **body}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + headers})
    await send({"type": "http.response.body", "body": data})


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                return await send({"type": "lifespan.shutdown.complete"})
            try:
                init_db()
            except (OSError, RuntimeError, sqlite3.Error) as exc:
                return await send({"type": "lifespan.startup.failed", "message": f"{SERVICE}: {exc}"})
            await send({"type": "lifespan.startup.complete"})
    if scope["type"] != "http":
        return None
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    origin = headers.get("origin")
    allowed = origin is not None and origin in ALLOW_ORIGINS
    cors = [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")] if allowed else []
    method, path = scope["method"], scope["path"].rstrip("/")
    if method == "OPTIONS":
        if not allowed:
            return await respond(send, 400, {"error": "disallowed CORS origin"}, [])
        cors += [(b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                 (b"access-control-allow-headers", b"Content-Type")]
        return await respond(send, 200, {"preflight": True}, cors)
    if method not in ("GET", "HEAD"):
        return await respond(send, 405, {"error": "method not allowed"}, cors)
    if path == "/api/health":
        return await respond(send, 200, {"status": "ok"}, cors)
    if path == "/api/trades/recent":
        trades = [Trade(**row).model_dump() for row in recent_trades()]
        return await respond(send, 200, {"trades": trades}, cors)
    if path == "/api/orders/orderbook":
        return await respond(send, 200, orderbook(), cors)
    return await respond(send, 404, {"error": "not found", "path": scope["path"]}, cors)
