"""PostgreSQL's SCRAM-SHA-256 password verifiers, computed here as the server computes them.

A role's password never leaves this machine: the deploy gives PostgreSQL the verifier
(`SCRAM-SHA-256$ITERATIONS:SALT$STOREDKEY:SERVERKEY`, RFC 5802/7677), which PostgreSQL stores as
it is, and reads back only the verifier's iterations, salt and SHA-256 digest (never the
verifier itself: deploys/scripts/postgresql.sh, `state`). Whether the role's password is the one
the data names is then decided here: the verifier computed from that password with the stored
salt and iterations has the stored digest, or it does not.

The password is prepared as PostgreSQL prepares it (src/common/saslprep.c): an ASCII password
as it is; any other by SASLprep (RFC 4013), or as it is where SASLprep prohibits it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import stringprep
import unicodedata

# PostgreSQL's defaults (scram_iterations, SCRAM_DEFAULT_SALT_LEN): what `ALTER ROLE ...
# PASSWORD` itself would have made.
ITERATIONS = 4096
SALT_BYTES = 16
PREFIX = "SCRAM-SHA-256"
# A verifier as PostgreSQL stores it: base64 fields only, so it can never close a quote.
VERIFIER = re.compile(r"SCRAM-SHA-256\$[0-9]{1,9}:[A-Za-z0-9+/=]{4,}\$[A-Za-z0-9+/=]{44}:"
                      r"[A-Za-z0-9+/=]{44}")

_PROHIBITED = (stringprep.in_table_c12, stringprep.in_table_c21, stringprep.in_table_c22,
               stringprep.in_table_c3, stringprep.in_table_c4, stringprep.in_table_c5,
               stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
               stringprep.in_table_c9, stringprep.in_table_a1)


def saslprep(password: str) -> str:
    """The password as PostgreSQL hashes it."""
    if password.isascii():
        return password
    mapped = "".join(" " if stringprep.in_table_c12(c) else c
                     for c in password if not stringprep.in_table_b1(c))
    prepared = unicodedata.normalize("NFKC", mapped)
    if not prepared or any(table(c) for c in prepared for table in _PROHIBITED):
        return password
    if any(stringprep.in_table_d1(c) for c in prepared) and (
            any(stringprep.in_table_d2(c) for c in prepared)
            or not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1]))):
        return password
    return prepared


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def verifier(password: str, salt: bytes, iterations: int = ITERATIONS) -> str:
    """The verifier PostgreSQL stores for `password` with this salt and iteration count."""
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode(errors="surrogateescape"),
                                 salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    return (f"{PREFIX}${iterations}:{_b64(salt)}${_b64(hashlib.sha256(client_key).digest())}:"
            f"{_b64(server_key)}")


def new_verifier(password: str) -> str:
    """A verifier of `password` with a fresh random salt, as PostgreSQL would make one."""
    return verifier(password, secrets.token_bytes(SALT_BYTES))


def digest(text: str) -> str:
    """What the host reports of a stored verifier: its SHA-256, in hex."""
    return hashlib.sha256(text.encode()).hexdigest()


def matches(password: str, iterations: str, salt: str, stored_digest: str) -> bool:
    """Whether a stored verifier (read as its iterations, salt and digest) is `password`'s."""
    if not (iterations.isdigit() and 0 < int(iterations) <= 10_000_000):
        return False
    try:
        raw_salt = base64.b64decode(salt, validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(digest(verifier(password, raw_salt, int(iterations))),
                               stored_digest)
