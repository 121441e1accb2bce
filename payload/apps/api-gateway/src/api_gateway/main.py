"""Demo API gateway: a plain ASGI app of the monorepo layout (upstream apps/api-gateway).

It imports the tree's root package `aitbc` and the library `aitbc_crypto` and installs neither
itself: run from the checkout as upstream's unit runs it, `PYTHONPATH=apps/api-gateway/src:.
python -m uvicorn api_gateway.main:app --port 8201` from apps/api-gateway.
"""

import json

import aitbc
import aitbc_crypto

SERVICE = "api-gateway"
# A fixed demo identity, not a secret: it proves aitbc-crypto (and pynacl) are installed.
SIGNER = aitbc_crypto.public_key_hex(aitbc_crypto.signing_key(b"aitbc-gateway-demo"))


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
    else:
        await respond(send, 404, {"error": "not found", "path": path})
