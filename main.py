"""Cloud Functions source root: the entry points of ``functions``, one per function (see infra/)."""

from __future__ import annotations

from functions import *  # noqa: F403 (the entry points are generated from the topology table)
from functions import __all__ as __all__
