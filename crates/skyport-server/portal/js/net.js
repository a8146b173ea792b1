// Talking to the archive's services with the user's token, and reading their answers.

import { safeUrl } from './dom.js';

const TOKEN_KEY = 'skyport.portal.token';

/** The token the user gave (kept for this browser tab only), or ''. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

/** Keeps `value` as the token for this tab ('' forgets it). */
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** A service's refusal, with the message it gave. */
export class ServiceError extends Error {}

/** `fetch` with the token; throws a ServiceError with the service's own message on 4xx/5xx. */
export async function request(url, options = {}) {
  const headers = new Headers(options.headers || {});
  if (token()) headers.set('Authorization', `Bearer ${token()}`);
  const response = await fetch(url, { ...options, headers });
  if (!response.ok) {
    throw new ServiceError(`${response.status}: ${await errorMessage(response)}`);
  }
  return response;
}

/** The message in an error answer: a VOTable's QUERY_STATUS, a JSON detail, or the text. */
async function errorMessage(response) {
  const text = (await response.text()).slice(0, 4000);
  const type = response.headers.get('content-type') || '';
  if (type.includes('xml')) {
    const doc = new DOMParser().parseFromString(text, 'application/xml');
    const info = [...doc.getElementsByTagName('INFO')].find((i) => i.getAttribute('name') === 'QUERY_STATUS');
    if (info) return info.textContent.trim() || info.getAttribute('value') || text;
  }
  if (type.includes('json')) {
    try {
      const body = JSON.parse(text);
      if (typeof body.detail === 'string') return body.detail;
      if (typeof body.message === 'string') return body.message;
    } catch {
      /* not JSON after all */
    }
  }
  return text.slice(0, 500) || response.statusText;
}

/** A form body from an object (values made strings; undefined and '' left out). */
export function formBody(params) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') body.set(k, String(v));
  }
  return body;
}

/** Runs `adql` on TAP sync; returns {columns: [{name, unit, …}], data: [[…]], overflow}. */
export async function tapQuery(adql, maxrec, signal) {
  const response = await request('../tap/sync', {
    method: 'POST',
    body: formBody({ LANG: 'ADQL', QUERY: adql, RESPONSEFORMAT: 'application/json', MAXREC: maxrec }),
    signal,
  });
  const body = await response.json();
  if (body.status === 'ERROR') throw new ServiceError(body.message || 'the query failed');
  return { columns: body.columns, data: body.data, overflow: body.status === 'OVERFLOW' };
}

/** The GET address of `adql` on TAP sync in `format`, for a download. */
export function tapUrl(adql, format, maxrec) {
  const params = formBody({ LANG: 'ADQL', QUERY: adql, RESPONSEFORMAT: format, MAXREC: maxrec });
  return new URL(`../tap/sync?${params}`, document.baseURI).href;
}

/** The first table of a VOTable: {fields: [name…], rows: [[text…]], status, message}. */
export function parseVOTable(text) {
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  if (doc.getElementsByTagName('parsererror').length) throw new ServiceError('the answer is not a VOTable');
  const fields = [...doc.getElementsByTagName('FIELD')].map((f) => f.getAttribute('name'));
  const rows = [...doc.getElementsByTagName('TR')].map((tr) =>
    [...tr.getElementsByTagName('TD')].map((td) => td.textContent),
  );
  const info = [...doc.getElementsByTagName('INFO')].find((i) => i.getAttribute('name') === 'QUERY_STATUS');
  return {
    fields,
    rows,
    status: info ? info.getAttribute('value') : 'OK',
    message: info ? info.textContent.trim() : '',
  };
}

/** Rows of a parsed VOTable as objects keyed by field name. */
export function records(table) {
  return table.rows.map((row) => Object.fromEntries(table.fields.map((f, i) => [f, row[i] ?? ''])));
}

/**
 * Starts a download of `url` named `filename`. Without a token the browser fetches it
 * itself (streaming to disk); with one, the file is fetched with the token first, since a
 * plain link cannot carry it.
 */
export async function download(url, filename) {
  const address = safeUrl(url);
  if (!address) throw new ServiceError('not a web address');
  let href = address;
  if (token()) {
    const blob = await (await request(address)).blob();
    href = URL.createObjectURL(blob);
    setTimeout(() => URL.revokeObjectURL(href), 60000);
  }
  const a = document.createElement('a');
  a.href = href;
  a.download = filename || '';
  document.body.append(a);
  a.click();
  a.remove();
}

/** Shows the image at `url` in `img`, fetched with the token where one is set. */
export async function showImage(img, url) {
  const address = safeUrl(url);
  if (!address) return;
  if (!token()) {
    img.src = address;
    return;
  }
  try {
    const blob = await (await request(address)).blob();
    const blobUrl = URL.createObjectURL(blob);
    img.addEventListener('load', () => URL.revokeObjectURL(blobUrl), { once: true });
    img.src = blobUrl;
  } catch {
    img.alt = 'preview not available';
  }
}

/** Modified Julian Date of an ISO 8601 time (UTC), or of a number given as an MJD. */
export function toMjd(text) {
  const value = String(text).trim();
  if (value === '') return null;
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return NaN;
  return ms / 86400000 + 40587;
}
