"""Client-side helpers; depends on aitbc-crypto by name so installers must resolve it."""

from aitbc_crypto import verify

__version__ = "0.1.0"


def verify_receipt(receipt: dict) -> bool:
    """A receipt is {"payload": {...}, "signer": <public key hex>, "signature": <hex>}."""
    try:
        return verify(receipt["signer"], receipt["payload"], receipt["signature"])
    except (KeyError, TypeError):
        return False
