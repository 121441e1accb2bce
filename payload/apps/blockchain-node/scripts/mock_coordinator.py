"""Mock coordinator for the miners: a script next to the node, not part of its wheel.

Run from this directory (python -m puts the cwd on sys.path; aitbc_chain must be installed):
  python -m uvicorn mock_coordinator:app --host H --port 8090
"""

import json

from aitbc_chain.metrics import Counter

SERVICE = "mock-coordinator"
REQUESTS = Counter("mock_coordinator_requests_total")


async def respond(send, status: int, body: dict) -> None:
    data = json.dumps({"service": SERVICE, **body}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": data})


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        return await send({"type": "lifespan.shutdown.complete"})
    if scope["type"] != "http":
        return None
    path, method = scope["path"], scope["method"]
    if method == "GET" and path == "/health":
        return await respond(send, 200, {"status": "ok"})
    if method in ("GET", "POST") and path.startswith("/v1/"):
        # Every miner call is accepted; the count lets a caller see its requests arrive.
        count = REQUESTS.inc(path)
        query = scope["query_string"].decode()
        return await respond(send, 200, {"path": path, "query": query, "count": count})
    return await respond(send, 404, {"error": "not found", "path": path})
