"""The Functions app: its HTTP routes, one line each. The logic lives in `chat/`.

Every HTTP function uses the streaming extension's FastAPI types: once the extension is
imported, a classic `func.HttpRequest` function fails to index.
"""

import logging

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from chat.endpoints import respond
from chat.errors import ChatError
from chat.protocols import ai_chat
from chat.settings import get_settings

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="chat", methods=["POST"])
async def chat(req: Request) -> Response:
    """AI Chat Protocol, the whole answer at once: for accessibility, curl and test tools."""
    return await respond(req, ai_chat, stream=False)


@app.route(route="chat/stream", methods=["POST"])
async def chat_stream(req: Request) -> Response:
    """AI Chat Protocol, the answer as NDJSON lines (SSE with `Accept: text/event-stream`), token by token."""
    return await respond(req, ai_chat, stream=True)


# Say at start-up what the first request would otherwise be the first to find out.
try:
    settings = get_settings()
    if missing := settings.missing_upstream_settings():
        logging.error("Missing required settings: %s. Requests will fail until they are set.", ", ".join(missing))
    for warning in settings.warnings:
        logging.warning("%s.", warning)
except ChatError as error:
    logging.error("%s. Requests will fail until this is fixed.", error.message)
