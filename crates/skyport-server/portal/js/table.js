// A results table that stays quick with many rows: it keeps every row in memory but puts only
// one page of them in the document; headers sort, rows are reachable by keyboard.

import { el, formatValue, replace } from './dom.js';

/** Rows on one page of a table. */
export const PAGE_SIZE = 100;

/**
 * A sortable, paged table in `container`.
 * `columns`: [{name, label?, unit?, render?(row) → node|string}];
 * `rows`: arrays, in the order of the service's columns;
 * `index`: column name → position in a row;
 * `onSelect(row)`: called when a row is chosen (click, Enter or Space).
 */
export class ResultTable {
  constructor(container, { columns, rows, index, onSelect, caption }) {
    this.container = container;
    this.columns = columns;
    this.rows = rows;
    this.index = index;
    this.onSelect = onSelect;
    this.caption = caption || '';
    this.page = 0;
    this.sortBy = null;
    this.descending = false;
    this.render();
  }

  /** The number of pages. */
  get pages() {
    return Math.max(1, Math.ceil(this.rows.length / PAGE_SIZE));
  }

  /** Shows page `page` (0-based, clamped). */
  show(page) {
    this.page = Math.min(Math.max(0, page), this.pages - 1);
    this.render();
  }

  /** Sorts by `name` (again: the other way), back to the first page. */
  sort(name) {
    this.descending = this.sortBy === name ? !this.descending : false;
    this.sortBy = name;
    const i = this.index[name];
    const sign = this.descending ? -1 : 1;
    this.rows.sort((a, b) => sign * compare(a[i], b[i]));
    this.page = 0;
    this.render();
  }

  render() {
    const head = el(
      'tr',
      {},
      this.columns.map((c) =>
        el(
          'th',
          {
            scope: 'col',
            'aria-sort': this.sortBy === c.name ? (this.descending ? 'descending' : 'ascending') : 'none',
          },
          c.sortable === false
            ? c.label || c.name
            : el(
                'button',
                { type: 'button', class: 'sort', title: `sort by ${c.label || c.name}`, onclick: () => this.sort(c.name) },
                c.label || c.name,
                c.unit ? ` [${c.unit}]` : '',
                this.sortBy === c.name ? (this.descending ? ' ▼' : ' ▲') : '',
              ),
        ),
      ),
    );
    const start = this.page * PAGE_SIZE;
    const body = this.rows.slice(start, start + PAGE_SIZE).map((row) => {
      const select = () => {
        for (const tr of this.container.querySelectorAll('tr.selected')) tr.classList.remove('selected');
        tr.classList.add('selected');
        if (this.onSelect) this.onSelect(row);
      };
      const tr = el(
        'tr',
        {
          tabindex: this.onSelect ? '0' : null,
          onclick: this.onSelect ? select : null,
          onkeydown: (e) => {
            if (this.onSelect && (e.key === 'Enter' || e.key === ' ')) {
              e.preventDefault();
              select();
            }
          },
        },
        this.columns.map((c) => el('td', {}, c.render ? c.render(row) : formatValue(row[this.index[c.name]]))),
      );
      return tr;
    });
    const end = Math.min(start + PAGE_SIZE, this.rows.length);
    const pager = el(
      'div',
      { class: 'pager' },
      el('button', { type: 'button', disabled: this.page === 0, onclick: () => this.show(this.page - 1) }, '‹ previous'),
      el(
        'span',
        { class: 'page-info', 'aria-live': 'polite' },
        this.rows.length ? `rows ${start + 1}–${end} of ${this.rows.length}` : 'no rows',
        this.pages > 1 ? ` (page ${this.page + 1} of ${this.pages})` : '',
      ),
      el(
        'button',
        { type: 'button', disabled: this.page >= this.pages - 1, onclick: () => this.show(this.page + 1) },
        'next ›',
      ),
    );
    replace(
      this.container,
      pager,
      el('div', { class: 'table-scroll' }, el('table', { class: 'results' }, this.caption ? el('caption', {}, this.caption) : null, el('thead', {}, head), el('tbody', {}, body))),
    );
  }
}

/** Orders nulls last, numbers as numbers, everything else as text. */
function compare(a, b) {
  const aNull = a === null || a === undefined || a === '';
  const bNull = b === null || b === undefined || b === '';
  if (aNull || bNull) return aNull === bNull ? 0 : aNull ? 1 : -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

/** Column name → position, for rows from a service's column list. */
export function columnIndex(columns) {
  return Object.fromEntries(columns.map((c, i) => [c.name, i]));
}
