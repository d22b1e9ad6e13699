// Model answers are Markdown and untrusted input. marked parses them (GFM); raw HTML in the
// text is escaped by our renderer so it shows as text; DOMPurify then keeps only the elements
// marked itself makes; links are kept only for http(s) and mailto and open in a new tab.
// While an answer streams, `settle()` hides the half-received end of the text (a lone fence
// marker, a table header without its delimiter row, a link cut mid-URL, an unclosed `**`), and
// `MarkdownView` updates the page in place: finished blocks are neither parsed again nor rebuilt,
// and the last one is morphed, so nothing flickers.

import { Marked } from "../vendor/marked.js";
import DOMPurify from "../vendor/purify.js";
import { element } from "./dom.js";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);

const parser = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    // Raw HTML blocks and inline tags: shown as the characters the model wrote, never as markup.
    html: ({ text }) => escapeHtml(text),
    // No images: an outside image is a tracking pixel and a CSP violation. Show a link instead.
    image: ({ href, text }) => `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`,
  },
});

const PURIFY = {
  ALLOWED_TAGS: [
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "li", "input",
    "pre", "code", "em", "strong", "del", "a", "table", "thead", "tbody", "tr", "th", "td",
  ],
  ALLOWED_ATTR: ["href", "title", "class", "start", "align", "type", "checked", "disabled"],
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};
const LINK_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

/** The HTML-free DOM for a Markdown text; `partial` while it is still streaming. */
export function toFragment(text, { partial = false } = {}) {
  const html = parser.parse(partial ? settle(text) : text);
  const fragment = DOMPurify.sanitize(html, PURIFY);
  decorate(fragment);
  return fragment;
}

/**
 * A growing Markdown text shown in one element. Only the text after the last finished block is
 * parsed again on each update: blocks that a later block has closed are kept as they are, so a
 * long answer costs the same per update as a short one.
 */
export class MarkdownView {
  #target;
  #frozenText = 0; // the source up to here is rendered for good...
  #frozenNodes = 0; // ...as this many of the target's first child nodes

  constructor(target) {
    this.#target = target;
  }

  /** Show `source` (which only ever grows); `partial` while more of it is coming. */
  render(source, { partial = true } = {}) {
    if (!partial && DEFINITION.test(source)) {
      // A reference definition ("[1]: https://…") can turn text above it into a link: render it all.
      this.#frozenText = 0;
      this.#frozenNodes = 0;
    }
    const tail = source.slice(this.#frozenText);
    const split = partial ? finishedBlocksEnd(tail) : 0;
    const fragment = document.createDocumentFragment();
    let frozen = 0;
    if (split > 0) {
      const finished = toFragment(tail.slice(0, split));
      frozen = finished.childNodes.length;
      fragment.append(finished);
    }
    fragment.append(toFragment(tail.slice(split), { partial }));
    morph(this.#target, fragment, this.#frozenNodes);
    this.#frozenText += split;
    this.#frozenNodes += frozen;
  }
}

const DEFINITION = /^ {0,3}\[[^\]\n]+\]:[ \t]*\S/m;
const LIST_OR_INDENT = /^(\s|[-*+](\s|$)|\d{1,9}([.)]|$))/;

/**
 * Where the blocks of `text` that cannot change any more end: at a blank line outside a code
 * fence, followed by a block that has started and cannot continue the one before (not
 * indented, not a list item that could join a list above). 0 when there is none yet.
 */
function finishedBlocksEnd(text) {
  let end = 0;
  for (const match of text.matchAll(/\n[ \t]*\n(?=[^\n])/g)) {
    const next = match.index + match[0].length;
    if (LIST_OR_INDENT.test(text.slice(next, next + 12)) || insideOpenFence(text.slice(0, next))) continue;
    end = next;
  }
  return end;
}

function decorate(root) {
  dropBlockSeparators(root);
  for (const link of root.querySelectorAll("a")) {
    if (safeHref(link.getAttribute("href"))) {
      link.target = "_blank";
      link.rel = "noopener noreferrer";
    } else {
      link.replaceWith(...link.childNodes); // the words stay, the link goes
    }
  }
  for (const input of root.querySelectorAll("input")) {
    if (input.getAttribute("type") !== "checkbox") input.remove();
    else input.disabled = true; // GFM task lists: shown, not editable
  }
  for (const code of root.querySelectorAll("pre > code")) {
    const language = /(?:^|\s)language-(\S+)/.exec(code.className)?.[1] ?? "";
    const pre = code.parentElement;
    const block = element("div", "code-block");
    const header = element("div", "code-header");
    const copy = element("button", "copy-code", "Copy");
    copy.type = "button";
    copy.setAttribute("aria-label", language ? `Copy the ${language} code` : "Copy the code");
    header.append(element("span", "code-language", language || "text"), copy);
    pre.replaceWith(block);
    block.append(header, pre);
  }
  for (const table of root.querySelectorAll("table")) {
    const scroller = element("div", "table-scroll"); // wide tables scroll, the page does not
    table.replaceWith(scroller);
    scroller.append(table);
  }
  for (const node of root.querySelectorAll("[class]:not(.code-block, .code-header, .code-language, .copy-code, .table-scroll)")) {
    node.removeAttribute("class");
  }
}

const BLOCK = /^(P|UL|OL|LI|PRE|BLOCKQUOTE|TABLE|THEAD|TBODY|TR|H[1-6]|HR|DIV)$/;

/** marked ends every block with "\n": between blocks that is not text (inside <pre> it is kept). */
function dropBlockSeparators(root) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const separators = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.data.trim() || node.parentNode.closest?.("pre")) continue;
    const inBlockParent = node.parentNode === root || /^(UL|OL|BLOCKQUOTE|TABLE|THEAD|TBODY|TR)$/.test(node.parentNode.nodeName);
    const besideBlock = [node.previousSibling, node.nextSibling].some((sibling) => sibling && BLOCK.test(sibling.nodeName));
    if (inBlockParent || besideBlock) separators.push(node);
  }
  for (const node of separators) node.remove();
}

function safeHref(href) {
  try {
    return LINK_PROTOCOLS.has(new URL(href).protocol); // relative and odd URLs throw: no link
  } catch {
    return false;
  }
}

// ---- in-place updates ----------------------------------------------------------------------

/** Make `target`'s children (from `start` on) look like `fragment`'s, reusing every node that can stay. */
function morph(target, fragment, start = 0) {
  const before = [...target.childNodes].slice(start);
  const after = [...fragment.childNodes];
  after.forEach((next, index) => {
    const current = before[index];
    if (!current) target.append(next);
    else if (current.nodeType !== next.nodeType || current.nodeName !== next.nodeName) current.replaceWith(next);
    else if (current.nodeType === Node.TEXT_NODE) {
      if (current.data !== next.data) current.data = next.data;
    } else if (current.nodeType === Node.ELEMENT_NODE) {
      syncAttributes(current, next);
      morph(current, next);
    }
  });
  for (const stale of before.slice(after.length)) stale.remove();
}

function syncAttributes(current, next) {
  for (const { name } of [...current.attributes]) if (!next.hasAttribute(name)) current.removeAttribute(name);
  for (const { name, value } of next.attributes) if (current.getAttribute(name) !== value) current.setAttribute(name, value);
}

// ---- the half-received end -----------------------------------------------------------------

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const MARKERS_ONLY = /^[\s\-*+=_#>`~|:.)\d]+$/; // a line so far made of Markdown markers only
const TABLE_DELIMITER = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-*:?\s*)*\|?\s*$/;

/**
 * What to render of a text that is still arriving, so that half a construct does not flash
 * as raw characters and then jump into shape. Once the answer is complete the full text is
 * rendered as is.
 */
function settle(text) {
  let shown = text;
  const lineStart = shown.lastIndexOf("\n") + 1;
  if (MARKERS_ONLY.test(shown.slice(lineStart))) shown = shown.slice(0, lineStart); // "``", "|--", "1.", "#"
  if (insideOpenFence(shown)) return shown; // code shows as it comes
  shown = holdTableHeader(shown);
  return closeInline(shown);
}

function insideOpenFence(text) {
  let open = null;
  for (const line of text.split("\n")) {
    const match = FENCE.exec(line);
    if (!match) continue;
    const fence = match[1];
    if (open === null) open = fence;
    else if (fence[0] === open[0] && fence.length >= open.length && !line.slice(match[0].length).trim()) open = null;
  }
  return open !== null;
}

/** The last block's start: after the last blank line. */
function lastBlockStart(text) {
  let start = 0;
  for (const match of text.matchAll(/\n[ \t]*\n/g)) start = match.index + match[0].length;
  return start;
}

/** A table's header row shows only with its delimiter row, so it never starts as a paragraph. */
function holdTableHeader(text) {
  const start = lastBlockStart(text);
  const lines = text.slice(start).split("\n").filter((line) => line.trim());
  if (!lines.length || !lines.every((line) => line.trimStart().startsWith("|"))) return text;
  if (lines.slice(1).some((line) => TABLE_DELIMITER.test(line) && line.includes("-"))) return text;
  return text.slice(0, start);
}

/** Close what the last block left open: a link cut mid-URL, an inline code span, `**`, `~~`, `*`. */
function closeInline(text) {
  const start = lastBlockStart(text);
  let block = text.slice(start);
  // "[words](https://exa", "[words]" and "[words" show as the words, until the link is complete.
  block = block.replace(/!?\[([^\]\n]*)(\]\([^)\n]*|\]?)$/, "$1");
  if ((block.match(/`+/g) || []).filter((run) => run === "`").length % 2) block = close(block, "`");
  const outsideCode = block.replace(/`[^`]*`?/g, "");
  for (const marker of ["**", "~~", "*"]) {
    // Single `*`: not the halves of `**`, not list bullets.
    const plain = marker === "*" ? outsideCode.replace(/\*\*/g, "").replace(/^[ \t]*\*[ \t]/gm, "") : outsideCode;
    const count = plain.split(marker).length - 1;
    const at = plain.lastIndexOf(marker);
    // An odd count, the last one opening: after a space or at the start, before a word or nothing
    // yet. "2 * 3" and "5*3" are left alone.
    const opens = (at === 0 || /[\s(["']/.test(plain[at - 1])) && /^(\S|$)/.test(plain.slice(at + marker.length));
    if (count % 2 === 1 && opens) block = close(block, marker);
  }
  return text.slice(0, start) + block;
}

/** Close an open inline marker; one that opened with nothing after it yet is dropped instead. */
function close(block, marker) {
  const trimmed = block.trimEnd();
  return trimmed.endsWith(marker) ? trimmed.slice(0, -marker.length) : trimmed + marker;
}
