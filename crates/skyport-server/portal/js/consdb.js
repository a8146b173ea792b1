// The ConsDB page: instruments, their nights, a night's exposures with their key columns,
// one exposure's values as of any time, and one value's history.

import { el, formatValue, replace } from './dom.js';
import { request } from './net.js';
import { ResultTable, columnIndex } from './table.js';

/** Exposure columns shown in a night's list, where the instrument has them. */
export const KEY_COLUMNS = [
  'exposure_id', 'exposure_name', 'seq_num', 'obs_start', 'img_type', 'band', 'physical_filter',
  'exp_time', 'target_name', 'science_program', 'observation_reason', 's_ra', 's_dec', 'airmass',
];

/** A name as the ConsDB schemas spell them (letters, digits, underscores), or null. */
function identifier(name) {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : null;
}

async function consdbQuery(query) {
  const response = await request('../consdb/query', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  const body = await response.json();
  return { columns: body.columns.map((name) => ({ name })), data: body.data };
}

/** The ConsDB page. */
export class ConsDbPage {
  constructor(root) {
    this.root = root;
    this.instrument = root.querySelector('#consdb-instrument');
    this.nights = root.querySelector('#consdb-nights');
    this.exposures = root.querySelector('#consdb-exposures');
    this.detail = root.querySelector('#consdb-detail');
    this.instrument.addEventListener('change', () => this.loadNights());
  }

  async load() {
    try {
      const instruments = await (await request('../consdb/schema')).json();
      replace(this.instrument, instruments.map((i) => el('option', { value: i }, i)));
      const withData = await this.firstWithData(instruments);
      if (withData) this.instrument.value = withData;
      await this.loadNights();
    } catch (err) {
      replace(this.nights, el('p', { class: 'error' }, `ConsDB unavailable: ${err.message}`));
    }
  }

  /** The first instrument that has exposures (so the page opens on something). */
  async firstWithData(instruments) {
    for (const name of instruments) {
      if (!identifier(name)) continue;
      const answer = await consdbQuery(`SELECT COUNT(*) AS n FROM cdb_${name}.exposure`).catch(() => null);
      if (answer && answer.data[0] && answer.data[0][0] > 0) return name;
    }
    return instruments[0];
  }

  async loadNights() {
    const name = identifier(this.instrument.value);
    replace(this.exposures);
    replace(this.detail);
    if (!name) return;
    try {
      const answer = await consdbQuery(
        `SELECT day_obs, COUNT(*) AS exposures, MIN(obs_start) AS first_start, MAX(obs_start) AS last_start FROM cdb_${name}.exposure GROUP BY day_obs ORDER BY day_obs DESC`,
      );
      new ResultTable(this.nights, {
        columns: answer.columns,
        rows: answer.data,
        index: columnIndex(answer.columns),
        caption: `Nights of ${name} (choose one)`,
        onSelect: (row) => this.loadExposures(name, row[0]),
      });
    } catch (err) {
      replace(this.nights, el('p', { class: 'error' }, err.message));
    }
  }

  async loadExposures(name, dayObs) {
    try {
      const schema = await (await request(`../consdb/schema/${encodeURIComponent(name)}/exposure`)).json();
      const columns = KEY_COLUMNS.filter((c) => c in schema);
      const day = Number(dayObs);
      if (!Number.isInteger(day)) return;
      const answer = await consdbQuery(`SELECT ${columns.join(', ')} FROM cdb_${name}.exposure WHERE day_obs = ${day} ORDER BY seq_num`);
      const index = columnIndex(answer.columns);
      new ResultTable(this.exposures, {
        columns: answer.columns.map((c) => ({ name: c.name, unit: undefined })),
        rows: answer.data,
        index,
        caption: `Exposures of ${name} on ${day} (choose one)`,
        onSelect: (row) => this.showExposure(name, row[index.exposure_id]),
      });
    } catch (err) {
      replace(this.exposures, el('p', { class: 'error' }, err.message));
    }
  }

  async showExposure(name, exposureId, asOf = '') {
    const id = Number(exposureId);
    if (!Number.isInteger(id)) return;
    const asOfInput = el('input', { id: 'consdb-as-of', type: 'text', value: asOf, placeholder: '2025-12-01T12:00:00', size: '26' });
    const heading = el('h3', {}, `Exposure ${id}`, asOf ? ` as of ${asOf}` : '');
    const asOfForm = el(
      'form',
      { class: 'inline', onsubmit: (e) => { e.preventDefault(); this.showExposure(name, id, asOfInput.value.trim()); } },
      el('label', { for: 'consdb-as-of' }, 'Values as of (UTC, empty for now) '),
      asOfInput,
      el('button', { type: 'submit' }, 'Show'),
    );
    let values;
    try {
      const params = asOf ? `?as_of=${encodeURIComponent(asOf)}` : '';
      values = await (await request(`../consdb/query/${encodeURIComponent(name)}/exposure/obs/${id}${params}`)).json();
    } catch (err) {
      replace(this.detail, heading, asOfForm, el('p', { class: 'error', id: 'consdb-values' }, err.message));
      return;
    }
    const keys = Object.keys(values);
    const columnChoice = el('select', { id: 'consdb-history-column' }, keys.map((k) => el('option', { value: k }, k)));
    const history = el('div', { id: 'consdb-history' });
    replace(
      this.detail,
      heading,
      asOfForm,
      el('dl', { class: 'facts', id: 'consdb-values' }, keys.flatMap((k) => [el('dt', {}, k), el('dd', {}, formatValue(values[k]))])),
      el(
        'form',
        { class: 'inline', onsubmit: (e) => { e.preventDefault(); this.showHistory(name, id, columnChoice.value, history); } },
        el('label', { for: 'consdb-history-column' }, 'History of '),
        columnChoice,
        el('button', { type: 'submit' }, 'Show history'),
      ),
      history,
    );
  }

  async showHistory(name, id, column, box) {
    const col = identifier(column);
    if (!col) return;
    try {
      const past = await consdbQuery(
        `SELECT version, recorded_at, superseded_at, recorded_by, deleted, ${col} FROM cdb_${name}.exposure_history WHERE exposure_id = ${id} ORDER BY version`,
      );
      const rows = past.data.map((r) => [r[0], r[1], r[2], r[3], r[4] === true || r[4] === 1 ? 'deleted' : '', r[5]]);
      const columns = ['version', 'recorded_at', 'superseded_at', 'recorded_by', 'deleted', col].map((n) => ({ name: n }));
      new ResultTable(box, { columns, rows, index: columnIndex(columns), caption: `History of ${col}` });
    } catch (err) {
      replace(box, el('p', { class: 'error' }, err.message));
    }
  }
}
