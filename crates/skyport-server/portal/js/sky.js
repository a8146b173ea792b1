// The sky view: Aladin Lite (vendored) over the archive's own HiPS, its coverage maps, the
// footprints of search results, and cutouts drawn with the mouse.

import A from '../vendor/aladin-lite/aladin.js';
import { request } from './net.js';

/** Colours of what the portal draws over the sky. */
export const COLOURS = { footprint: '#00ff66', selected: '#ffcc00', cutout: '#ff3355', coverage: '#3399ff' };

/**
 * The sky: an Aladin Lite view in `div` showing `hips` ([{id, url, title, ra, dec, fov}],
 * the first shown), clicks reported to `onClick({ra, dec})`.
 */
export class Sky {
  static async create(div, hips, onClick) {
    await A.init;
    const first = hips[0];
    const aladin = A.aladin(div, {
      survey: first ? A.HiPS(first.url, { name: first.title, imgFormat: 'png' }) : undefined,
      target: first ? `${first.ra} ${first.dec}` : '0 0',
      fov: first ? first.fov : 180,
      cooFrame: 'ICRSd',
      projection: 'TAN',
      // Nothing from the internet: only the archive's own HiPS are offered, and the tools
      // that ask CDS's servers (SIMBAD pointer, HiPS browser, share) are off.
      hipsList: hips.map((h) => ({ id: h.url, name: h.title, url: h.url })),
      showSimbadPointerControl: false,
      showShareControl: false,
      showContextMenu: false,
      showSettingsControl: false,
      showCooGridControl: false,
      showProjectionControl: false,
      showFullscreenControl: false,
      showLayersControl: true,
      showZoomControl: true,
      showFrame: true,
      showCooLocation: true,
      showReticle: false,
      // Aladin Lite reports each start to CDS unless told not to.
      log: false,
    });
    return new Sky(aladin, onClick);
  }

  constructor(aladin, onClick) {
    this.aladin = aladin;
    this.footprints = A.graphicOverlay({ name: 'results', color: COLOURS.footprint, lineWidth: 2 });
    this.selected = A.graphicOverlay({ name: 'selected', color: COLOURS.selected, lineWidth: 3 });
    this.cutout = A.graphicOverlay({ name: 'cutout', color: COLOURS.cutout, lineWidth: 2 });
    aladin.addOverlay(this.footprints);
    aladin.addOverlay(this.selected);
    aladin.addOverlay(this.cutout);
    this.drawing = false;
    aladin.on('click', (e) => {
      if (!this.drawing && !e.isDragging && onClick && Number.isFinite(e.ra)) onClick({ ra: e.ra, dec: e.dec });
    });
  }

  /** Shows the HiPS at `url`. */
  showHips(url, title) {
    this.aladin.setImageSurvey(A.HiPS(url, { name: title, imgFormat: 'png' }));
  }

  /** Adds a collection's coverage map (MOC JSON, fetched with the token). */
  async addCoverage(url, name) {
    const json = await (await request(url)).json();
    const moc = A.MOCFromJSON(json, { name, color: COLOURS.coverage, opacity: 0.15, lineWidth: 1, fill: true });
    this.aladin.addMOC(moc);
  }

  /** Draws the footprints of `regions` (s_region strings); returns the shapes drawn. */
  setFootprints(regions) {
    this.footprints.removeAll();
    const shapes = [];
    for (const region of regions) {
      for (const shape of parseRegion(region)) {
        shapes.push(shape);
        this.footprints.add(toAladin(shape));
      }
    }
    return shapes;
  }

  /** Highlights one result's footprint. */
  select(region) {
    this.selected.removeAll();
    for (const shape of parseRegion(region)) this.selected.add(toAladin(shape));
  }

  /** Shows the cutout circle. */
  showCutout(ra, dec, radius) {
    this.cutout.removeAll();
    if ([ra, dec, radius].every(Number.isFinite) && radius > 0) this.cutout.add(A.circle(ra, dec, radius));
  }

  /** Lets the user draw a circle; resolves to {ra, dec, radius} in degrees. */
  drawCircle() {
    this.drawing = true;
    return new Promise((resolve) => {
      this.aladin.select('circle', (c) => {
        this.drawing = false;
        const [ra, dec] = this.aladin.pix2world(c.x, c.y, 'icrs');
        const radius = this.aladin.angularDist(c.x, c.y, c.x + c.r, c.y);
        resolve({ ra, dec, radius });
      });
    });
  }

  /** Moves the view to a position (and field of view, in degrees). */
  goTo(ra, dec, fov) {
    this.aladin.gotoRaDec(ra, dec);
    if (fov) this.aladin.setFoV(fov);
  }

  /** The centre and radius of the view, in degrees. */
  view() {
    const [ra, dec] = this.aladin.getRaDec();
    const [width, height] = this.aladin.getFov();
    return { ra, dec, radius: Math.min(90, Math.hypot(width, height) / 2) };
  }
}

/**
 * The shapes of an ObsCore `s_region` (STC-S, as ObsCore writes it, or DALI): polygons as
 * {kind: 'polygon', vertices: [[ra, dec]…]} and circles as {kind: 'circle', ra, dec, radius};
 * anything else is not drawn.
 */
export function parseRegion(text) {
  if (typeof text !== 'string') return [];
  const shapes = [];
  const words = text.trim().split(/\s+/);
  let i = 0;
  while (i < words.length) {
    const kind = words[i].toUpperCase();
    i += 1;
    if (kind === 'UNION' || kind === '(' || kind === ')') continue;
    if (i < words.length && Number.isNaN(Number(words[i]))) i += 1; // a frame: ICRS, J2000…
    const numbers = [];
    while (i < words.length && words[i] !== '' && !Number.isNaN(Number(words[i]))) {
      numbers.push(Number(words[i]));
      i += 1;
    }
    if (kind === 'POLYGON' && numbers.length >= 6 && numbers.length % 2 === 0) {
      const vertices = [];
      for (let k = 0; k < numbers.length; k += 2) vertices.push([numbers[k], numbers[k + 1]]);
      shapes.push({ kind: 'polygon', vertices });
    } else if (kind === 'CIRCLE' && numbers.length === 3) {
      shapes.push({ kind: 'circle', ra: numbers[0], dec: numbers[1], radius: numbers[2] });
    }
  }
  return shapes;
}

function toAladin(shape) {
  return shape.kind === 'polygon'
    ? A.polygon(shape.vertices.map((v) => [v[0], v[1]]))
    : A.circle(shape.ra, shape.dec, shape.radius);
}
