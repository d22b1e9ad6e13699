"""The Functions app: two HTTP routes of the Microsoft AI Chat Protocol. The logic lives in `chat/`.

Every HTTP function uses the streaming extension's FastAPI types: once the extension is
imported, a classic `func.HttpRequest` function fails to index.
"""

import logging

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from chat import endpoints
from chat.errors import ChatError
from chat.settings import get_settings

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="chat", methods=["POST"])
async def chat(req: Request) -> Response:
    """The whole answer at once: for accessibility, curl and test tools."""
    return await endpoints.chat(req)


@app.route(route="chat/stream", methods=["POST"])
async def chat_stream(req: Request) -> Response:
    """The answer as NDJSON lines (SSE with `Accept: text/event-stream`), token by token."""
    return await endpoints.chat_stream(req)


# Say at start-up what the first request would otherwise be the first to find out.
try:
    if missing := get_settings().missing_upstream_settings():
        logging.error("Missing required settings: %s. Requests will fail until they are set.", ", ".join(missing))
except ChatError as error:
    logging.error("%s. Requests will fail until this is fixed.", error.message)
