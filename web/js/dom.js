// Small DOM helpers shared by the page's modules.

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export const svg = (path) =>
  `<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">${path}</svg>`; // fixed markup only

function nearBottom() {
  const page = document.scrollingElement;
  return page.scrollHeight - page.scrollTop - page.clientHeight < 120;
}

export function scrollToEnd() {
  const page = document.scrollingElement;
  page.scrollTop = page.scrollHeight;
}

/** Keep the view pinned to the newest text only if the reader has not scrolled up. */
export function keepPinned(change) {
  const pinned = nearBottom();
  change();
  if (pinned) scrollToEnd();
}
