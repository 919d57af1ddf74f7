"""Secrets: Secret Manager in GCP; environment variables (with local defaults) elsewhere."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

# Used only where no secret store is configured; documented in the README.
LOCAL_DEFAULTS = {
    "api-keys": "dev-local-key",
    "id-signing-key": "dev-local-signing-key-not-for-production",
    "db-password": "",
    # Standard Webhooks form (whsec_ and base64): signs completion webhooks in local runs only.
    "webhook-secret": "whsec_ZGV2LWxvY2FsLXdlYmhvb2stc2VjcmV0LW5vdC1mb3ItcHJvZA==",
}


class EnvSecrets:
    """``SVMFLOW_SECRET_API_KEYS`` for ``api-keys``, and so on; falls back to ``LOCAL_DEFAULTS``."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if environ is None else environ

    def get(self, name: str) -> str:
        variable = "SVMFLOW_SECRET_" + name.upper().replace("-", "_")
        value = self._env.get(variable)
        if value is not None:
            return value
        if name in LOCAL_DEFAULTS:
            return LOCAL_DEFAULTS[name]
        raise KeyError(f"secret {name!r} is not configured (set {variable})")


class SecretManagerSecrets:
    """Reads ``projects/P/secrets/<prefix><name>/versions/latest`` once per process and caches it."""

    def __init__(self, client: Any, project: str, prefix: str = "") -> None:
        self._client = client
        self._project = project
        self._prefix = prefix
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> str:
        with self._lock:
            if name not in self._cache:
                path = f"projects/{self._project}/secrets/{self._prefix}{name}/versions/latest"
                response = self._client.access_secret_version(request={"name": path})
                self._cache[name] = response.payload.data.decode("utf-8")
            return self._cache[name]

    def __repr__(self) -> str:  # never show cached values
        return f"SecretManagerSecrets(project={self._project!r}, prefix={self._prefix!r})"


def make_secret_manager_client(endpoint: str = "") -> Any:
    """The Secret Manager client; with ``endpoint`` it talks plaintext gRPC to a local stand-in."""
    from google.cloud import secretmanager

    if not endpoint:
        return secretmanager.SecretManagerServiceClient()
    import grpc
    from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
        SecretManagerServiceGrpcTransport,
    )

    transport = SecretManagerServiceGrpcTransport(channel=grpc.insecure_channel(endpoint))
    return secretmanager.SecretManagerServiceClient(transport=transport)
