"""Demo wallet daemon: GET /wallet/health, GET /wallet/ (JSON).

Run: python -m uvicorn wallet_daemon.app:app --host 127.0.0.1 --port 8002
Env (case-insensitive): CHAIN_ID, WALLET_NAME, ALLOW_ORIGINS.
"""

import json
import os

SERVICE = "wallet-daemon"
ENV = {k.upper(): v for k, v in os.environ.items()}
CHAIN_ID = ENV.get("CHAIN_ID") or "ait-devnet"
WALLET_NAME = ENV.get("WALLET_NAME") or "default"
ALLOW_ORIGINS = {o.strip() for o in ENV.get("ALLOW_ORIGINS", "").split(",") if o.strip()}


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
    cors = [(b"access-control-allow-origin", origin.encode())] if origin in ALLOW_ORIGINS else []
    path = scope["path"]
    if scope["method"] not in ("GET", "HEAD"):
        return await respond(send, 405, {"error": "method not allowed"}, cors)
    if path in ("/wallet/health", "/wallet/health/"):
        return await respond(send, 200, {"status": "ok", "chain_id": CHAIN_ID}, cors)
    if path in ("/wallet", "/wallet/"):
        wallets = [{"name": WALLET_NAME, "address": "ait1demo0000000000000000", "balance": 0}]
        return await respond(send, 200, {"chain_id": CHAIN_ID, "wallets": wallets}, cors)
    return await respond(send, 404, {"error": "not found", "path": path}, cors)
