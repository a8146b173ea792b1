// The ADQL page: an editor with the service's examples, sync and async runs with the job's
// progress, the results, downloads in every format, and the user's jobs.

import { el, replace, status } from './dom.js';
import { download, formBody, request, tapQuery, tapUrl } from './net.js';
import { ResultTable, columnIndex } from './table.js';

/** The formats TAP answers in, as offered for download. */
export const FORMATS = [
  ['votable', 'VOTable (TABLEDATA)', 'xml'],
  ['application/x-votable+xml;serialization=BINARY2', 'VOTable (BINARY2)', 'xml'],
  ['csv', 'CSV', 'csv'],
  ['tsv', 'TSV', 'tsv'],
  ['application/json', 'JSON', 'json'],
  ['application/vnd.apache.parquet', 'Parquet', 'parquet'],
];

/** The examples of a DALI examples document: [{name, query}]. */
export function parseExamples(text) {
  const doc = new DOMParser().parseFromString(text, 'text/html');
  return [...doc.querySelectorAll('[typeof="example"]')]
    .map((node) => ({
      name: (node.querySelector('[property="name"]')?.textContent || node.id || 'example').trim(),
      query: (node.querySelector('[property="query"]')?.textContent || '').trim(),
    }))
    .filter((e) => e.query);
}

const UWS = 'http://www.ivoa.net/xml/UWS/v1.0';
const JOBS_KEY = 'skyport.portal.jobs';

/** Jobs this tab started: the service lists an anonymous caller's jobs to nobody. */
function rememberedJobs() {
  try {
    const ids = JSON.parse(sessionStorage.getItem(JOBS_KEY) || '[]');
    return Array.isArray(ids) ? ids.filter((id) => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

function rememberJobs(ids) {
  sessionStorage.setItem(JOBS_KEY, JSON.stringify(ids.slice(-50)));
}

function uwsText(doc, name) {
  const node = doc.getElementsByTagNameNS(UWS, name)[0];
  return node ? node.textContent.trim() : '';
}

/** The ADQL page. */
export class AdqlPage {
  constructor(root) {
    this.root = root;
    this.editor = root.querySelector('#adql-query');
    this.results = root.querySelector('#adql-results');
    this.jobs = root.querySelector('#adql-jobs');
    this.progress = root.querySelector('#adql-progress');
    this.examples = root.querySelector('#adql-examples');
    this.maxrec = root.querySelector('#adql-maxrec');
    root.querySelector('#adql-sync').addEventListener('click', () => this.runSync());
    root.querySelector('#adql-async').addEventListener('click', () => this.runAsync());
    root.querySelector('#adql-refresh-jobs').addEventListener('click', () => this.listJobs());
    this.examples.addEventListener('change', () => {
      const chosen = this.loadedExamples?.[Number(this.examples.value)];
      if (chosen) this.editor.value = chosen.query;
    });
    this.editor.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        this.runSync();
      }
    });
    this.renderDownloads();
    this.editor.addEventListener('input', () => this.renderDownloads());
  }

  async loadExamples() {
    try {
      const text = await (await request('../tap/examples')).text();
      this.loadedExamples = parseExamples(text);
      replace(
        this.examples,
        el('option', { value: '' }, `— ${this.loadedExamples.length} examples —`),
        this.loadedExamples.map((e, i) => el('option', { value: String(i) }, e.name)),
      );
      if (!this.editor.value && this.loadedExamples.length) this.editor.value = this.loadedExamples[0].query;
      this.renderDownloads();
    } catch (err) {
      status(`examples unavailable: ${err.message}`, true);
    }
  }

  /** Opens the page with `adql` in the editor. */
  setQuery(adql) {
    this.editor.value = adql;
    this.renderDownloads();
  }

  renderDownloads() {
    const query = this.editor.value.trim();
    const box = this.root.querySelector('#adql-downloads');
    replace(
      box,
      'Download: ',
      FORMATS.map(([format, label, ext]) =>
        el(
          'button',
          {
            type: 'button',
            class: 'link',
            disabled: !query,
            onclick: () => download(tapUrl(query, format, this.maxrec.value), `result.${ext}`).catch((err) => status(`download failed: ${err.message}`, true)),
          },
          label,
        ),
      ),
    );
  }

  async runSync() {
    const query = this.editor.value.trim();
    if (!query) return;
    status('running…');
    replace(this.progress, 'running (sync)…');
    const started = performance.now();
    try {
      const answer = await tapQuery(query, this.maxrec.value);
      this.show(answer);
      const seconds = ((performance.now() - started) / 1000).toFixed(2);
      replace(this.progress, `done in ${seconds} s`);
      status(`${answer.data.length} rows${answer.overflow ? ' (truncated at the maximum)' : ''}`);
    } catch (err) {
      replace(this.progress, el('span', { class: 'error' }, err.message));
      status(`query failed: ${err.message}`, true);
    }
  }

  async runAsync() {
    const query = this.editor.value.trim();
    if (!query) return;
    status('submitting an async job…');
    try {
      const created = await request('../tap/async', {
        method: 'POST',
        body: formBody({ LANG: 'ADQL', QUERY: query, RESPONSEFORMAT: 'application/json', MAXREC: this.maxrec.value, PHASE: 'RUN' }),
      });
      const doc = new DOMParser().parseFromString(await created.text(), 'application/xml');
      const id = uwsText(doc, 'jobId');
      if (!id) throw new Error('the service did not name the job');
      rememberJobs([...rememberedJobs().filter((j) => j !== id), id]);
      await this.follow(id);
      this.listJobs();
    } catch (err) {
      replace(this.progress, el('span', { class: 'error' }, err.message));
      status(`async query failed: ${err.message}`, true);
    }
  }

  /** Polls job `id` until it ends, showing its phase; shows its result. */
  async follow(id) {
    const started = performance.now();
    const job = `../tap/async/${encodeURIComponent(id)}`;
    for (;;) {
      const doc = new DOMParser().parseFromString(await (await request(job)).text(), 'application/xml');
      const phase = uwsText(doc, 'phase');
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      replace(this.progress, `job ${id}: ${phase} (${seconds} s)`);
      if (phase === 'COMPLETED') {
        const result = doc.getElementsByTagNameNS(UWS, 'result')[0];
        const href = result?.getAttributeNS('http://www.w3.org/1999/xlink', 'href') || `${job}/results/result`;
        const body = await (await request(href)).json();
        this.show({ columns: body.columns, data: body.data, overflow: body.status === 'OVERFLOW' });
        status(`${body.data.length} rows (async job ${id})`);
        return;
      }
      if (phase === 'ERROR' || phase === 'ABORTED') {
        const message = uwsText(doc, 'message') || phase.toLowerCase();
        throw new Error(`job ${id}: ${message}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  show(answer) {
    const index = columnIndex(answer.columns);
    new ResultTable(this.results, {
      columns: answer.columns.map((c) => ({ name: c.name, unit: c.unit })),
      rows: answer.data,
      index,
      caption: 'Query result',
    });
  }

  /** The caller's async jobs, with those this tab started. */
  async listJobs() {
    try {
      const doc = new DOMParser().parseFromString(await (await request('../tap/async')).text(), 'application/xml');
      const refs = [...doc.getElementsByTagNameNS(UWS, 'jobref')];
      const rows = refs.map((ref) => [
        ref.getAttribute('id'),
        uwsText(ref, 'phase'),
        uwsText(ref, 'creationTime'),
        uwsText(ref, 'runId'),
      ]);
      const listed = new Set(rows.map((r) => r[0]));
      const kept = [];
      for (const id of rememberedJobs()) {
        if (listed.has(id)) {
          kept.push(id);
          continue;
        }
        try {
          const job = new DOMParser().parseFromString(await (await request(`../tap/async/${encodeURIComponent(id)}`)).text(), 'application/xml');
          rows.push([id, uwsText(job, 'phase'), uwsText(job, 'creationTime'), uwsText(job, 'runId')]);
          kept.push(id);
        } catch {
          // Gone (destroyed, or past its destruction time): forget it.
        }
      }
      rememberJobs(kept);
      new ResultTable(this.jobs, {
        columns: [
          { name: 'job' },
          { name: 'phase' },
          { name: 'created' },
          { name: 'run id' },
          { name: 'open', sortable: false, render: (row) => el('button', { type: 'button', onclick: () => this.follow(row[0]).catch((err) => status(err.message, true)) }, 'show result') },
        ],
        rows,
        index: { job: 0, phase: 1, created: 2, 'run id': 3 },
        caption: 'Your async jobs',
      });
    } catch (err) {
      replace(this.jobs, el('p', { class: 'error' }, `jobs unavailable: ${err.message}`));
    }
  }
}
