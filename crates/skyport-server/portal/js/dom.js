// Building the page from archive values without ever parsing them as markup.
//
// Every value the portal shows comes from the archive (headers, ConsDB comments, table names),
// and any of them may hold markup. Elements are made here with `el`, whose string children
// become text nodes; attributes are set one by one, and a link's address must be http(s) or
// relative to the page (`safeUrl`), so a `javascript:` address from the archive is never a link.

/**
 * An element `tag` with attributes `attrs` (strings; `on*` keys take functions and become
 * listeners) and children (nodes, or strings made text nodes; null and false are skipped).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'href' || key === 'src') {
      const url = safeUrl(value);
      if (url) node.setAttribute(key, url);
    } else if (value === true) {
      node.setAttribute(key, '');
    } else {
      node.setAttribute(key, String(value));
    }
  }
  append(node, children);
  return node;
}

/** Appends children (nodes, strings as text, arrays flattened) to `node`. */
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Empties `node` and gives it `children`. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** `url` resolved against the page if it is http(s) (or relative); otherwise null. */
export function safeUrl(url) {
  if (typeof url !== 'string' || url === '') return null;
  try {
    const resolved = new URL(url, document.baseURI);
    return resolved.protocol === 'http:' || resolved.protocol === 'https:' || resolved.protocol === 'blob:'
      ? resolved.href
      : null;
  } catch {
    return null;
  }
}

/** A value as the tables show it: numbers to a sensible precision, null as empty. */
export function formatValue(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return String(value);
    const abs = Math.abs(value);
    return abs !== 0 && (abs < 1e-3 || abs >= 1e7) ? value.toExponential(6) : String(+value.toPrecision(10));
  }
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Shows `message` in the page's status line (read out by screen readers). */
export function status(message, isError = false) {
  const line = document.getElementById('status');
  if (!line) return;
  line.textContent = message;
  line.classList.toggle('error', isError);
}
