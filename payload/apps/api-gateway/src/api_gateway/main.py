"""Demo API gateway: a plain ASGI app of the monorepo layout (upstream apps/api-gateway).

It imports the tree's root package `aitbc` and the library `aitbc_crypto` and installs neither
itself: run from the checkout as upstream's unit runs it, `PYTHONPATH=apps/api-gateway/src:.
python -m uvicorn api_gateway.main:app --port 8201` from apps/api-gateway.

With AITBC_CHAIN_DIR (the chain's data directory, /var/lib/aitbc/data/<chain_id>/ upstream) it
reads the chain there directly, as upstream's coordinator and explorer read `chain.db`: the
genesis file and the head, the database opened read-only (`GET /chain`).
"""

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import aitbc
import aitbc_crypto

SERVICE = "api-gateway"
# A fixed demo identity, not a secret: it proves aitbc-crypto (and pynacl) are installed.
SIGNER = aitbc_crypto.public_key_hex(aitbc_crypto.signing_key(b"aitbc-gateway-demo"))


def chain_view() -> tuple[int, dict]:
    """The chain as its directory holds it: the genesis file's chain and block 0, the head."""
    directory = os.environ.get("AITBC_CHAIN_DIR")
    if not directory:
        return 404, {"error": "no chain here: AITBC_CHAIN_DIR is not set"}
    try:
        genesis = json.loads((Path(directory) / "genesis.json").read_text())
        uri = f"file:{quote(str(Path(directory) / 'chain.db'))}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=5)) as conn:
            head = conn.execute("SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1"
                                ).fetchone()
        return 200, {"chain_id": genesis["chain_id"], "genesis_hash": genesis["block"]["hash"],
                     "height": head[0] if head else None, "hash": head[1] if head else None}
    except (OSError, ValueError, KeyError, TypeError, sqlite3.Error) as exc:
        return 503, {"error": f"{type(exc).__name__}: {exc}"}


def where_from() -> dict:
    """The file each module was imported from: the import roots or the venv."""
    return {"aitbc": aitbc.__file__, "api_gateway": __file__, "aitbc_crypto": aitbc_crypto.__file__}


async def respond(send, status: int, body: dict) -> None:
    data = json.dumps({"service": SERVICE, **body}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":  # startup: nothing to open
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if scope["method"] != "GET":
        await respond(send, 405, {"error": "method not allowed"})
    elif path == "/health":
        await respond(send, 200, {**aitbc.service_status(SERVICE), "signer": SIGNER})
    elif path == "/imports":
        await respond(send, 200, {"modules": where_from()})
    elif path == "/chain":
        await respond(send, *chain_view())
    else:
        await respond(send, 404, {"error": "not found", "path": path})
