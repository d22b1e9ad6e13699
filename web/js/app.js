// The page: a conversation kept in memory (and in this tab's sessionStorage, for a reload), sent
// whole with each question; the answer streamed (or fetched whole), resumed after a drop when the
// server allows it (resume.js), and rendered as sanitized Markdown (markdown.js) — raw HTML from
// the model never becomes markup.

import { AnswerView, RECONNECTING, errorNote, plainNote, timingNote } from "./answer-view.js";
import { ChatError, completeChat, sessionStateOf, streamChat } from "./chat-client.js";
import { loadConfig } from "./config.js";
import { element, keepPinned, scrollToEnd } from "./dom.js";
import { Pacer } from "./pacer.js";
import { cancelGeneration, resilientEvents } from "./resume.js";
import { loadChat, saveChat } from "./saved-chat.js";

const STREAM_PREF = "chat.streaming";
// The server names the phases; older servers sent their own words ("Generating answer…").
const ACCEPTED = "Generating answer…";

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
  history: [], // [{role, content, state?}]: sent to the API as {role, content}; `state` of an answer as it ended
  sessionState: undefined,
  turn: null, // the answer being written: {controller, flush(), stream: {resume, apiBase} once resumable}
};
let configReady = Promise.resolve();
let leaving = false; // the page is being unloaded: its aborted answer must not overwrite what a reload restores

/** Keep the conversation, and the stream of the answer in flight, for a reload of this tab. */
function persist() {
  if (leaving) return;
  saveChat({ history: state.history, sessionState: state.sessionState, stream: state.turn?.stream ?? null });
}

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

// ---- messages ------------------------------------------------------------------------------

function addUserMessage(text) {
  ui.empty.hidden = true;
  const item = element("li", "message user");
  item.append(element("h2", "visually-hidden", "You said:"), element("div", "bubble", text));
  keepPinned(() => ui.messages.append(item));
  scrollToEnd();
}

function announce(text) {
  // Clear first so that the same words are announced again.
  ui.announcer.textContent = "";
  setTimeout(() => {
    ui.announcer.textContent = text;
  }, 50);
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No Clipboard API (a plain-http page on another host) or no permission: the old way.
    const buffer = element("textarea", "clipboard-buffer");
    buffer.value = text;
    buffer.setAttribute("readonly", "");
    const focused = document.activeElement;
    document.body.append(buffer);
    buffer.select();
    const copied = document.execCommand("copy");
    buffer.remove();
    focused?.focus();
    return copied;
  }
}

/** Copy, then say so on the button for a moment (and once to screen readers). */
async function copyWithFeedback(button, text) {
  const label = button.textContent;
  const copied = await copyText(text);
  button.textContent = copied ? "Copied" : "Copy failed";
  announce(copied ? "Copied to the clipboard." : "Could not copy to the clipboard.");
  setTimeout(() => {
    button.textContent = label;
  }, 2000);
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

/** The phases of one streamed answer, each shown and announced once, in order. */
function phases(view, reasoningPacer) {
  let phase = "waiting";
  return {
    thinking() {
      if (phase !== "waiting") return;
      phase = "thinking";
      view.startThinking();
      announce("Thinking…");
    },
    answering() {
      if (phase === "answering") return;
      const thought = phase === "thinking";
      phase = "answering";
      if (!thought) return;
      reasoningPacer.flush();
      view.stopThinking();
      announce(`Thought for ${view.thoughtSeconds} seconds. Writing the answer…`);
    },
  };
}

async function streamAnswer(view, messages, controller, saved) {
  let finalContext = null;
  let received = "";
  let drained;
  const done = new Promise((resolve) => {
    drained = resolve;
  });
  const pacer = new Pacer((text) => view.append(text), () => drained());
  const reasoningPacer = new Pacer((text) => view.appendReasoning(text));
  const phase = phases(view, reasoningPacer);
  const flush = () => {
    reasoningPacer.flush();
    pacer.flush();
  };
  const turn = state.turn;
  turn.flush = () => {
    flush();
    drained();
  };
  const apiBase = saved?.apiBase ?? state.config.apiBase;
  const { framing } = state.config;
  const signal = controller.signal;
  try {
    const events = resilientEvents({
      apiBase,
      framing,
      signal,
      open: () => streamChat({ apiBase, framing, messages, sessionState: state.sessionState, signal }),
      resume: saved?.resume ?? null,
      onResumable(resume) {
        turn.stream = { resume, apiBase };
        persist();
      },
      onReconnecting() {
        view.setReconnecting(true);
        announce(RECONNECTING);
      },
      onReconnected: () => view.setReconnecting(false),
    });
    for await (const event of events) {
      rememberSessionState(event);
      const context = event.context;
      const progress = context?.progress;
      if (progress === "thinking") phase.thinking();
      else if (progress === "answering") phase.answering();
      else if (progress === "accepted") view.setStatus(ACCEPTED);
      else if (typeof progress === "string") view.setStatus(progress);
      const reasoning = event.delta?.context?.reasoning;
      if (typeof reasoning === "string" && reasoning) {
        phase.thinking();
        reasoningPacer.push(reasoning);
      }
      const content = event.delta?.content;
      if (typeof content === "string" && content) {
        phase.answering();
        received += content;
        view.noteReceived(received.length);
        pacer.push(content);
      }
      if (context?.finish_reason) finalContext = context;
    }
  } catch (error) {
    flush(); // what arrived stays on screen
    throw error;
  }
  reasoningPacer.flush();
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
  const reasoning = body.context?.reasoning;
  if (typeof reasoning === "string" && reasoning) view.showReasoning(reasoning);
  const content = String(body.message?.content ?? "");
  view.noteReceived(content.length);
  if (content) view.append(content);
  return body.context ?? null;
}

/**
 * Answer the conversation as it stands (its last message is the user's); with `saved`, the
 * stream this tab was reading before a reload (`{resume, apiBase}`), picked up where it is.
 */
async function answer(saved = null) {
  const view = new AnswerView(ui.messages);
  const controller = new AbortController();
  const turn = { controller, flush: () => {}, stream: saved };
  setBusy(turn);
  persist();
  const history = state.history; // "New chat" replaces it: a late ending must not leak into the next chat
  const messages = history.map(({ role, content }) => ({ role, content }));
  const streaming = saved !== null || ui.streaming.checked;
  view.item.dataset.mode = streaming ? "stream" : "whole";
  try {
    await configReady;
    const context = await (streaming ? streamAnswer : completeAnswer)(view, messages, controller, saved);
    // Stop pressed while the last words were still being revealed: the answer is complete.
    if (controller.signal.aborted && !context?.finish_reason) throw new DOMException("stopped", "AbortError");
    if (!view.content) {
      // Never a silent empty bubble.
      view.end("done", plainNote("The model finished without writing an answer."), timingNote(context));
      offerRetry(view);
      if (history === state.history) announce("The model finished without writing an answer.");
      return;
    }
    history.push({ role: "assistant", content: view.content, state: "done" });
    view.end("done", timingNote(context));
    offerCopy(view);
    if (history === state.history) announce(`Answer: ${view.spokenText}`);
  } catch (error) {
    const stopped = error?.name === "AbortError";
    if (view.content) history.push({ role: "assistant", content: view.content, state: stopped ? "stopped" : "interrupted" });
    if (history !== state.history) return; // the chat was cleared meanwhile
    if (stopped) {
      view.end("stopped");
      if (view.content) offerCopy(view);
      announce("Stopped. The partial answer is kept.");
    } else {
      const failure = error instanceof ChatError ? error : new ChatError("client_error", String(error?.message || error));
      if (failure.sessionState !== undefined) state.sessionState = failure.sessionState;
      // Text had arrived: it stays, marked as cut off, and can still be copied.
      view.end(view.content ? "interrupted" : "error", errorNote(failure));
      if (view.content) offerCopy(view);
      offerRetry(view);
      announce(view.content ? `The answer was interrupted: ${failure.message}` : `The answer failed: ${failure.message}`);
      if (!(error instanceof ChatError)) console.error(error);
    }
  } finally {
    if (state.turn === turn) setBusy(null);
    persist(); // the stream is over: a reload shows the answer as it ended, and resumes nothing
  }
}

function offerCopy(view) {
  view.addAction("Copy", (button) => copyWithFeedback(button, view.content), "Copy the answer as Markdown");
}

/** Retry resends the conversation up to the question, without the failed answer. */
function offerRetry(view) {
  const length = state.history.length;
  view.addAction(
    "Retry",
    () => {
      if (state.turn || state.history.length !== length) return; // only the latest, idle answer
      if (state.history.at(-1)?.role === "assistant") state.history.pop();
      view.item.remove();
      answer();
      ui.prompt.focus();
    },
    "Retry this answer",
  );
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
  if (turn.stream) {
    // A resumable answer outlives a dropped connection, and an abort looks like one.
    cancelGeneration(turn.stream.apiBase, turn.stream.resume);
    turn.stream = null;
    persist();
  }
}

function newChat() {
  stop();
  state.history = [];
  state.sessionState = undefined;
  ui.messages.replaceChildren();
  ui.empty.hidden = false;
  persist();
  ui.prompt.focus();
  announce("New chat started.");
}

/**
 * After a reload: the conversation as it was, each answer as it ended, and the answer that was
 * streaming resumed. A question left without an answer (it failed, or the page was reloaded
 * before the stream could be resumed) offers Retry rather than asking again unbidden.
 */
function restore() {
  const saved = loadChat();
  if (!saved?.history.length) return;
  state.history = saved.history;
  state.sessionState = saved.sessionState;
  for (const message of saved.history) {
    if (message.role === "user") {
      addUserMessage(message.content);
      continue;
    }
    const view = new AnswerView(ui.messages);
    view.append(message.content);
    view.end(["stopped", "interrupted"].includes(message.state) ? message.state : "done");
    offerCopy(view);
    if (message === saved.history.at(-1) && message.state === "interrupted") offerRetry(view);
  }
  if (saved.history.at(-1).role !== "user") return;
  if (saved.stream) {
    answer(saved.stream);
  } else {
    const view = new AnswerView(ui.messages);
    view.end("error", plainNote("This question has no answer yet."));
    offerRetry(view);
  }
  scrollToEnd();
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
  // Code blocks are re-rendered while they stream: one listener for all their copy buttons.
  ui.messages.addEventListener("click", (event) => {
    const button = event.target.closest?.(".copy-code");
    const code = button?.closest(".code-block")?.querySelector("code");
    if (code) copyWithFeedback(button, code.textContent);
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
  window.addEventListener("pagehide", () => {
    leaving = true;
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) leaving = false; // back from the back/forward cache: this page goes on
  });
  restore();
  configReady = loadConfig().then((config) => {
    state.config = config;
    document.documentElement.dataset.framing = config.framing;
    document.documentElement.dataset.apiBase = config.apiBase;
    document.documentElement.dataset.ready = "true";
  });
}

main();
