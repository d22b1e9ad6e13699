// An answer that survives its connection (docs/resume.md): when the server's first line carries
// `context.resume`, a dropped stream is picked up again with `GET {url}?after=N`, N being the
// last event the page has handled, so the answer goes on with no gap and no repeat. Only drops
// are retried (the network, a reset, a body cut short); an error line or an HTTP error is the
// server's answer and is not. A few tries with backoff, then the drop is reported as before.

import { ChatError, cancelChat, resumeChat } from "./chat-client.js";

const RETRY_DELAYS_MS = [250, 1000, 2000, 4000]; // before each try: four, over about 7 s

/** The resume details of a stream's first event, or null (resume off, or `{"available": false}`). */
export function resumeOf(event) {
  const resume = event?.context?.resume;
  return typeof resume?.url === "string" && resume.url.startsWith("/") && typeof resume?.token === "string" ? resume : null;
}

/**
 * Yield one answer's events across drops. `open()` starts the stream (the POST); given `resume`
 * instead (the page was reloaded mid-answer), it starts by resuming after event `after`.
 * `onResumable(resume)`: the stream turned out resumable. `onReconnecting()`: a drop is being
 * repaired; `onReconnected()`: events flow again. A repair that fails throws the drop itself.
 */
export async function* resilientEvents({
  apiBase,
  framing,
  signal,
  open,
  resume = null,
  after = 0,
  onResumable,
  onReconnecting,
  onReconnected,
}) {
  let drop = resume ? reloaded() : null; // the failure being repaired
  let events = resume ? null : open();
  let tries = 0;
  if (drop) onReconnecting();
  for (;;) {
    try {
      events ??= resumeChat({ apiBase, framing, resume, after, signal });
      for await (const event of events) {
        if (resume === null && (resume = resumeOf(event))) onResumable(resume);
        if (drop !== null) {
          drop = null;
          tries = 0;
          onReconnected();
        }
        yield event;
        if (Number.isInteger(event.index)) after = event.index; // handled: the consumer asked for the next
      }
      return;
    } catch (error) {
      if (signal.aborted || resume === null) throw error;
      if (drop === null) {
        if (!error?.dropped) throw error; // the server's own error line
        drop = error;
        onReconnecting();
      } else if (!error?.dropped && !(error?.status >= 500)) {
        throw error?.status ? drop : error; // 404: nothing to resume (expired, resume off); an error line: the server's end
      }
      if (tries === RETRY_DELAYS_MS.length) throw drop;
      await pause(RETRY_DELAYS_MS[tries], signal);
      tries += 1;
      events = null;
    }
  }
}

function reloaded() {
  return new ChatError("interrupted", "The page was reloaded before the answer was finished.", { dropped: true });
}

/** Wait `ms`, and while the tab is hidden (iOS kills a background fetch) until it is visible again. */
function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", check);
      signal.removeEventListener("abort", abort);
    };
    const check = () => {
      if (elapsed && document.visibilityState !== "hidden") {
        done();
        resolve();
      }
    };
    const abort = () => {
      done();
      reject(new DOMException("stopped", "AbortError"));
    };
    let elapsed = false;
    const timer = setTimeout(() => {
      elapsed = true;
      check();
    }, ms);
    document.addEventListener("visibilitychange", check);
    signal.addEventListener("abort", abort, { once: true });
  });
}

/** Stop the model at once; without it, the server keeps generating for its grace period. */
export function cancelGeneration(apiBase, resume) {
  cancelChat({ apiBase, resume }).catch((error) => console.warn("chat: cancelling the answer failed", error));
}
