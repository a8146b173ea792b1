// Searching the archive's images (ObsCore over TAP), the results table with thumbnails, and a
// chosen image's preview, DataLink links and cutout.

import { el, formatValue, replace, status } from './dom.js';
import { download, parseVOTable, records, request, showImage, tapQuery, toMjd, token } from './net.js';
import { ResultTable, columnIndex } from './table.js';

/** Calibration levels (ObsCore 1.1 §4.4), so nobody needs to know the numbers. */
export const CALIB_LEVELS = [
  [0, 'raw instrumental data'],
  [1, 'raw data in a standard format'],
  [2, 'calibrated, science-ready'],
  [3, 'enhanced (coadds, mosaics)'],
  [4, 'analysis products'],
];

/** ObsCore's product types. */
export const PRODUCT_TYPES = ['image', 'cube', 'spectrum', 'sed', 'timeseries', 'visibility', 'event', 'measurements'];

const COLUMNS = [
  'obs_publisher_did', 'obs_id', 'obs_collection', 'lsst_band', 'dataproduct_type', 'calib_level',
  'target_name', 's_ra', 's_dec', 't_min', 't_exptime', 's_region', 'access_url',
];

/** An ADQL string literal. */
export function adqlString(text) {
  return `'${String(text).replaceAll("'", "''")}'`;
}

/**
 * The ADQL of a search: `form` holds ra, dec, radius (degrees), start and end (ISO or MJD),
 * band, collection, dptype, calib and max. Throws an Error naming a bad value.
 */
export function searchAdql(form) {
  const where = [];
  const number = (name, value, min, max) => {
    const n = Number(value);
    if (String(value).trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new Error(`${name} must be a number from ${min} to ${max}`);
    }
    return n;
  };
  if (String(form.ra).trim() !== '' || String(form.dec).trim() !== '') {
    const ra = number('RA', form.ra, 0, 360);
    const dec = number('Dec', form.dec, -90, 90);
    const radius = number('Radius', form.radius, 0, 180);
    where.push(`1 = INTERSECTS(o.s_region, CIRCLE('ICRS', ${ra}, ${dec}, ${radius}))`);
  }
  const start = toMjd(form.start || '');
  const end = toMjd(form.end || '');
  if (Number.isNaN(start)) throw new Error('the start time must be an ISO 8601 time (UTC) or an MJD');
  if (Number.isNaN(end)) throw new Error('the end time must be an ISO 8601 time (UTC) or an MJD');
  if (start !== null) where.push(`o.t_max >= ${start}`);
  if (end !== null) where.push(`o.t_min <= ${end}`);
  if (form.band) where.push(`o.lsst_band = ${adqlString(form.band)}`);
  if (form.collection) where.push(`o.obs_collection = ${adqlString(form.collection)}`);
  if (form.dptype) where.push(`o.dataproduct_type = ${adqlString(form.dptype)}`);
  if (form.calib !== '' && form.calib !== undefined) where.push(`o.calib_level = ${number('Calibration level', form.calib, 0, 4)}`);
  const max = Math.trunc(number('Maximum rows', form.max || 1000, 1, 100000));
  return (
    `SELECT TOP ${max} ${COLUMNS.map((c) => `o.${c}`).join(', ')}, f.root_name, f.rel_path\n` +
    'FROM ivoa.ObsCore AS o\n' +
    'LEFT OUTER JOIN skyport.image_file AS f ON f.obs_publisher_did = o.obs_publisher_did\n' +
    (where.length ? `WHERE ${where.join('\n  AND ')}\n` : '') +
    'ORDER BY o.t_min, o.obs_id'
  );
}

/** The search page: form, table, details. */
export class SearchPage {
  constructor({ form, results, detail, sky }) {
    this.form = form;
    this.results = results;
    this.detail = detail;
    this.sky = sky;
    this.selected = null;
    this.running = null;
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.search();
    });
  }

  /** The form's values. */
  values() {
    const data = new FormData(this.form);
    return Object.fromEntries(data.entries());
  }

  /** Puts a position in the form (a click on the sky). */
  setPosition(ra, dec) {
    this.form.elements.ra.value = ra.toFixed(6);
    this.form.elements.dec.value = dec.toFixed(6);
  }

  async search() {
    let adql;
    try {
      adql = searchAdql(this.values());
    } catch (err) {
      status(err.message, true);
      return;
    }
    if (this.running) this.running.abort();
    const running = new AbortController();
    this.running = running;
    status('searching…');
    this.lastAdql = adql;
    try {
      const answer = await tapQuery(adql, undefined, running.signal);
      if (running.signal.aborted) return;
      this.show(answer);
      status(`${answer.data.length} image${answer.data.length === 1 ? '' : 's'} found${answer.overflow ? ' (more exist: raise the maximum)' : ''}`);
    } catch (err) {
      if (err.name !== 'AbortError') status(`search failed: ${err.message}`, true);
    }
  }

  show(answer) {
    const index = columnIndex(answer.columns);
    const unit = Object.fromEntries(answer.columns.map((c) => [c.name, c.unit]));
    this.index = index;
    if (this.sky) this.sky.setFootprints(answer.data.map((r) => r[index.s_region]));
    const thumbnail = (row) => {
      const root = row[index.root_name];
      const path = row[index.rel_path];
      if (!root || !path) return '';
      const img = el('img', { class: 'thumb', alt: `thumbnail of ${row[index.obs_id]}`, loading: 'lazy', width: '64', height: '64' });
      showImage(img, `../previews/${encodeURIComponent(root)}/${path.split('/').map(encodeURIComponent).join('/')}?size=thumbnail`);
      return img;
    };
    const columns = [
      { name: 'thumbnail', label: 'preview', sortable: false, render: thumbnail },
      ...['obs_id', 'obs_collection', 'lsst_band', 'dataproduct_type', 'calib_level', 'target_name', 's_ra', 's_dec', 't_min', 't_exptime'].map((name) => ({
        name,
        label: name === 'lsst_band' ? 'band' : name,
        unit: unit[name],
      })),
    ];
    this.table = new ResultTable(this.results, {
      columns,
      rows: answer.data,
      index,
      caption: 'Images found',
      onSelect: (row) => this.choose(row),
    });
  }

  /** Shows one image: preview, links, cutout form. */
  async choose(row) {
    const index = this.index;
    const did = row[index.obs_publisher_did];
    this.selected = { did, row };
    if (this.sky) this.sky.select(row[index.s_region]);
    const preview = el('img', { class: 'preview', alt: `preview of ${row[index.obs_id]}` });
    const links = el('ul', { class: 'links' }, el('li', {}, 'loading links…'));
    const cutout = this.cutoutForm(did, row);
    replace(
      this.detail,
      el('h3', {}, row[index.obs_id]),
      el('dl', { class: 'facts' },
        ['obs_collection', 'lsst_band', 'target_name', 's_ra', 's_dec', 't_min'].flatMap((name) => [el('dt', {}, name), el('dd', {}, formatValue(row[index[name]]))]),
      ),
      el('div', { class: 'detail-row' }, el('figure', {}, preview, el('figcaption', {}, 'preview')), el('div', {}, el('h4', {}, 'Links (DataLink)'), links)),
      cutout,
    );
    try {
      const text = await (await request(row[index.access_url])).text();
      const table = records(parseVOTable(text));
      const previewLink = table.find((l) => l.semantics === '#preview' && l.access_url);
      if (previewLink) showImage(preview, previewLink.access_url);
      replace(links, table.map((link) => this.linkItem(link)));
    } catch (err) {
      replace(links, el('li', { class: 'error' }, `links unavailable: ${err.message}`));
    }
  }

  linkItem(link) {
    if (link.error_message) return el('li', {}, `${link.semantics}: ${link.error_message}`);
    if (!link.access_url) return el('li', {}, `${link.semantics} — ${link.description} (use the cutout form below)`);
    const name = link.access_url.split('?')[0].split('/').pop() || 'download';
    return el(
      'li',
      {},
      el('a', { href: link.access_url, onclick: (e) => this.follow(e, link.access_url, name) }, link.description || link.access_url),
      ` ${link.semantics}`,
      link.content_type ? ` · ${link.content_type}` : '',
      link.content_length ? ` · ${link.content_length} bytes` : '',
    );
  }

  /** A link followed with the token where one is set (a plain link cannot carry it). */
  follow(event, url, name) {
    if (!token()) return;
    event.preventDefault();
    download(url, name).catch((err) => status(`download failed: ${err.message}`, true));
  }

  cutoutForm(did, row) {
    const index = this.index;
    const field = (name, label, value) =>
      el('label', {}, label, el('input', { name, type: 'text', inputmode: 'decimal', size: '11', value, required: true }));
    const form = el(
      'form',
      { class: 'cutout', id: 'cutout-form' },
      el('h4', {}, 'Cutout (SODA)'),
      field('ra', 'RA (deg)', formatValue(row[index.s_ra])),
      field('dec', 'Dec (deg)', formatValue(row[index.s_dec])),
      field('radius', 'Radius (deg)', '0.005'),
      el('button', { type: 'button', id: 'draw-cutout', onclick: async () => {
        if (!this.sky) return;
        status('drag on the sky to draw the cutout circle');
        const c = await this.sky.drawCircle();
        form.elements.ra.value = c.ra.toFixed(7);
        form.elements.dec.value = c.dec.toFixed(7);
        form.elements.radius.value = c.radius.toPrecision(6);
        this.sky.showCutout(c.ra, c.dec, c.radius);
        status('cutout drawn: download it, or draw again');
      } }, 'Draw on the sky'),
      el('button', { type: 'submit', id: 'download-cutout' }, 'Download cutout'),
    );
    const update = () => {
      const [ra, dec, radius] = ['ra', 'dec', 'radius'].map((n) => Number(form.elements[n].value));
      if (this.sky) this.sky.showCutout(ra, dec, radius);
    };
    form.addEventListener('change', update);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const [ra, dec, radius] = ['ra', 'dec', 'radius'].map((n) => Number(form.elements[n].value));
      if (![ra, dec, radius].every(Number.isFinite) || radius <= 0) {
        status('the cutout needs RA, Dec and a radius above 0, in degrees', true);
        return;
      }
      const params = new URLSearchParams({ ID: did, CIRCLE: `${ra} ${dec} ${radius}` });
      download(`../soda/sync?${params}`, 'cutout.fits').catch((err) => status(`cutout failed: ${err.message}`, true));
    });
    return form;
  }
}
