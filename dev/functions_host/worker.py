"""The in-process channel to the pinned worker runtime, `azure-functions-runtime`.

In Azure the host talks gRPC to the proxy worker (it ships in the platform image, not on PyPI),
which hands each message to the runtime's handlers as a `WorkerRequest` with the protocol's
classes attached. This module plays that proxy worker's part in one process: the same start-up
sequence (thread pool, init, metadata, one load per function), the same request shape, and the
runtime's own answers. Nothing of the runtime is reimplemented or patched.
"""

from __future__ import annotations

import platform
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure_functions_runtime as runtime
from azure_functions_runtime.version import VERSION as RUNTIME_VERSION

from dev.functions_host import messages

protos = messages.load()
HOST_VERSION = "4.1044.0"  # the Functions host version this emulation follows; only reported to the runtime


class WorkerStartError(Exception):
    """The runtime refused to start: the host's own log line, then the runtime's words."""


@dataclass
class WorkerRequest:
    """What the proxy worker hands the runtime: the host's message, plus `protos` and `host` at init."""

    name: str
    request: Any
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IndexedFunction:
    function_id: str
    name: str
    raw_bindings: list[str]


def _failure(result: Any) -> str | None:
    """The host's rendering of a failed StatusResult (RpcException: Result / Exception / Stack)."""
    if result.status == protos.StatusResult.Success:
        return None
    return f"Result: Failure\nException: {result.exception.message}\nStack: {result.exception.stack_trace}"


class Worker:
    """One worker process's runtime, driven over an in-process channel."""

    def __init__(self, app_directory: Path, address: str = "127.0.0.1") -> None:
        self.app_directory = app_directory
        self.address = address
        self.http_uri = ""
        self.functions: list[IndexedFunction] = []

    async def start(self) -> None:
        """Init (the runtime indexes the app and starts its HTTP server), metadata, then loads."""
        if str(self.app_directory) not in sys.path:
            sys.path.insert(0, str(self.app_directory))
        runtime.start_threadpool_executor()
        init = await runtime.worker_init_request(
            WorkerRequest(
                "WorkerInitRequest",
                protos.StreamingMessage(
                    request_id=uuid.uuid4().hex,
                    worker_init_request=protos.WorkerInitRequest(
                        host_version=HOST_VERSION,
                        function_app_directory=str(self.app_directory),
                        worker_directory=str(Path(runtime.__file__).parent),
                    ),
                ),
                {"protos": protos, "host": self.address},
            )
        )
        if error := _failure(init.result):
            raise WorkerStartError(f"Initializing worker process failed\n{error}")
        self.http_uri = init.capabilities.get("HttpUri", "")

        metadata = await runtime.functions_metadata_request(
            WorkerRequest(
                "WorkerMetadataRequest",
                protos.StreamingMessage(
                    functions_metadata_request=protos.FunctionsMetadataRequest(
                        function_app_directory=str(self.app_directory)
                    )
                ),
            )
        )
        if error := _failure(metadata.result):
            raise WorkerStartError(f"Worker failed to index functions\n{error}")
        for function in metadata.function_metadata_results:
            loaded = await runtime.function_load_request(
                WorkerRequest(
                    "FunctionLoadRequest",
                    protos.StreamingMessage(
                        function_load_request=protos.FunctionLoadRequest(
                            function_id=function.function_id, metadata=function
                        )
                    ),
                )
            )
            if error := _failure(loaded.result):
                raise WorkerStartError(f"Worker failed to load function: '{function.name}'\n{error}")
            self.functions.append(IndexedFunction(function.function_id, function.name, list(function.raw_bindings)))

    async def invoke(
        self, invocation_id: str, function_id: str, trigger: str, route_params: dict[str, str], trace_parent: str
    ) -> str | None:
        """One InvocationRequest, shaped as the host sends it to an HTTP-proxying worker.

        With `HttpUri` and `RequiresRouteParameters` the trigger's RpcHttp carries only the route
        values; the request itself reaches the runtime's HTTP server. Returns the failure text, if any.
        """
        response = await runtime.invocation_request(
            WorkerRequest(
                "FunctionInvocationRequest",
                protos.StreamingMessage(
                    invocation_request=protos.InvocationRequest(
                        invocation_id=invocation_id,
                        function_id=function_id,
                        input_data=[
                            protos.ParameterBinding(
                                name=trigger, data=protos.TypedData(http=protos.RpcHttp(params=route_params))
                            )
                        ],
                        trace_context=protos.RpcTraceContext(trace_parent=trace_parent),
                        retry_context=protos.RetryContext(),
                    )
                ),
            )
        )
        return _failure(response.result)

    def describe(self) -> str:
        return (
            f"azure-functions-runtime {RUNTIME_VERSION} on Python {platform.python_version()}, "
            f"HTTP server at {self.http_uri or '(none)'}"
        )

    @staticmethod
    def stop() -> None:
        runtime.stop_threadpool_executor()
