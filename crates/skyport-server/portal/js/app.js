// The portal's start: pages by address fragment (#sky, #adql, #consdb, #token), the token,
// and the archive's sky maps.

import { el, replace, status } from './dom.js';
import { request, setToken, token } from './net.js';
import { AdqlPage } from './adql.js';
import { ConsDbPage } from './consdb.js';
import { CALIB_LEVELS, PRODUCT_TYPES, SearchPage, searchAdql } from './search.js';

const PAGES = ['sky', 'adql', 'consdb', 'token'];

/**
 * The service worker that adds the token to the requests Aladin Lite makes itself (HiPS
 * tiles); resolves once it controls the page, or after 3 s without it (no service workers
 * outside HTTPS and localhost: the sky then loads without the token).
 */
const serviceWorker = (async () => {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', (event) => {
    if (event.data && event.data.type === 'token?' && event.ports[0]) event.ports[0].postMessage({ token: token() });
  });
  try {
    await navigator.serviceWorker.register('sw.js', { scope: './' });
    if (!navigator.serviceWorker.controller) {
      await new Promise((resolve) => {
        navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true });
        setTimeout(resolve, 3000);
      });
    }
  } catch {
    /* the viewer's own requests go without the token */
  }
})();

/** Tells the service worker this tab's token. */
function shareToken() {
  const controller = navigator.serviceWorker && navigator.serviceWorker.controller;
  if (controller) controller.postMessage({ type: 'token', token: token() });
}

const started = new Set();

const portal = {};
// For tests and the curious: the running parts of the page.
window.skyportPortal = portal;

function currentPage() {
  const name = location.hash.replace('#', '');
  return PAGES.includes(name) ? name : 'sky';
}

function showPage() {
  const name = currentPage();
  for (const page of PAGES) {
    document.getElementById(`page-${page}`).hidden = page !== name;
    const tab = document.getElementById(`tab-${page}`);
    tab.setAttribute('aria-selected', String(page === name));
    if (page === name) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  if (!started.has(name)) {
    started.add(name);
    startPage(name).catch((err) => status(err.message, true));
  }
}

async function startPage(name) {
  if (name === 'sky') await startSky();
  if (name === 'adql') {
    portal.adql = new AdqlPage(document.getElementById('page-adql'));
    await portal.adql.loadExamples();
    await portal.adql.listJobs();
  }
  if (name === 'consdb') {
    portal.consdb = new ConsDbPage(document.getElementById('page-consdb'));
    await portal.consdb.load();
  }
}

/** The HiPS the caller may see: [{id, url, title, ra, dec, fov}]. */
async function hipsList() {
  const text = await (await request('../hips/list')).text();
  const list = [];
  let entry = null;
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) {
      entry = null;
      continue;
    }
    if (!entry) {
      entry = {};
      list.push(entry);
    }
    entry[m[1]] = m[2];
  }
  return list
    .filter((p) => p.hips_service_url)
    .map((p) => ({
      id: p.creator_did || p.hips_service_url,
      url: p.hips_service_url,
      title: p.obs_title || p.creator_did || p.hips_service_url,
      ra: Number(p.hips_initial_ra) || 0,
      dec: Number(p.hips_initial_dec) || 0,
      fov: Number(p.hips_initial_fov) || 1,
    }));
}

async function startSky() {
  const form = document.getElementById('search-form');
  fillChoices(form);
  const search = new SearchPage({
    form,
    results: document.getElementById('search-results'),
    detail: document.getElementById('search-detail'),
    sky: null,
  });
  portal.search = search;
  document.getElementById('search-as-adql').addEventListener('click', () => {
    try {
      const adql = searchAdql(search.values());
      location.hash = '#adql';
      const set = () => portal.adql && portal.adql.setQuery(adql);
      if (portal.adql) set();
      else setTimeout(function wait() { if (portal.adql) set(); else setTimeout(wait, 100); }, 100);
    } catch (err) {
      status(err.message, true);
    }
  });
  let hips = [];
  try {
    hips = await hipsList();
  } catch (err) {
    status(`sky maps unavailable: ${err.message}`, true);
  }
  const choose = document.getElementById('sky-hips');
  replace(choose, hips.map((h, i) => el('option', { value: String(i) }, h.title)));
  choose.disabled = hips.length === 0;
  let coverage = [];
  try {
    coverage = (await (await request('../moc')).json()).collections || [];
  } catch {
    coverage = [];
  }
  fillCollections(form, coverage);
  await serviceWorker;
  shareToken();
  const { Sky } = await import('./sky.js');
  const sky = await Sky.create(document.getElementById('aladin'), hips, ({ ra, dec }) => {
    search.setPosition(ra, dec);
    search.search();
  });
  portal.sky = sky;
  search.sky = sky;
  choose.addEventListener('change', () => {
    const h = hips[Number(choose.value)];
    if (h) sky.showHips(h.url, h.title);
  });
  for (const c of coverage) {
    sky.addCoverage(`${new URL(`../moc/${encodeURIComponent(c.collection)}`, document.baseURI).href}?format=json&order=8`, `coverage of ${c.collection}`).catch(() => {});
  }
  document.getElementById('search-view').addEventListener('click', () => {
    const v = sky.view();
    search.setPosition(v.ra, v.dec);
    form.elements.radius.value = v.radius.toPrecision(4);
    search.search();
  });
  document.body.dataset.skyReady = 'true';
}

function fillChoices(form) {
  replace(form.elements.calib, el('option', { value: '' }, 'any'), CALIB_LEVELS.map(([n, label]) => el('option', { value: String(n) }, `${n}: ${label}`)));
  replace(form.elements.dptype, el('option', { value: '' }, 'any'), PRODUCT_TYPES.map((t) => el('option', { value: t }, t)));
}

function fillCollections(form, coverage) {
  replace(form.elements.collection, el('option', { value: '' }, 'any'), coverage.map((c) => el('option', { value: c.collection }, c.collection)));
  const bands = [...new Set(coverage.flatMap((c) => c.bands || []))].sort();
  replace(form.elements.band, el('option', { value: '' }, 'any'), bands.map((b) => el('option', { value: b }, b)));
}

function startToken() {
  const form = document.getElementById('token-form');
  const input = form.elements.token;
  const state = document.getElementById('token-state');
  const show = () => replace(state, token() ? 'A token is set for this tab: every request carries it.' : 'No token: requests are anonymous.');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setToken(input.value.trim());
    input.value = '';
    shareToken();
    show();
    status(token() ? 'token set' : 'token cleared');
  });
  document.getElementById('token-clear').addEventListener('click', () => {
    setToken('');
    shareToken();
    show();
  });
  show();
}

window.addEventListener('hashchange', showPage);
startToken();
showPage();
