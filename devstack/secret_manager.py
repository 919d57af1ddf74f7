"""A local Secret Manager: the real client, over plaintext gRPC, reads secrets that live in this process.

Google ships no Secret Manager emulator. This one answers ``AccessSecretVersion`` (all the system asks
for) with the protobuf messages of the client library itself, so the code path from the secrets port
through the client and the wire format is the production one. It keeps a count of reads per secret.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from concurrent import futures
from typing import Any

_SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"


class LocalSecretManager:
    def __init__(self, project: str, secrets: Mapping[str, str], host: str = "127.0.0.1") -> None:
        self.project = project
        self._secrets = dict(secrets)  # full secret id -> value
        self._host = host
        self._server: Any = None
        self._lock = threading.Lock()
        self.reads: Counter[str] = Counter()
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"{self._host}:{self.port}"

    def start(self) -> LocalSecretManager:
        import grpc
        from google.cloud.secretmanager_v1.types import (
            AccessSecretVersionRequest,
            AccessSecretVersionResponse,
        )

        handler = grpc.method_handlers_generic_handler(
            _SERVICE,
            {
                "AccessSecretVersion": grpc.unary_unary_rpc_method_handler(
                    self._access,
                    request_deserializer=AccessSecretVersionRequest.deserialize,
                    response_serializer=AccessSecretVersionResponse.serialize,
                )
            },
        )
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port(f"{self._host}:0")
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=1).wait()
            self._server = None

    def _access(self, request: Any, context: Any) -> Any:
        import grpc
        from google.cloud.secretmanager_v1.types import AccessSecretVersionResponse, SecretPayload

        parts = request.name.split("/")  # projects/P/secrets/S/versions/V
        if len(parts) != 6 or parts[0] != "projects" or parts[2] != "secrets" or parts[4] != "versions":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed secret version name {request.name}")
        project, secret = parts[1], parts[3]
        with self._lock:
            value = self._secrets.get(secret) if project == self.project else None
            if value is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Secret [{request.name}] not found")
            self.reads[secret] += 1
        assert value is not None  # context.abort raised above; untyped grpc cannot say it never returns
        return AccessSecretVersionResponse(
            name=f"projects/{project}/secrets/{secret}/versions/1",
            payload=SecretPayload(data=value.encode()),
        )

    def __repr__(self) -> str:  # never show the values
        return f"LocalSecretManager(project={self.project!r}, secrets={sorted(self._secrets)})"
