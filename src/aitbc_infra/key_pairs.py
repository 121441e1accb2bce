"""Key pairs among a site's secrets: a private key and the address it controls, two secrets that
must agree (a host's `key_pairs`). An app that refuses to start on a mismatched pair (AITBC's
proposer: `PROPOSER_KEY` must derive to `PROPOSER_ID`) is refused here before any connection,
and the sandbox generates matching pairs instead of two unrelated random strings.

One kind so far, "secp256k1-ethereum": the key is 32 bytes in hex (64 digits, `0x` before them
optional), at least 1 and below the order of secp256k1; its address is the last 20 bytes of the
Keccak-256 digest of the uncompressed public point without its leading 04 byte, written `0x` and
40 hex digits in EIP-55 mixed case. AITBC also reads the same 20 bytes spelled `ait1` or
`aitbc1` and 40 hex digits, and compares addresses case-insensitively
(`aitbc/crypto/signature_recovery.py`, `canonical_address`); a mixed-case `0x` address must
carry its right checksum, which is what mixed case is for (a mistyped digit shows).

The curve arithmetic is `cryptography`'s, Keccak-256 pycryptodome's: Keccak-256 is not
hashlib's sha3_256, whose padding differs. Messages say what is wrong, never a value.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from Crypto.Hash import keccak
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

# n, the order of secp256k1's base point (SEC 2, section 2.4.1): a private key is 1 .. n-1.
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# What AITBC reads as a key: `0x` stripped, then bytes.fromhex (proposer_identity.py).
_KEY = re.compile(r"(?:0x)?([0-9a-fA-F]{64})", re.ASCII)
# The spellings canonical_address folds to one (case-insensitive, the prefix too).
_ADDRESS = re.compile(r"(0x|aitbc1|ait1)([0-9a-f]{40})", re.ASCII | re.IGNORECASE)

KEY_FORM = "64 hex digits (0x before them optional)"
ADDRESS_FORM = "an address: 0x, ait1 or aitbc1 and 40 hex digits"


class PairValueError(ValueError):
    """What is wrong with one value of a pair, in words that hold no part of it."""


def _keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def private_key(text: str) -> int:
    """The key `text` spells, as a number; PairValueError unless AITBC would sign with it."""
    match = _KEY.fullmatch(text)
    if match is None:
        raise PairValueError(f"is not {KEY_FORM}")
    number = int(match[1], 16)
    if number == 0:
        raise PairValueError("is zero, which is no key")
    if number >= SECP256K1_ORDER:
        raise PairValueError("is not below the order of secp256k1, which is no key")
    return number


def address_of(key: int) -> bytes:
    """The 20 bytes of the address private key `key` controls."""
    point = ec.derive_private_key(key, ec.SECP256K1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return _keccak256(point[1:])[-20:]  # without the 04 that marks an uncompressed point


def checksummed(address: bytes) -> str:
    """EIP-55: `0x` and the 40 digits, each letter upper-case where the Keccak-256 digest of
    the lower-case digits has a nibble of 8 or more at its position."""
    digits = address.hex()
    nibbles = _keccak256(digits.encode("ascii")).hex()
    return "0x" + "".join(d.upper() if int(n, 16) >= 8 else d
                          for d, n in zip(digits, nibbles[:len(digits)], strict=True))


def address_bytes(text: str) -> bytes:
    """The 20 bytes an address in any spelling AITBC reads stands for; PairValueError for what
    is no address, or a mixed-case `0x` address whose case is not its checksum."""
    match = _ADDRESS.fullmatch(text)
    if match is None:
        raise PairValueError(f"is not {ADDRESS_FORM}")
    prefix, digits = match[1], match[2]
    address = bytes.fromhex(digits)
    mixed = digits != digits.lower() and digits != digits.upper()
    if prefix.lower() == "0x" and mixed and checksummed(address)[2:] != digits:
        raise PairValueError("is in mixed case but not in its EIP-55 checksum case: a digit or "
                             "letter of it is mistyped")
    return address


def _secp256k1_problem(key: str, address: str) -> str | None:
    problems = []
    number = controlled = None
    try:
        number = private_key(key)
    except PairValueError as exc:
        problems.append(f"the key {exc}")
    try:
        controlled = address_bytes(address)
    except PairValueError as exc:
        problems.append(f"the address {exc}")
    if problems:
        return "; ".join(problems)
    assert number is not None and controlled is not None
    if address_of(number) != controlled:
        return "the key does not derive to the address (it controls another one)"
    return None


def _secp256k1_new() -> tuple[str, str]:
    while True:  # out of range about once in 2**128 draws
        number = int.from_bytes(secrets.token_bytes(32), "big")
        if 0 < number < SECP256K1_ORDER:
            return f"{number:064x}", checksummed(address_of(number))


@dataclass(frozen=True)
class PairKind:
    # (key, address) -> what is wrong with them as a pair, or None when the key derives to
    # the address. Never part of a value in the text.
    problem: Callable[[str, str], str | None]
    # A fresh pair (key, address), from the system's random source.
    new: Callable[[], tuple[str, str]]


# The model's KeyPair.kind names one of these.
KINDS: dict[str, PairKind] = {
    "secp256k1-ethereum": PairKind(_secp256k1_problem, _secp256k1_new),
}
