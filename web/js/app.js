// The page: a conversation kept in memory, sent whole with each question; the answer
// streamed (or fetched whole) and rendered as text only — model output never becomes HTML.

import { ChatError, completeChat, sessionStateOf, streamChat } from "./chat-client.js";
import { loadConfig } from "./config.js";
import { Pacer } from "./pacer.js";

const PROCESSING = "Processing your question…";
const STREAM_PREF = "chat.streaming";

const $ = (id) => document.getElementById(id);
const ui = {
  form: $("composer"),
  prompt: $("prompt"),
  send: $("send"),
  stop: $("stop"),
  streaming: $("streaming"),
  newChat: $("new-chat"),
  messages: $("messages"),
  empty: $("empty"),
  announcer: $("announcer"),
};

const state = {
  config: { apiBase: "", framing: "ndjson" },
  history: [], // [{role, content}] as sent to the API
  sessionState: undefined,
  turn: null, // the answer being written: {controller, flush()}
};
let configReady = Promise.resolve();

// ---- preferences -----------------------------------------------------------------------

function readStreamingPref() {
  try {
    return localStorage.getItem(STREAM_PREF) !== "off";
  } catch {
    return true; // storage blocked: stream by default
  }
}

function writeStreamingPref(on) {
  try {
    localStorage.setItem(STREAM_PREF, on ? "on" : "off");
  } catch {
    // Not remembered; the toggle still works for this page.
  }
}

// ---- rendering -------------------------------------------------------------------------

const svg = (path) =>
  `<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">${path}</svg>`; // fixed markup only

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function nearBottom() {
  const page = document.scrollingElement;
  return page.scrollHeight - page.scrollTop - page.clientHeight < 120;
}

function scrollToEnd() {
  const page = document.scrollingElement;
  page.scrollTop = page.scrollHeight;
}

/** Keep the view pinned to the newest text only if the reader has not scrolled up. */
function keepPinned(change) {
  const pinned = nearBottom();
  change();
  if (pinned) scrollToEnd();
}

function addUserMessage(text) {
  ui.empty.hidden = true;
  const item = element("li", "message user");
  item.append(element("h2", "visually-hidden", "You said:"), element("div", "bubble", text));
  keepPinned(() => ui.messages.append(item));
  scrollToEnd();
}

/** An assistant message: text grows at the end; status, notes and actions below it. */
class AnswerView {
  constructor() {
    this.item = element("li", "message assistant");
    this.item.dataset.state = "pending";
    this.item.setAttribute("aria-busy", "true");
    const avatar = element("div", "avatar");
    avatar.innerHTML = svg('<path d="M12 3l1.9 5.1L19 10l-5.1 1.9L12 17l-1.9-5.1L5 10l5.1-1.9z"/>');
    const body = element("div", "answer");
    this.text = element("div", "answer-text");
    this.textNode = document.createTextNode("");
    this.text.append(this.textNode);
    this.status = element("p", "status");
    this.statusText = element("span", "status-text", PROCESSING);
    this.status.append(element("span", "dots"), this.statusText);
    this.footer = element("div", "answer-footer");
    body.append(element("h2", "visually-hidden", "Assistant said:"), this.text, this.status, this.footer);
    this.item.append(avatar, body);
    this.received = 0;
    keepPinned(() => ui.messages.append(this.item));
  }

  get content() {
    return this.textNode.data;
  }

  setStatus(text) {
    if (this.item.dataset.state === "pending") this.statusText.textContent = text;
  }

  /** Count text that arrived (not yet necessarily shown): tests and the pacer's invariant. */
  noteReceived(length) {
    this.received = length;
    this.item.dataset.received = String(length);
  }

  append(text) {
    keepPinned(() => {
      if (this.item.dataset.state === "pending") {
        this.item.dataset.state = "streaming";
        this.status.hidden = true;
      }
      this.textNode.appendData(text);
    });
  }

  end(kind, note) {
    this.item.dataset.state = kind;
    this.item.removeAttribute("aria-busy");
    this.status.hidden = true;
    if (!this.content) this.text.classList.add("answer-text-empty");
    keepPinned(() => {
      if (kind === "stopped") this.footer.append(badge("stopped", "Stopped"));
      if (note) this.footer.append(note);
    });
  }

  addAction(label, onClick) {
    const button = element("button", "button-small", label);
    button.type = "button";
    button.addEventListener("click", onClick);
    this.footer.append(button);
    return button;
  }
}

function badge(kind, text) {
  return element("span", `badge badge-${kind}`, text);
}

function errorNote(error) {
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

function timingNote(context) {
  const parts = [];
  const total = context?.timings?.total_ms;
  const tokens = context?.usage?.completion_tokens;
  if (typeof total === "number") parts.push(total >= 1000 ? `${(total / 1000).toFixed(1)} s` : `${Math.round(total)} ms`);
  if (typeof tokens === "number") parts.push(`${tokens} tokens`);
  if (!parts.length) return null;
  const note = element("span", "meta", parts.join(" · "));
  if (context?.requestId) note.title = `Request ${context.requestId}`;
  return note;
}

function announce(text) {
  // Clear first so that the same words are announced again.
  ui.announcer.textContent = "";
  setTimeout(() => {
    ui.announcer.textContent = text;
  }, 50);
}

// ---- one turn ----------------------------------------------------------------------------

function setBusy(turn) {
  state.turn = turn;
  const busy = turn !== null;
  const hadFocus = document.activeElement === ui.send || document.activeElement === ui.stop;
  ui.send.hidden = busy;
  ui.stop.hidden = !busy;
  ui.form.classList.toggle("busy", busy);
  if (hadFocus) ui.prompt.focus();
}

function rememberSessionState(event) {
  const found = sessionStateOf(event);
  if (found.present) state.sessionState = found.value;
}

async function streamAnswer(view, messages, controller) {
  let finalContext = null;
  let received = "";
  let drained;
  const done = new Promise((resolve) => {
    drained = resolve;
  });
  const pacer = new Pacer((text) => view.append(text), () => drained());
  state.turn.flush = () => {
    pacer.flush();
    drained();
  };
  try {
    const events = streamChat({
      apiBase: state.config.apiBase,
      framing: state.config.framing,
      messages,
      sessionState: state.sessionState,
      signal: controller.signal,
    });
    for await (const event of events) {
      rememberSessionState(event);
      const context = event.context;
      if (context?.progress) view.setStatus(String(context.progress));
      const content = event.delta?.content;
      if (typeof content === "string" && content) {
        received += content;
        view.noteReceived(received.length);
        pacer.push(content);
      }
      if (context?.finish_reason) finalContext = context;
    }
  } catch (error) {
    pacer.flush(); // what arrived stays on screen
    throw error;
  }
  pacer.finish();
  await done;
  return finalContext;
}

async function completeAnswer(view, messages, controller) {
  const body = await completeChat({
    apiBase: state.config.apiBase,
    messages,
    sessionState: state.sessionState,
    signal: controller.signal,
  });
  rememberSessionState(body);
  const content = String(body.message?.content ?? "");
  view.noteReceived(content.length);
  if (content) view.append(content);
  return body.context ?? null;
}

/** Answer the conversation as it stands (its last message is the user's). */
async function answer() {
  const view = new AnswerView();
  const controller = new AbortController();
  const turn = { controller, flush: () => {} };
  setBusy(turn);
  const history = state.history; // "New chat" replaces it: a late ending must not leak into the next chat
  const messages = history.map(({ role, content }) => ({ role, content }));
  const streaming = ui.streaming.checked;
  view.item.dataset.mode = streaming ? "stream" : "whole";
  try {
    await configReady;
    const context = await (streaming ? streamAnswer : completeAnswer)(view, messages, controller);
    // Stop pressed while the last words were still being revealed: the answer is complete.
    if (controller.signal.aborted && !context?.finish_reason) throw new DOMException("stopped", "AbortError");
    history.push({ role: "assistant", content: view.content });
    view.end("done", timingNote(context));
    if (history === state.history) announce(`Answer: ${view.content}`);
  } catch (error) {
    if (view.content) history.push({ role: "assistant", content: view.content });
    if (history !== state.history) return; // the chat was cleared meanwhile
    if (error?.name === "AbortError") {
      view.end("stopped");
      announce("Stopped. The partial answer is kept.");
    } else {
      const failure = error instanceof ChatError ? error : new ChatError("client_error", String(error?.message || error));
      if (failure.sessionState !== undefined) state.sessionState = failure.sessionState;
      view.end("error", errorNote(failure));
      offerRetry(view);
      announce(`The answer failed: ${failure.message}`);
      if (!(error instanceof ChatError)) console.error(error);
    }
  } finally {
    if (state.turn === turn) setBusy(null);
  }
}

function offerRetry(view) {
  const length = state.history.length;
  const button = view.addAction("Retry", () => {
    if (state.turn || state.history.length !== length) return; // only the latest, idle answer
    if (state.history.at(-1)?.role === "assistant") state.history.pop();
    view.item.remove();
    answer();
    ui.prompt.focus();
  });
  button.setAttribute("aria-label", "Retry this answer");
}

function submit() {
  const text = ui.prompt.value.trim();
  if (!text || state.turn) return;
  ui.prompt.value = "";
  fitPrompt();
  state.history.push({ role: "user", content: text });
  addUserMessage(text);
  answer();
}

function stop() {
  const turn = state.turn;
  if (!turn) return;
  turn.controller.abort();
  turn.flush();
}

function newChat() {
  stop();
  state.history = [];
  state.sessionState = undefined;
  ui.messages.replaceChildren();
  ui.empty.hidden = false;
  ui.prompt.focus();
  announce("New chat started.");
}

// ---- wiring ------------------------------------------------------------------------------

function fitPrompt() {
  ui.prompt.style.height = "auto";
  ui.prompt.style.height = `${ui.prompt.scrollHeight}px`;
}

function wire() {
  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
    ui.prompt.focus();
  });
  ui.prompt.addEventListener("keydown", (event) => {
    // keyCode 229: an input method (Japanese, Chinese…) is composing; Enter confirms it.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    }
  });
  ui.prompt.addEventListener("input", fitPrompt);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.turn && !event.isComposing) {
      event.preventDefault();
      stop();
    }
  });
  ui.stop.addEventListener("click", () => {
    stop();
    ui.prompt.focus();
  });
  ui.streaming.checked = readStreamingPref();
  ui.streaming.addEventListener("change", () => writeStreamingPref(ui.streaming.checked));
  ui.newChat.addEventListener("click", newChat);
  document.querySelector(".skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    ui.prompt.focus();
  });
  for (const button of document.querySelectorAll(".suggestion")) {
    button.addEventListener("click", () => {
      ui.prompt.value = button.textContent;
      submit();
      ui.prompt.focus();
    });
  }
}

function main() {
  wire();
  configReady = loadConfig().then((config) => {
    state.config = config;
    document.documentElement.dataset.framing = config.framing;
    document.documentElement.dataset.ready = "true";
  });
}

main();
