"""Mock coordinator: a script next to the node, not part of its wheel.

Shaped like the real one where a caller can tell: GET /health, and nothing under /v1/ (the real
one also serves POST /attest/receipt and GET /metrics, which nothing here calls). The miner's
calls (/v1/miners/...) and the site's /v1/ route reach it and get its 404, which counts them.

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
    count = REQUESTS.inc(path)
    if method == "GET" and path == "/health":
        return await respond(send, 200, {"status": "ok"})
    return await respond(send, 404, {"error": "not found", "path": path, "count": count})
