// Reveals streamed text a few words at a time on a ~33 ms clock, so it flows instead of
// landing a sentence per paint (azure-search-openai-demo PR #659). The larger the backlog,
// the more words per tick, so the display never lags far behind the network. Background tabs
// get timers about once a second (same repo, issue #1838): there the pacer does not animate
// at all, and shows everything that arrived the moment the tab is visible again.

const TICK_MS = 33;
const DRAIN_TICKS = 6; // a backlog of n words is shown within about this many ticks
const HOLD_TICKS = 3; // how long a lone word cut at the end ("Eac") waits for its rest ("h")

const segmenter = typeof Intl !== "undefined" && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: "word" }) : null;

/** The length of `text`'s first `words` words, with the spaces and punctuation that follow them. */
export function prefixOfWords(text, words) {
  let seen = 0;
  if (segmenter) {
    for (const { index, isWordLike } of segmenter.segment(text)) {
      if (isWordLike) {
        if (seen === words) return index;
        seen += 1;
      }
    }
    return text.length;
  }
  const pattern = /\s*\S+\s*/g;
  let match;
  while (seen < words && (match = pattern.exec(text))) seen += 1;
  return seen < words ? text.length : pattern.lastIndex;
}

function countWords(text) {
  if (segmenter) {
    let n = 0;
    for (const { isWordLike } of segmenter.segment(text)) if (isWordLike) n += 1;
    return Math.max(n, 1);
  }
  return Math.max((text.match(/\S+/g) || []).length, 1);
}

const hidden = () => typeof document !== "undefined" && document.visibilityState === "hidden";

export class Pacer {
  #received = "";
  #shown = 0;
  #timer = null;
  #finished = false;
  #held = 0;
  #render;
  #onDrained;

  /**
   * @param {(text: string) => void} render appends newly revealed text to the display
   * @param {() => void} onDrained called once `finish()` was called and everything is shown
   */
  constructor(render, onDrained = () => {}) {
    this.#render = render;
    this.#onDrained = onDrained;
    this.onVisible = () => {
      if (!hidden()) this.#tick(true);
    };
    document.addEventListener("visibilitychange", this.onVisible);
  }

  get received() {
    return this.#received;
  }

  get backlog() {
    return this.#received.length - this.#shown;
  }

  push(text) {
    if (!text) return;
    this.#received += text;
    if (this.#timer === null) this.#tick(false);
  }

  /** No more text will come: show the rest at the usual pace, then call onDrained. */
  finish() {
    this.#finished = true;
    if (this.#timer === null) this.#tick(hidden());
  }

  /** Show everything received now, and stop. */
  flush() {
    this.#clear();
    this.#reveal(this.#received.length);
    this.dispose();
  }

  dispose() {
    this.#clear();
    document.removeEventListener("visibilitychange", this.onVisible);
  }

  #clear() {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #tick(all) {
    this.#clear();
    const backlog = this.#received.slice(this.#shown);
    if (backlog) {
      if (all || hidden()) {
        this.#reveal(this.#received.length);
      } else if (!this.#finished && this.#held < HOLD_TICKS && /^\s*[\p{L}\p{N}]+$/u.test(backlog)) {
        this.#held += 1; // probably half a word: give the rest a moment to arrive
      } else {
        const words = Math.ceil(countWords(backlog) / DRAIN_TICKS);
        this.#reveal(this.#shown + prefixOfWords(backlog, words));
      }
    }
    if (this.#shown < this.#received.length) {
      // In a hidden tab wait for `visibilitychange` instead of a throttled 1 s timer.
      if (!hidden()) this.#timer = setTimeout(() => this.#tick(false), TICK_MS);
    } else if (this.#finished) {
      this.dispose();
      this.#onDrained();
    }
  }

  #reveal(end) {
    if (end <= this.#shown) return;
    const text = this.#received.slice(this.#shown, end);
    this.#shown = end;
    this.#held = 0;
    this.#render(text);
  }
}
