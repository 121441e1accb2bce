"""Mock coordinator on the incus host: answers GET /v1/... with a JSON marker.

Run: python -m uvicorn mock_coordinator.app:app --host 0.0.0.0 --port 8090
Env: none required.
"""

import json
import time

SERVICE = "mock-coordinator"


async def respond(send, status: int, body: dict) -> None:
    data = json.dumps({"service": SERVICE, **body}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
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
    path = scope["path"]
    if path in ("/v1/health", "/v1/health/"):
        return await respond(send, 200, {"status": "ok", "mock": True, "time": time.time()})
    if path.startswith("/v1/"):
        return await respond(send, 200, {"mock": True, "method": scope["method"], "path": path})
    return await respond(send, 404, {"error": "not found", "path": path})
