"""The APIs' side of bootstrap: the parts of a process's container an API app is given."""

from __future__ import annotations

from api.service import Backend
from svmflow.bootstrap import Container


def backend_of(container: Container) -> Backend:
    return Backend(
        settings=container.settings,
        secrets=container.secrets,
        publisher=lambda: container.publisher,
        read_model=lambda: container.read_model,
        progress=lambda: container.progress,
        bucket=lambda: container.bucket,
        dataset=lambda: container.dataset,
    )
