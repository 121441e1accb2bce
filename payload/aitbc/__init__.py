"""The root package of the demo tree (upstream: `aitbc/` at the checkout's root), imported by
the monorepo apps from the root itself: what every service of the tree shares."""

__version__ = "0.1.0"


def service_status(service: str) -> dict:
    """The body every service of the tree answers its health check with."""
    return {"service": service, "status": "ok", "aitbc": __version__}
