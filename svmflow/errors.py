"""The error hierarchy that decides what happens to a message.

``PermanentError``: the message can never be processed; it is recorded in the dead-letter topic and
acknowledged so it cannot loop. Anything else raised by a handler is treated as transient: the message is
redelivered with backoff until the subscription's attempts run out.
"""

from __future__ import annotations


class SvmflowError(Exception):
    """Base of every error the core raises on purpose."""


class PermanentError(SvmflowError):
    """The message is malformed or refers to something that cannot exist; retrying cannot help."""


class TransientError(SvmflowError):
    """A dependency is unavailable or not caught up yet; retrying later can succeed."""


class BusyError(TransientError):
    """The service is busy (another training holds the claim, a dependency refuses connections for now).

    Retried like any transient failure, but a busy refusal says nothing about the message itself, so the
    embedded bus does not count it against the attempts that exist to catch poison messages."""


class ArtifactIntegrityError(SvmflowError):
    """A model artifact does not match the digest recorded when it was written."""


class PreconditionFailedError(SvmflowError):
    """A conditional write lost a race: the object changed since it was read."""


class ModelNotFoundError(SvmflowError):
    """No model is in production, or the requested version does not exist."""
