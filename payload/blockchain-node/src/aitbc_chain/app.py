"""RPC API over the node's sqlite DB: GET /rpc/head, GET /rpc/peers.

Run: python -m uvicorn aitbc_chain.app:app --host H --port P --workers 1
 or: python -m aitbc_chain.app  (binds RPC_BIND_HOST:RPC_BIND_PORT)
"""

import json
import sqlite3

from aitbc_chain.config import SERVICE, Settings, connect

SETTINGS = Settings.from_env()
_conn: sqlite3.Connection | None = None


def db() -> sqlite3.Connection:
    global _conn
    if _conn is None:
        _conn = connect(SETTINGS.db_path)
    return _conn


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
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    origin = headers.get("origin")
    cors = []
    if origin and origin in SETTINGS.allow_origins:
        cors = [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")]
    path = scope["path"].rstrip("/")
    base = {"chain_id": SETTINGS.chain_id, "node": SETTINGS.proposer_id}
    if scope["method"] == "OPTIONS":
        status = 200 if cors else 400
        cors += [(b"access-control-allow-methods", b"GET, OPTIONS")] if cors else []
        return await respond(send, status, {"preflight": bool(cors)}, cors)
    if scope["method"] not in ("GET", "HEAD"):
        return await respond(send, 405, {"error": "method not allowed"}, cors)
    if path == "/rpc/head":
        row = (
            db()
            .execute(
                "SELECT height, hash, timestamp, proposer FROM blocks ORDER BY height DESC LIMIT 1"
            )
            .fetchone()
        )
        if row is None:
            return await respond(send, 503, {**base, "error": "no blocks yet"}, cors)
        return await respond(send, 200, {**base, **dict(row)}, cors)
    if path == "/rpc/peers":
        rows = db().execute("SELECT * FROM peers ORDER BY url").fetchall()
        return await respond(send, 200, {**base, "peers": [dict(r) for r in rows]}, cors)
    return await respond(send, 404, {"error": "not found", "path": scope["path"]}, cors)


def main() -> None:
    import uvicorn

    uvicorn.run(app, host=SETTINGS.rpc_bind_host, port=SETTINGS.rpc_bind_port, workers=1)


if __name__ == "__main__":
    main()
