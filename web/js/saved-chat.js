// The conversation and the answer in flight, kept in this tab's sessionStorage so that a reload
// brings the chat back and resumes an unfinished answer (docs/web.md, "Reload"). Tab-scoped: a
// new tab starts a new chat, closing the tab forgets it. Storage that is blocked or full only
// means nothing survives a reload.

const KEY = "chat.saved";

/** `{history, sessionState, stream}` as last saved, or null; `stream` is `{resume, apiBase}` or null. */
export function loadChat() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) ?? "null");
    if (!saved || !Array.isArray(saved.history)) return null;
    const history = saved.history.filter(
      (m) => m && (m.role === "user" || m.role === "assistant") && typeof m.content === "string",
    );
    const stream = saved.stream;
    const resumable = typeof stream?.resume?.url === "string" && typeof stream?.resume?.token === "string";
    return {
      history,
      sessionState: saved.sessionState ?? undefined,
      stream: resumable ? { resume: stream.resume, apiBase: String(stream.apiBase ?? "") } : null,
    };
  } catch {
    return null;
  }
}

export function saveChat({ history, sessionState, stream }) {
  try {
    if (!history.length) sessionStorage.removeItem(KEY);
    else sessionStorage.setItem(KEY, JSON.stringify({ history, sessionState: sessionState ?? null, stream }));
  } catch {
    // Full or blocked: drop what was kept, so a reload never resumes a stream that has ended.
    try {
      sessionStorage.removeItem(KEY);
    } catch {
      // Blocked entirely: nothing was kept either.
    }
  }
}
