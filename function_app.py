"""The Functions app: its HTTP routes, one line each. The logic lives in `chat/`.

Every HTTP function uses the streaming extension's FastAPI types: once the extension is
imported, a classic `func.HttpRequest` function fails to index.
"""

import logging

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from chat.endpoints import respond
from chat.errors import ChatError
from chat.protocols import ai_chat, responses_ndjson, ui_message
from chat.resume import endpoints as resume_endpoints
from chat.settings import get_settings
from chat.worker_runtime import release_finished_http_invocations, turn_off_access_log

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
# azure-functions-runtime 1.3.0 keeps a record of every HTTP invocation for good (chat/worker_runtime.py).
release_finished_http_invocations()
turn_off_access_log()  # the host logs every invocation already (chat/worker_runtime.py)


@app.route(route="chat", methods=["POST"])
async def chat(req: Request) -> Response:
    """AI Chat Protocol, the whole answer at once: for accessibility, curl and test tools."""
    return await respond(req, ai_chat, stream=False)


@app.route(route="chat/stream", methods=["POST"])
async def chat_stream(req: Request) -> Response:
    """AI Chat Protocol, the answer as NDJSON lines (SSE with `Accept: text/event-stream`), token by token."""
    return await respond(req, ai_chat, stream=True)


@app.route(route="ui/chat", methods=["POST"])
async def ui_chat(req: Request) -> Response:
    """Vercel AI SDK UI message stream v1: `useChat` with `DefaultChatTransport({ api: ".../api/ui/chat" })`."""
    return await respond(req, ui_message, stream=True)


@app.route(route="chat/stream/{stream_id}", methods=["GET"])
async def chat_stream_resume(req: Request) -> Response:
    """Resume an AI Chat Protocol stream after `Last-Event-ID` or `?after=N` (CHAT_RESUME on; docs/resume.md)."""
    return await resume_endpoints.resume_stream(req)


@app.route(route="chat/stream/{stream_id}/cancel", methods=["POST"])
async def chat_stream_cancel(req: Request) -> Response:
    """Stop a resumable AI Chat Protocol stream now, from any connection."""
    return await resume_endpoints.cancel_stream(req)


@app.route(route="ui/chat/{chat_id}/stream", methods=["GET"])
async def ui_chat_resume(req: Request) -> Response:
    """`useChat({ resume: true })`'s reconnect: the chat's stream, or 204 when there is none."""
    return await resume_endpoints.resume_ui_stream(req)


@app.route(route="ui/chat/{chat_id}/stream/cancel", methods=["POST"])
async def ui_chat_cancel(req: Request) -> Response:
    """Stop the chat's resumable stream now (a dropped connection alone only detaches it)."""
    return await resume_endpoints.cancel_ui_stream(req)


@app.route(route="responses", methods=["POST"])
async def responses(req: Request) -> Response:
    """The Azure samples' Responses-shaped NDJSON (SSE with `Accept: text/event-stream`); `stream: false` for JSON."""
    return await respond(req, responses_ndjson)


@app.route(route="responses/{stream_id}", methods=["GET"])
async def responses_resume(req: Request) -> Response:
    """Resume a `/api/responses` stream after `Last-Event-ID` or `?after=N` (CHAT_RESUME on; docs/resume.md)."""
    return await resume_endpoints.resume_stream(req)


@app.route(route="responses/{stream_id}/cancel", methods=["POST"])
async def responses_cancel(req: Request) -> Response:
    """Stop a resumable `/api/responses` stream now, from any connection."""
    return await resume_endpoints.cancel_stream(req)


# Say at start-up what the first request would otherwise be the first to find out.
try:
    settings = get_settings()
    if missing := settings.missing_upstream_settings():
        logging.error("Missing required settings: %s. Requests will fail until they are set.", ", ".join(missing))
    for warning in settings.warnings:
        logging.warning("%s.", warning)
except ChatError as error:
    logging.error("%s. Requests will fail until this is fixed.", error.message)
