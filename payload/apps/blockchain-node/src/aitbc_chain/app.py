"""RPC API over the proposer's sqlite file, plus a poller of the PEERS' heads.

Run: python -m uvicorn aitbc_chain.app:app --host H --port P --workers 1
 or: python -m aitbc_chain.app (binds RPC_BIND_HOST:RPC_BIND_PORT)
One worker: the peer table lives in this process's memory.
"""

import asyncio
import json
import urllib.request
from urllib.parse import parse_qs

from aitbc_chain.config import SERVICE, settings
from aitbc_chain.storage import blocks_range, connect, head

# The peers the RPC reports on: PEERS, and a follower's DEFAULT_PEER_RPC_URL (today's name).
PEERS = {url: {"url": url, "height": None, "error": "not polled yet"}
         for url in [*settings.peers, *filter(None, [settings.default_peer_rpc_url])]}
_db = None


def db():
    global _db
    if _db is None:
        _db = connect(settings.db_path)
    return _db


def fetch_head(url: str) -> dict:
    with urllib.request.urlopen(url.rstrip("/") + "/rpc/head", timeout=2) as resp:
        return json.load(resp)


async def poll_peers() -> None:
    """Stands in for the cross-site sync: record each peer's last seen height, or why not."""
    while True:
        for url, entry in PEERS.items():
            try:
                entry.update(height=(await asyncio.to_thread(fetch_head, url))["height"], error=None)
            except Exception as exc:  # an unreachable peer must not stop the poller
                entry["error"] = f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(settings.sync_interval_seconds)


async def respond(send, status: int, body: dict, headers: list) -> None:
    data = json.dumps({"service": SERVICE, **body}).encode()
    head_ = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head_ + headers})
    await send({"type": "http.response.body", "body": data})


async def read_json(receive) -> object:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return json.loads(body or b"null")


async def lifespan(receive, send) -> None:
    poller = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            db()
            if PEERS:
                poller = asyncio.create_task(poll_peers())
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if poller:
                poller.cancel()
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
    method, path = scope["method"], scope["path"].rstrip("/")

    if method == "OPTIONS":
        if not allowed:
            return await respond(send, 400, {"error": "disallowed CORS origin"}, [])
        cors += [(b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                 (b"access-control-allow-headers", b"Content-Type")]
        return await respond(send, 200, {"preflight": True}, cors)
    if method == "POST" and path == "/rpc/importBlock":
        block = await read_json(receive)
        if not (isinstance(block, dict) and isinstance(block.get("height"), int)
                and isinstance(block.get("hash"), str)):
            return await respond(send, 400, {"error": "a block needs an int height and a hash"}, cors)
        db().execute("INSERT OR IGNORE INTO imported_blocks (hash, height, body) VALUES (?,?,?)",
                     (block["hash"], block["height"], json.dumps(block)))
        return await respond(send, 200, {"accepted": True, "height": block["height"]}, cors)
    if method not in ("GET", "HEAD"):
        return await respond(send, 405, {"error": "method not allowed"}, cors)
    if path == "/rpc/head":
        last = head(db())
        if last is None:  # 503, not 404: the node is up but the proposer has not written yet
            return await respond(send, 503, {"chain_id": settings.chain_id, "error": "no blocks yet"}, cors)
        return await respond(send, 200, {"chain_id": settings.chain_id, **last}, cors)
    if path == "/rpc/blocks-range":
        query = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
        try:
            start = int(query.get("start", 0))
            end = min(int(query.get("end", start + 99)), start + 999)
        except ValueError:
            return await respond(send, 400, {"error": "start and end must be integers"}, cors)
        return await respond(send, 200, {"blocks": blocks_range(db(), start, end)}, cors)
    if path == "/rpc/syncStatus":
        last = head(db())
        body = {"chain_id": settings.chain_id, "height": last["height"] if last else None,
                "peers": list(PEERS.values())}
        return await respond(send, 200, body, cors)
    return await respond(send, 404, {"error": "not found", "path": scope["path"]}, cors)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host=settings.rpc_bind_host, port=settings.rpc_bind_port, workers=1)
