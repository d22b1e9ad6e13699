"""What deploys: the routes, the logic, their settings; nothing that only serves development."""

import ast
import fnmatch
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED_CODE = [ROOT / "function_app.py", *sorted((ROOT / "chat").rglob("*.py"))]


def deployed_files() -> set[str]:
    patterns = [
        line.strip().rstrip("/")
        for line in (ROOT / ".funcignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return {
        path
        for path in tracked
        if not any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.split("/")[0], p) for p in patterns)
    }


def imports_of(path: Path) -> set[str]:
    """Dotted names of every absolute import in a file, e.g. `azure.identity.aio`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_the_app_deploys():
    top = {path.split("/")[0] for path in deployed_files()}
    assert top == {"function_app.py", "host.json", "requirements.txt", "chat"}


def test_the_logic_does_not_import_the_functions_runtime():
    for path in (ROOT / "chat").rglob("*.py"):
        runtime = {name for name in imports_of(path) if name.startswith(("azure.functions", "azurefunctions"))}
        assert not runtime, f"{path.name} imports {runtime}"


def test_every_requirement_is_imported_by_what_deploys():
    imported = set().union(*(imports_of(path) for path in DEPLOYED_CODE))
    module_of = {
        "azure-functions": "azure.functions",
        "azurefunctions-extensions-http-fastapi": "azurefunctions.extensions.http.fastapi",
        "openai": "openai",
        "azure-identity": "azure.identity",
        "msgspec": "msgspec",
        "aiohttp": "aiohttp",  # chat/upstream/transport.py (and azure-core's async credentials)
        "redis": "redis",  # chat/resume/redis_store.py, only with CHAT_RESUME=redis
    }
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    pins = {re.split(r"[<>=\[; ]", line)[0]: line for line in lines if line and not line.startswith("#")}
    # Not imported by the app: the worker runs it. Listing it pins the runtime production runs.
    assert pins.pop("azure-functions-runtime") == "azure-functions-runtime==1.3.0"
    # Not imported by the app either: uvicorn's `http="auto"` picks it up (next test).
    assert pins.pop("httptools").startswith("httptools>=")
    requirements = set(pins)
    assert requirements == set(module_of)
    for requirement in requirements:
        module = module_of[requirement]
        assert any(name == module or name.startswith(module + ".") for name in imported), f"{requirement} unused"


def test_the_worker_s_uvicorn_parses_http_with_httptools():
    """The extension serves with uvicorn's defaults (`http="auto"`): the app's packages decide the parser."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert AutoHTTPProtocol is HttpToolsProtocol
