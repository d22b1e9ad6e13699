// The Microsoft AI Chat Protocol over fetch: one POST, the reply read as a stream; and the
// resume routes (docs/resume.md) that pick a dropped stream up again. EventSource cannot POST,
// so SSE is parsed from the same fetch body as NDJSON.

/**
 * A failure the page can show: a server error object, an HTTP status, or the network.
 * `dropped` marks the connection failing (not the server answering): a resumable stream may
 * have outlived it.
 */
export class ChatError extends Error {
  constructor(code, message, { status = 0, retryAfter = null, dropped = false } = {}) {
    super(message);
    this.name = "ChatError";
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
    this.dropped = dropped;
  }
}

/**
 * Splits NDJSON text into objects. Lines may be cut anywhere across network chunks; blank
 * lines are keep-alives. Unlike the reference JS client, a last line without "\n" is kept.
 */
export class NdjsonParser {
  #buffer = "";

  push(text) {
    this.#buffer += text;
    const lines = this.#buffer.split("\n");
    this.#buffer = lines.pop();
    return lines.flatMap(parseLine);
  }

  end() {
    const rest = this.#buffer;
    this.#buffer = "";
    return parseLine(rest);
  }
}

/**
 * Splits a Server-Sent Events stream into the JSON objects of its `data:` fields. Comment
 * lines (": keep-alive") and other fields are ignored; "[DONE]" is not an object. An event's
 * `id:` becomes the object's `index`, the number NDJSON lines carry themselves, so a resume
 * reads one field whatever the framing.
 */
export class SseParser {
  #buffer = "";

  push(text) {
    this.#buffer += text.replace(/\r\n?/g, "\n");
    const blocks = this.#buffer.split("\n\n");
    this.#buffer = blocks.pop();
    return blocks.flatMap(parseEvent);
  }

  end() {
    const rest = this.#buffer;
    this.#buffer = "";
    return parseEvent(rest);
  }
}

function parseLine(line) {
  const text = line.trim();
  return text ? [parseJson(text)] : [];
}

function parseEvent(block) {
  const data = [];
  let id = null;
  for (const line of block.split("\n")) {
    if (line.startsWith("data:")) data.push(fieldValue(line, 5));
    else if (line.startsWith("id:")) id = fieldValue(line, 3);
  }
  const text = data.join("\n").trim();
  if (!text || text === "[DONE]") return [];
  const event = parseJson(text);
  if (id !== null && /^\d+$/.test(id) && event && typeof event === "object" && !("index" in event)) event.index = Number(id);
  return [event];
}

const fieldValue = (line, nameLength) => line.slice(line[nameLength] === " " ? nameLength + 1 : nameLength);

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    throw new ChatError("bad_stream", "The server sent a line that is not JSON.");
  }
}

/** The protocol's error object (or an older sample's string) as a ChatError. */
function toChatError(error, status = 0, retryAfter = null) {
  if (typeof error === "string") return new ChatError("error", error, { status, retryAfter });
  const code = String(error?.code ?? "error");
  const message = String(error?.message ?? "The server reported an error.");
  return new ChatError(code, message, { status, retryAfter });
}

function url(apiBase, path) {
  return `${apiBase.replace(/\/+$/, "")}${path}`;
}

function requestBody(messages, sessionState) {
  const body = { messages };
  if (sessionState !== undefined && sessionState !== null) body.sessionState = sessionState;
  return JSON.stringify(body);
}

async function request(target, init) {
  let response;
  try {
    response = await fetch(target, { ...init, cache: "no-store" });
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    throw new ChatError("network_error", "Could not reach the server. Check your connection and try again.", {
      dropped: true,
    });
  }
  if (!response.ok) throw await httpError(response);
  return response;
}

function post(target, body, accept, signal) {
  return request(target, { method: "POST", headers: { "Content-Type": "application/json", Accept: accept }, body, signal });
}

const acceptOf = (framing) => (framing === "sse" ? "text/event-stream" : "application/x-ndjson");

async function httpError(response) {
  const retryAfter = response.headers.get("retry-after");
  let body = null;
  try {
    body = await response.json();
  } catch {
    // A proxy's HTML error page, or nothing at all.
  }
  const sessionState = body && (body.sessionState ?? body.session_state);
  if (body && body.error) {
    const error = toChatError(body.error, response.status, retryAfter);
    error.sessionState = sessionState;
    return error;
  }
  return new ChatError(`http_${response.status}`, `The server answered ${response.status} ${response.statusText}`.trim() + ".", {
    status: response.status,
    retryAfter,
  });
}

/**
 * POST `{messages, sessionState}` to `{apiBase}/api/chat/stream` and yield each protocol
 * object as it arrives. A mid-stream error line is thrown as ChatError; so is a stream that
 * ends without its final line. Aborting `signal` rejects with an AbortError.
 */
export async function* streamChat({ apiBase = "", framing = "ndjson", messages, sessionState, signal }) {
  const body = requestBody(messages, sessionState);
  yield* readEvents(await post(url(apiBase, "/api/chat/stream"), body, acceptOf(framing), signal));
}

/**
 * GET a resumable stream's events after the `after`th (docs/resume.md), in the same framing,
 * then the live ones to its end. 404 (expired, unknown, resume off) is a ChatError with status 404.
 */
export async function* resumeChat({ apiBase = "", framing = "ndjson", resume, after, signal }) {
  const target = `${url(apiBase, resume.url)}?after=${encodeURIComponent(after)}`;
  const headers = { Accept: acceptOf(framing), "X-Resume-Token": resume.token };
  yield* readEvents(await request(target, { method: "GET", headers, signal }));
}

/** Ask the server to stop generating a resumable stream: aborting the fetch alone looks like a drop. */
export async function cancelChat({ apiBase = "", resume }) {
  await request(`${url(apiBase, resume.url)}/cancel`, { method: "POST", headers: { "X-Resume-Token": resume.token } });
}

async function* readEvents(response) {
  // Parse what arrived, not what was asked for: a server may ignore Accept.
  const type = (response.headers.get("content-type") || "").toLowerCase();
  const parser = type.includes("text/event-stream") ? new SseParser() : new NdjsonParser();
  if (!response.body) throw new ChatError("bad_stream", "The browser gave no readable response body.");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await read(reader);
      const events = done ? parser.end() : parser.push(value);
      for (const event of events) {
        if (event.error) throw toChatError(event.error);
        if (event.context?.finish_reason) finished = true;
        yield event;
      }
      if (done) break;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  // No final line: bytes were lost on the way (the server ends every stream with one).
  if (!finished) throw new ChatError("incomplete", "The reply ended before it was finished.", { dropped: true });
}

/** The next chunk; a connection lost mid-stream (iOS Safari: "Load failed") is a ChatError. */
async function read(reader) {
  try {
    return await reader.read();
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    throw new ChatError("interrupted", "The connection was lost before the answer was finished.", { dropped: true });
  }
}

/** POST to `{apiBase}/api/chat` and return the whole answer object. */
export async function completeChat({ apiBase = "", messages, sessionState, signal }) {
  const response = await post(url(apiBase, "/api/chat"), requestBody(messages, sessionState), "application/json", signal);
  let body;
  try {
    body = await response.json();
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    throw new ChatError("bad_response", "The server's answer was not JSON.");
  }
  if (body.error) throw toChatError(body.error, response.status);
  return body;
}

/** The session state of a protocol object; older Azure samples say `session_state`. */
export function sessionStateOf(event) {
  if ("sessionState" in event) return { present: true, value: event.sessionState };
  if ("session_state" in event) return { present: true, value: event.session_state };
  return { present: false, value: undefined };
}
