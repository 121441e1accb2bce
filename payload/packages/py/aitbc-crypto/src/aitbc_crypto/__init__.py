"""Ed25519 signing over canonical JSON, the one crypto primitive the demo apps share."""

import hashlib
import json

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

__version__ = "0.1.0"


def signing_key(seed: bytes) -> SigningKey:
    # Hashing the seed makes any byte string usable (Ed25519 wants exactly 32 bytes).
    return SigningKey(hashlib.sha256(seed).digest())


def public_key_hex(key: SigningKey) -> str:
    return key.verify_key.encode().hex()


def canonical(payload: dict) -> bytes:
    # Sorted keys and no spaces: signer and verifier must hash the very same bytes.
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def sign(key: SigningKey, payload: dict) -> str:
    return key.sign(canonical(payload)).signature.hex()


def verify(public_hex: str, payload: dict, signature_hex: str) -> bool:
    try:
        VerifyKey(bytes.fromhex(public_hex)).verify(canonical(payload), bytes.fromhex(signature_hex))
    except (BadSignatureError, ValueError):
        return False
    return True
