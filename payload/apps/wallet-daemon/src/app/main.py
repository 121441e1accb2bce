"""Demo wallet daemon, shaped like the real one: no health route, its REST routes under /v1/
(GET /v1/wallets, GET /v1/receipts/{job_id}), nothing else. The site's /wallet/ route passes
its path on as it is, so every path under it gets this daemon's 404.

Run from apps/wallet-daemon/src (the package is not installed, only its dependencies are):
  python -m uvicorn app.main:app --host H --port 8002
"""

import json
import re
import sqlite3
from pathlib import Path

import aitbc_crypto
import aitbc_sdk

from app.settings import settings

SERVICE = "wallet-daemon"
LEDGER = Path(settings.ledger_db_path)
RECEIPT = re.compile(r"/v1/receipts/([A-Za-z0-9_-]+)")


def open_ledger() -> None:
    # The data dir is the deployer's job: a missing one must stop the start, not be papered over.
    if not LEDGER.parent.is_dir():
        raise RuntimeError(f"ledger directory {LEDGER.parent.resolve()} does not exist")
    with sqlite3.connect(LEDGER) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY, amount INTEGER)")


def receipt_check() -> bool:
    """Sign and verify one receipt, so a receipt's answer proves the sdk and its crypto work."""
    key = aitbc_crypto.signing_key(b"aitbc-wallet-demo")
    payload = {"job": "demo", "units": 1}
    receipt = {"payload": payload, "signer": aitbc_crypto.public_key_hex(key),
               "signature": aitbc_crypto.sign(key, payload)}
    return aitbc_sdk.verify_receipt(receipt)


async def respond(send, status: int, body: dict) -> None:
    data = json.dumps({"service": SERVICE, **body}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": data})


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                return await send({"type": "lifespan.shutdown.complete"})
            try:
                open_ledger()
            except (OSError, RuntimeError, sqlite3.Error) as exc:
                return await send({"type": "lifespan.startup.failed", "message": f"{SERVICE}: {exc}"})
            await send({"type": "lifespan.startup.complete"})
    if scope["type"] != "http":
        return None
    path = scope["path"]
    receipt = RECEIPT.fullmatch(path)
    if scope["method"] == "GET" and path == "/v1/wallets":
        with sqlite3.connect(LEDGER) as conn:
            count = conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
        return await respond(send, 200, {"items": [], "ledger_entries": count})
    if scope["method"] == "GET" and receipt:
        body = {"job_id": receipt.group(1), "sdk": aitbc_sdk.__version__,
                "coordinator": settings.coordinator_base_url, "ledger": str(LEDGER.resolve()),
                "receipt_check": receipt_check()}
        return await respond(send, 200, body)
    return await respond(send, 404, {"error": "not found", "path": path})
