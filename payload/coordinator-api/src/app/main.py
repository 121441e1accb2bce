"""Demo coordinator API: a plain ASGI app standing in for the AITBC coordinator.

Run: python -m uvicorn app.main:app --host 127.0.0.1 --port 8000
Env (case-insensitive, ./.env read too): JWT_SECRET (required), DATABASE_URL, ADMIN_API_KEYS,
ALLOW_ORIGINS.
"""

import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

SERVICE = "coordinator-api"


def load_settings() -> dict[str, str]:
    """Environment over ./.env, keys upper-cased (pydantic-settings is case-insensitive too)."""
    values: dict[str, str] = {}
    dotenv = Path(".env")
    if dotenv.is_file():
        for line in dotenv.read_text().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and not key.startswith("#"):
                values[key.strip().upper()] = value.strip().strip("'\"")
    values.update({k.upper(): v for k, v in os.environ.items()})
    return values


def split_list(raw: str) -> list[str]:
    """A comma list, or a JSON list as pydantic-settings accepts it."""
    raw = raw.strip()
    if raw.startswith("["):
        return [str(item).strip() for item in json.loads(raw)]
    return [item.strip() for item in raw.split(",") if item.strip()]


SETTINGS = load_settings()
if not SETTINGS.get("JWT_SECRET", "").strip():
    print(f"{SERVICE}: refusing to start: JWT_SECRET is missing or empty", file=sys.stderr)
    raise SystemExit(2)

ADMIN_API_KEYS = set(split_list(SETTINGS.get("ADMIN_API_KEYS", "")))
ALLOW_ORIGINS = set(split_list(SETTINGS.get("ALLOW_ORIGINS", "")))
# Only the scheme is ever reported: the URL may carry credentials.
DATABASE_SCHEME = urlsplit(SETTINGS.get("DATABASE_URL", "sqlite:///./coordinator.db")).scheme

BLOCKS = [{"height": h, "hash": f"{h:064x}", "txs": h % 3} for h in range(3, 0, -1)]
USERS = [{"id": 1, "name": "alice", "role": "client"}, {"id": 2, "name": "bob", "role": "miner"}]


async def respond(send, status: int, body: dict, headers: list | None = None) -> None:
    data = json.dumps({"service": SERVICE, **body}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
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
    cors = []
    if origin and origin in ALLOW_ORIGINS:
        cors = [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")]
    method, path = scope["method"], scope["path"]

    if method == "OPTIONS":
        if not cors:
            return await respond(send, 400, {"error": "disallowed CORS origin"})
        cors += [
            (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
            (b"access-control-allow-headers", b"Content-Type, X-Api-Key, Authorization"),
        ]
        return await respond(send, 200, {"preflight": True}, cors)
    if path.startswith("/v1/admin/") or path == "/v1/admin":
        if headers.get("x-api-key") not in ADMIN_API_KEYS:
            return await respond(send, 401, {"error": "invalid or missing X-Api-Key"}, cors)
        return await respond(send, 200, {"admin": True, "path": path}, cors)
    if method not in ("GET", "HEAD"):
        return await respond(send, 405, {"error": "method not allowed"}, cors)
    if path == "/v1/health":
        return await respond(send, 200, {"status": "ok", "database": DATABASE_SCHEME}, cors)
    if path in ("/v1/explorer/blocks", "/v1/explorer/blocks/"):
        return await respond(send, 200, {"items": BLOCKS}, cors)
    if path in ("/v1/users", "/v1/users/"):
        return await respond(send, 200, {"items": USERS}, cors)
    return await respond(send, 404, {"error": "not found", "path": path}, cors)
