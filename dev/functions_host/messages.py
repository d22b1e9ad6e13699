"""The worker protocol's message classes, generated from `worker_protocol.proto` when first needed.

Generated, not checked in: protoc marks its Python output "NO CHECKED-IN PROTOBUF GENCODE",
because generated code is tied to the protobuf runtime it was made for. The module is written
beside the .proto (git-ignored) with the pinned grpcio-tools, stamped with the .proto's hash and
the tool versions, and made again whenever one of them changes, so `python -m dev.host` needs no build step.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
from importlib import metadata, resources
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
PROTO = HERE / "worker_protocol.proto"
OUT = HERE / "generated"
MODULE = "dev.functions_host.generated.worker_protocol_pb2"


def _stamp() -> str:
    """What the generated code depends on: the .proto, and the protoc and protobuf it is made for."""
    versions = f"grpcio-tools {metadata.version('grpcio-tools')}, protobuf {metadata.version('protobuf')}"
    return f"# worker_protocol.proto sha256 {hashlib.sha256(PROTO.read_bytes()).hexdigest()}, {versions}\n"


def _generate(target: Path) -> None:
    from grpc_tools import protoc

    well_known = resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory() as out:
        status = protoc.main(["protoc", f"-I{HERE}", f"-I{well_known}", f"--python_out={out}", PROTO.name])
        if status != 0:
            raise RuntimeError(f"protoc could not compile {PROTO} (exit {status})")
        code = (Path(out) / "worker_protocol_pb2.py").read_text(encoding="utf-8")
    # Written whole then renamed: several hosts may start at once.
    fd, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(_stamp() + code)
    os.replace(temporary, target)


def load() -> ModuleType:
    """The generated module (`StreamingMessage`, `InvocationRequest`, ...), made first if stale."""
    target = OUT / "worker_protocol_pb2.py"
    OUT.mkdir(exist_ok=True)
    if not target.exists() or target.open(encoding="utf-8").readline() != _stamp():
        _generate(target)
    return importlib.import_module(MODULE)
