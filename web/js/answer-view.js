// One assistant message on screen: an optional "Thinking…" section with the reasoning summary,
// a status line while waiting, the answer rendered as Markdown as it grows, and a footer with
// notes and actions. It shows what it is told; app.js decides when.

import { element, keepPinned, svg } from "./dom.js";
import { MarkdownView } from "./markdown.js";

const PROCESSING = "Processing your question…";
export const RECONNECTING = "Reconnecting…";

const seconds = (ms) => Math.max(1, Math.round(ms / 1000));

export class AnswerView {
  #source = ""; // the answer's Markdown shown so far
  #reasoning = "";
  #waitingSince = performance.now();
  #thinkingSince = null;
  #thoughtMs = null;
  #timer = null;

  constructor(list) {
    this.item = element("li", "message assistant");
    this.item.dataset.state = "pending";
    this.item.setAttribute("aria-busy", "true");
    const avatar = element("div", "avatar");
    avatar.innerHTML = svg('<path d="M12 3l1.9 5.1L19 10l-5.1 1.9L12 17l-1.9-5.1L5 10l5.1-1.9z"/>');
    const body = element("div", "answer");
    this.thinking = element("details", "thinking");
    this.thinking.hidden = true;
    const summary = element("summary", "thinking-summary");
    this.thinkingLabel = element("span", "thinking-label", "Thinking…");
    this.thinkingTime = element("span", "thinking-time");
    summary.append(this.thinkingLabel, this.thinkingTime);
    this.thinkingText = element("div", "thinking-text markdown");
    this.thinkingView = new MarkdownView(this.thinkingText);
    this.thinking.append(summary, this.thinkingText);
    this.status = element("p", "status");
    this.statusText = element("span", "status-text", PROCESSING);
    this.statusTime = element("span", "status-time");
    this.status.append(element("span", "dots"), this.statusText, this.statusTime);
    this.text = element("div", "answer-text markdown");
    this.textView = new MarkdownView(this.text);
    // Below the text so far: the connection dropped and the rest is being fetched (resume.js).
    this.reconnect = element("p", "status reconnecting");
    this.reconnect.append(element("span", "dots"), element("span", "status-text", RECONNECTING));
    this.reconnect.hidden = true;
    this.footer = element("div", "answer-footer");
    body.append(
      element("h2", "visually-hidden", "Assistant said:"),
      this.thinking,
      this.status,
      this.text,
      this.reconnect,
      this.footer,
    );
    this.item.append(avatar, body);
    this.#timer = setInterval(() => this.#showElapsed(), 1000);
    keepPinned(() => list.append(this.item));
  }

  /** The answer as Markdown, as far as it is shown. */
  get content() {
    return this.#source;
  }

  /** The answer as a reader hears it: the rendered words, not the Markdown marks. */
  get spokenText() {
    return this.text.innerText.trim();
  }

  get thoughtSeconds() {
    return this.#thoughtMs === null ? null : seconds(this.#thoughtMs);
  }

  setStatus(text) {
    if (this.item.dataset.state === "pending") this.statusText.textContent = text;
  }

  /** Count text that arrived (not yet necessarily shown): tests and the pacer's invariant. */
  noteReceived(length) {
    this.item.dataset.received = String(length);
  }

  append(text) {
    this.#source += text;
    this.item.dataset.shown = String(this.#source.length);
    keepPinned(() => {
      if (this.item.dataset.state === "pending") {
        this.item.dataset.state = "streaming";
        this.status.hidden = true;
      }
      this.textView.render(this.#source);
    });
  }

  /** Show or hide "Reconnecting…"; while it shows, the waiting line does not. */
  setReconnecting(on) {
    keepPinned(() => {
      this.reconnect.hidden = !on;
      this.item.dataset.reconnecting = String(on);
      if (on) this.status.hidden = true;
      else if (this.item.dataset.state === "pending" && this.#thinkingSince === null) this.status.hidden = false;
    });
  }

  /** The model has started to reason: show the section, open, with a running clock. */
  startThinking() {
    if (this.#thinkingSince !== null) return;
    this.#thinkingSince = performance.now();
    this.item.dataset.phase = "thinking";
    clearInterval(this.#timer); // tick on the thinking's own seconds
    this.#timer = setInterval(() => this.#showElapsed(), 1000);
    keepPinned(() => {
      this.status.hidden = true;
      this.thinking.hidden = false;
      this.thinking.open = true;
      this.#showElapsed();
    });
  }

  appendReasoning(text) {
    this.#reasoning += text;
    keepPinned(() => this.thinkingView.render(this.#reasoning));
  }

  /** The thinking is over (the answer begins, or the stream ended): "Thought for N s", closed. */
  stopThinking({ collapse = true } = {}) {
    if (this.#thinkingSince === null || this.#thoughtMs !== null) return;
    this.#thoughtMs = performance.now() - this.#thinkingSince;
    this.item.dataset.phase = "answering";
    keepPinned(() => {
      this.thinkingLabel.textContent = `Thought for ${seconds(this.#thoughtMs)} s`;
      this.thinkingTime.textContent = "";
      this.thinkingView.render(this.#reasoning, { partial: false });
      if (!this.#reasoning) this.thinkingText.replaceChildren(element("p", "thinking-none", "No summary of the reasoning was given."));
      if (collapse) this.thinking.open = false;
    });
  }

  /** A whole reasoning summary at once (the non-streaming answer), collapsed. */
  showReasoning(text) {
    this.#reasoning = text;
    this.thinkingLabel.textContent = "Reasoning summary";
    this.thinkingView.render(text, { partial: false });
    this.thinking.hidden = false;
  }

  /** The answer is over: render it in full, then add a badge and notes below it. */
  end(kind, ...notes) {
    clearInterval(this.#timer);
    this.stopThinking({ collapse: kind === "done" });
    this.item.dataset.state = kind;
    this.item.removeAttribute("aria-busy");
    this.status.hidden = true;
    this.reconnect.hidden = true;
    delete this.item.dataset.reconnecting;
    keepPinned(() => {
      this.textView.render(this.#source, { partial: false });
      this.text.hidden = !this.#source;
      const badges = { stopped: "Stopped", interrupted: "Interrupted" };
      if (badges[kind]) this.footer.append(element("span", `badge badge-${kind}`, badges[kind]));
      this.footer.append(...notes.filter(Boolean));
    });
  }

  addAction(label, onClick, ariaLabel) {
    const button = element("button", "button-small", label);
    button.type = "button";
    if (ariaLabel) button.setAttribute("aria-label", ariaLabel);
    button.addEventListener("click", () => onClick(button));
    keepPinned(() => this.footer.append(button));
    return button;
  }

  #showElapsed() {
    if (!this.item.isConnected) {
      clearInterval(this.#timer); // removed by "New chat" before it ended
      return;
    }
    // Whole seconds; a timer that fires a hair early still counts its second.
    const since = (start) => Math.floor((performance.now() - start + 50) / 1000);
    if (this.#thinkingSince !== null && this.#thoughtMs === null) {
      if (since(this.#thinkingSince) >= 1) this.thinkingTime.textContent = `${since(this.#thinkingSince)} s`;
    } else if (this.item.dataset.state === "pending" && since(this.#waitingSince) >= 1) {
      this.statusTime.textContent = `${since(this.#waitingSince)} s`;
    }
  }
}

export function errorNote(error) {
  const box = element("div", "error-note");
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", "Error");
  const title = element("strong", "error-title", error.status ? `Error ${error.status}` : "Error");
  const message = element("span", "error-message", ` ${error.message}`);
  box.append(title, message);
  if (error.code) box.append(element("code", "error-code", error.code));
  if (error.retryAfter) box.append(element("span", "error-retry", ` Try again in ${error.retryAfter} s.`));
  return box;
}

export function plainNote(text) {
  return element("p", "note", text);
}

export function timingNote(context) {
  const parts = [];
  const total = context?.timings?.total_ms;
  const tokens = context?.usage?.completion_tokens;
  const reasoning = context?.usage?.reasoning_tokens;
  if (typeof total === "number") parts.push(total >= 1000 ? `${(total / 1000).toFixed(1)} s` : `${Math.round(total)} ms`);
  if (typeof tokens === "number") {
    parts.push(typeof reasoning === "number" && reasoning > 0 ? `${tokens} tokens (${reasoning} reasoning)` : `${tokens} tokens`);
  }
  if (!parts.length) return null;
  const note = element("span", "meta", parts.join(" · "));
  if (context?.requestId) note.title = `Request ${context.requestId}`;
  return note;
}
