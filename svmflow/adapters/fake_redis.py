"""fakeredis, the in-process Redis of embedded mode, comes with the ``embedded`` extra.

The functions and the API image always have a real Redis (``SVMFLOW_REDIS_URL``), so they ship without
it; only ``svmflow run`` and the CLI on the embedded state need it.
"""

from __future__ import annotations

from types import ModuleType

from svmflow.errors import SvmflowError

INSTALL_HINT = (
    "embedded mode without SVMFLOW_REDIS_URL needs fakeredis, which comes with the `embedded` extra: "
    "run `make install`, or install `svmflow[embedded]`; or set SVMFLOW_REDIS_URL to a Redis server"
)


class MissingEmbeddedExtraError(SvmflowError):
    """fakeredis is not installed, and nothing else can stand in for Redis."""


def fakeredis_module() -> ModuleType:
    """The ``fakeredis`` module, or an error that says what to install."""
    try:
        import fakeredis
    except ModuleNotFoundError as exc:
        # Only fakeredis itself missing is this error; a broken dependency of it must surface as it is.
        if exc.name != "fakeredis":
            raise
        raise MissingEmbeddedExtraError(INSTALL_HINT) from exc
    return fakeredis
