"""Demo exchange API: GET /api/trades/recent, GET /api/orders/orderbook, GET /health.

Run: python -m uvicorn exchange_api.main:app --host 127.0.0.1 --port 8085
Env (case-insensitive): SESSION_SECRET and WALLET_ENCRYPTION_KEY (both required), ALLOW_ORIGINS,
EXCHANGE_PAIR.
"""

import json
import os
import sys

SERVICE = "exchange-api"
REQUIRED = ("SESSION_SECRET", "WALLET_ENCRYPTION_KEY")

ENV = {k.upper(): v for k, v in os.environ.items()}
_missing = [name for name in REQUIRED if not ENV.get(name, "").strip()]
if _missing:
    print(
        f"{SERVICE}: refusing to start: missing required setting(s): {', '.join(_missing)}",
        file=sys.stderr,
    )
    raise SystemExit(2)

ALLOW_ORIGINS = {o.strip() for o in ENV.get("ALLOW_ORIGINS", "").split(",") if o.strip()}
PAIR = ENV.get("EXCHANGE_PAIR") or "AITBC/BTC"
TRADES = [
    {"id": 3, "pair": PAIR, "side": "buy", "price": "0.00001210", "amount": "150"},
    {"id": 2, "pair": PAIR, "side": "sell", "price": "0.00001200", "amount": "75"},
    {"id": 1, "pair": PAIR, "side": "buy", "price": "0.00001190", "amount": "300"},
]
ORDERBOOK = {
    "pair": PAIR,
    "bids": [["0.00001190", "500"], ["0.00001180", "1200"]],
    "asks": [["0.00001215", "400"], ["0.00001230", "900"]],
}


async def respond(send, status: int, body: dict, headers: list) -> None:
    data = json.dumps({"service": SERVICE, **body}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    origin = dict(scope["headers"]).get(b"origin", b"").decode("latin-1")
    cors = []
    if origin in ALLOW_ORIGINS:
        cors = [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")]
    path = scope["path"].rstrip("/")
    if scope["method"] == "OPTIONS":
        methods = [(b"access-control-allow-methods", b"GET, OPTIONS")]
        return await respond(send, 200 if cors else 400, {"preflight": bool(cors)}, cors + methods)
    if scope["method"] not in ("GET", "HEAD"):
        return await respond(send, 405, {"error": "method not allowed"}, cors)
    if path == "/health":
        return await respond(send, 200, {"status": "ok"}, cors)
    if path == "/api/trades/recent":
        return await respond(send, 200, {"trades": TRADES}, cors)
    if path == "/api/orders/orderbook":
        return await respond(send, 200, ORDERBOOK, cors)
    return await respond(send, 404, {"error": "not found", "path": scope["path"]}, cors)
