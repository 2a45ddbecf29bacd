// The goose board as an SVG: squares 0..62 on a spiral band that winds inward clockwise from
// the bottom left, square 63 the garden at its centre. Pawns are <g> elements moved with a CSS
// transform (so a move along a path animates square by square).

import { svg, el } from './ui.js';

export const GEESE = [5, 9, 14, 18, 23, 27, 32, 36, 41, 45, 50, 54, 59];
export const SPECIAL = { 6: 'bridge', 19: 'inn', 31: 'well', 42: 'maze', 52: 'prison', 58: 'death', 63: 'finish' };
const LABELS = { start: 'start', bridge: 'bridge', inn: 'inn', well: 'well', maze: 'maze', prison: 'prison', death: 'death', goose: '' };

export function squareKind(n, geese = GEESE) {
  if (n === 0) return 'start';
  if (SPECIAL[n]) return SPECIAL[n];
  if (geese.includes(n)) return 'goose';
  return 'plain';
}

// ---- geometry -----------------------------------------------------------------------------

const SIZE = 1000;
const CX = 514;            // the spiral's centre, a little right and down: its start pokes out
const CY = 526;            // at the bottom left
const R0 = 478;            // outer edge of the band at the start
const TURNS = 3;           // turns of the band
const R_END = 62;          // inner edge of the band at its end
const W = (R0 - R_END) / (TURNS + 1); // band width = what the spiral loses per turn
const K = W / (2 * Math.PI);
const THETA = 2 * Math.PI * TURNS;
const PHI0 = Math.PI * 0.75; // the start, bottom left; angles grow clockwise on screen
const CELLS = 63;          // 0..62 on the band

const rOut = (t) => R0 - K * t;
const rMid = (t) => rOut(t) - W / 2;
const point = (r, t) => [CX + r * Math.cos(PHI0 + t), CY + r * Math.sin(PHI0 + t)];

// Squares of equal length along the band's middle line: arc(t) = (R0 - W/2) t - K t^2 / 2.
const A = R0 - W / 2;
const ARC = A * THETA - (K * THETA * THETA) / 2;
const thetaAt = (s) => (A - Math.sqrt(A * A - 2 * K * s)) / K;
const BOUNDS = Array.from({ length: CELLS + 1 }, (_, i) => thetaAt((ARC * i) / CELLS));

const f = (n) => n.toFixed(1);

function cellPath(i) {
  const t0 = BOUNDS[i];
  const t1 = BOUNDS[i + 1];
  const steps = Math.max(3, Math.ceil((t1 - t0) / 0.06));
  const outer = [];
  const inner = [];
  for (let k = 0; k <= steps; k++) {
    const t = t0 + ((t1 - t0) * k) / steps;
    outer.push(point(rOut(t), t));
    inner.push(point(rOut(t) - W, t));
  }
  inner.reverse();
  return 'M' + [...outer, ...inner].map(([x, y]) => `${f(x)},${f(y)}`).join('L') + 'Z';
}

// The garden (63): what the last turn of the band leaves free at the centre.
function gardenPoints() {
  const pts = [];
  const steps = 120;
  for (let k = 0; k <= steps; k++) {
    const t = THETA - 2 * Math.PI + (2 * Math.PI * k) / steps;
    pts.push(point(rOut(t) - W, t));
  }
  return pts;
}

function centroid(pts) {
  let a = 0, x = 0, y = 0;
  for (let i = 0; i < pts.length; i++) {
    const [x0, y0] = pts[i];
    const [x1, y1] = pts[(i + 1) % pts.length];
    const cr = x0 * y1 - x1 * y0;
    a += cr;
    x += (x0 + x1) * cr;
    y += (y0 + y1) * cr;
  }
  return [x / (3 * a), y / (3 * a)];
}

const GARDEN = gardenPoints();
const GARDEN_CENTRE = centroid(GARDEN);

/** Centre of square n, [x, y]. */
export function squareCentre(n) {
  if (n >= 63) return GARDEN_CENTRE;
  const i = Math.max(0, Math.min(62, n | 0));
  const t = (BOUNDS[i] + BOUNDS[i + 1]) / 2;
  return point(rMid(t), t);
}

// ---- icons (local coordinates, about 40 x 40 around 0,0) -------------------------------------

function icon(kind) {
  const g = svg('g', { class: `icon icon-${kind}` });
  switch (kind) {
    case 'goose':
      g.append(
        svg('path', { d: 'M-15 7c0-7 7-9 13-7l5-12c2-4 7-4 8 0l3 2-4 1-3 10c5 3 4 12-6 13H-9c-4 0-6-3-6-7z', class: 'goose-body' }),
        svg('path', { d: 'M14 -12l6 2-6 2z', class: 'beak' }),
        svg('circle', { cx: 10, cy: -12.5, r: 1.4, class: 'eye' }),
        svg('path', { d: 'M-8 4c4 3 9 3 12-1', class: 'wing' }));
      break;
    case 'bridge':
      g.append(
        svg('path', { d: 'M-19 8C-12 -10 12 -10 19 8', class: 'stroke thick' }),
        svg('path', { d: 'M-19 8H19M-11 0v8M0 -3v11M11 0v8', class: 'stroke' }));
      break;
    case 'inn':
      g.append(
        svg('path', { d: 'M-16 -2L0 -16 16 -2z', class: 'roof' }),
        svg('rect', { x: -12, y: -2, width: 24, height: 17, class: 'wall' }),
        svg('rect', { x: -4, y: 5, width: 8, height: 10, class: 'door' }));
      break;
    case 'well':
      g.append(
        svg('ellipse', { cx: 0, cy: 2, rx: 15, ry: 6, class: 'water' }),
        svg('path', { d: 'M-15 2v9c0 4 30 4 30 0v-9', class: 'wall' }),
        svg('path', { d: 'M-12 2v-14M12 2v-14M-15 -12H15', class: 'stroke' }));
      break;
    case 'maze': {
      const d = 'M-15 -15H15V15H-11V-11H11V11H-7V-7H7V7H-3';
      g.append(svg('path', { d, class: 'stroke' }));
      break;
    }
    case 'prison':
      g.append(
        svg('rect', { x: -14, y: -14, width: 28, height: 28, rx: 3, class: 'wall' }),
        svg('path', { d: 'M-7 -14v28M0 -14v28M7 -14v28', class: 'bars' }));
      break;
    case 'death':
      g.append(
        svg('path', { d: 'M-12 -2a12 12 0 1 1 24 0c0 5-3 7-5 8v6h-14v-6c-2-1-5-3-5-8z', class: 'skull' }),
        svg('circle', { cx: -5, cy: -2, r: 3.4, class: 'hole' }),
        svg('circle', { cx: 5, cy: -2, r: 3.4, class: 'hole' }),
        svg('path', { d: 'M-3 12v-4M0 12v-4M3 12v-4', class: 'teeth' }));
      break;
    case 'start':
      g.append(svg('path', { d: 'M-10 -14v28M-10 -14l20 6-20 6', class: 'flag' }));
      break;
    default:
      break;
  }
  return g;
}

// ---- the board ----------------------------------------------------------------------------

export class Board {
  constructor(host, { geese } = {}) {
    this.geese = geese || GEESE;
    this.pawns = new Map(); // seat -> {g, square, color}
    this.timers = new Map();
    this.root = svg('svg', {
      viewBox: `0 0 ${SIZE} ${SIZE}`, class: 'goose-board', role: 'img',
      'aria-label': 'Game of the goose board: 63 squares spiralling to the centre',
    });
    const defs = svg('defs', {},
      svg('radialGradient', { id: 'garden-grad', cx: '50%', cy: '45%', r: '60%' },
        svg('stop', { offset: '0%', 'stop-color': '#fff3b0' }),
        svg('stop', { offset: '100%', 'stop-color': '#f0b429' })),
      svg('filter', { id: 'pawn-shadow', x: '-50%', y: '-50%', width: '200%', height: '200%' },
        svg('feDropShadow', { dx: 0, dy: 3, stdDeviation: 2.5, 'flood-color': '#000', 'flood-opacity': 0.45 })));
    this.root.append(defs);
    this.root.append(svg('rect', { x: 4, y: 4, width: SIZE - 8, height: SIZE - 8, rx: 36, class: 'board-bg' }));
    this.root.append(this.corner());
    this.cellsLayer = svg('g', { class: 'cells' });
    this.root.append(this.cellsLayer);
    this.cells = [];
    for (let n = 0; n < CELLS; n++) this.cellsLayer.append(this.cell(n));
    this.cellsLayer.append(this.garden());
    this.pawnLayer = svg('g', { class: 'pawns' });
    this.root.append(this.pawnLayer);
    host.replaceChildren(this.root);
  }

  corner() {
    // the title in the free top-right corner of the square board
    return svg('g', { class: 'board-title' },
      svg('text', { x: SIZE - 34, y: 66, 'text-anchor': 'end', class: 'title-1' }, 'Jeu de l’oie'),
      svg('text', { x: SIZE - 34, y: 94, 'text-anchor': 'end', class: 'title-2' }, 'the game of the goose'));
  }

  cell(n) {
    const kind = squareKind(n, this.geese);
    const g = svg('g', { class: `cell kind-${kind}`, dataset: { square: String(n) } });
    g.append(svg('path', { d: cellPath(n), class: 'cell-shape' }));
    const [cx, cy] = squareCentre(n);
    const label = LABELS[kind];
    if (kind === 'plain') {
      g.append(svg('text', { x: f(cx), y: f(cy), class: 'num', 'text-anchor': 'middle', 'dominant-baseline': 'central' }, String(n)));
    } else {
      // number on top, the icon, then the name of the square
      g.append(svg('text', { x: f(cx), y: f(cy - 29), class: 'num small', 'text-anchor': 'middle', 'dominant-baseline': 'central' }, String(n)));
      const ic = icon(kind);
      ic.setAttribute('transform', `translate(${f(cx)},${f(cy + (label ? 1 : 6))}) scale(${kind === 'goose' ? 0.95 : 0.8})`);
      g.append(ic);
      if (label) {
        g.append(svg('text', { x: f(cx), y: f(cy + 28), class: 'label', 'text-anchor': 'middle', 'dominant-baseline': 'central' }, label));
      }
    }
    this.cells[n] = g;
    return g;
  }

  garden() {
    const g = svg('g', { class: 'cell kind-finish', dataset: { square: '63' } });
    g.append(svg('path', { d: 'M' + GARDEN.map(([x, y]) => `${f(x)},${f(y)}`).join('L') + 'Z', class: 'cell-shape garden' }));
    const [x, y] = GARDEN_CENTRE;
    // a star and the number
    const star = [];
    for (let k = 0; k < 10; k++) {
      const r = k % 2 ? 14 : 32;
      const a = -Math.PI / 2 + (k * Math.PI) / 5;
      star.push(`${f(x + r * Math.cos(a))},${f(y - 18 + r * Math.sin(a))}`);
    }
    g.append(svg('polygon', { points: star.join(' '), class: 'star' }));
    g.append(svg('text', { x: f(x), y: f(y + 36), class: 'num big', 'text-anchor': 'middle', 'dominant-baseline': 'central' }, '63'));
    this.cells[63] = g;
    return g;
  }

  /** Marks a square (the last landing) and its path. */
  highlight(squares) {
    for (const c of this.cells) c && c.classList.remove('hl', 'hl-path');
    if (!squares || !squares.length) return;
    squares.slice(0, -1).forEach((n) => this.cells[n] && this.cells[n].classList.add('hl-path'));
    const last = squares[squares.length - 1];
    if (this.cells[last]) this.cells[last].classList.add('hl');
  }

  /** players: [{seat, color, square, name}]; turn: the seat to move. No animation. */
  setPlayers(players, turn) {
    const seen = new Set();
    for (const p of players) {
      seen.add(p.seat);
      let pawn = this.pawns.get(p.seat);
      if (!pawn) {
        const g = svg('g', { class: 'pawn', dataset: { seat: String(p.seat) } });
        const inner = svg('g', { class: 'pawn-inner' },
          svg('circle', { r: 24, class: 'pawn-halo' }),
          svg('circle', { r: 17, class: 'pawn-body', filter: 'url(#pawn-shadow)' }),
          svg('circle', { r: 7, cy: -4, class: 'pawn-shine' }),
          svg('text', { class: 'pawn-seat', 'text-anchor': 'middle', 'dominant-baseline': 'central', y: 1 }, String(p.seat)));
        g.append(inner);
        this.pawnLayer.append(g);
        pawn = { g, square: p.square, color: null };
        this.pawns.set(p.seat, pawn);
      }
      if (pawn.color !== p.color) {
        pawn.g.querySelector('.pawn-body').setAttribute('fill', p.color);
        pawn.color = p.color;
      }
      pawn.name = p.name;
      pawn.g.querySelector('.pawn-seat').textContent = String(p.seat);
      pawn.g.classList.toggle('turn', p.seat === turn);
      pawn.g.classList.toggle('away', p.connected === false);
      pawn.target = p.square;
      if (!this.timers.has(p.seat)) pawn.square = p.square;
    }
    for (const [seat, pawn] of this.pawns) {
      if (!seen.has(seat)) {
        pawn.g.remove();
        this.pawns.delete(seat);
      }
    }
    this.layout();
  }

  /** Places every pawn on its square, side by side when they share one. */
  layout() {
    const bySquare = new Map();
    for (const [seat, pawn] of [...this.pawns].sort((a, b) => a[0] - b[0])) {
      if (!bySquare.has(pawn.square)) bySquare.set(pawn.square, []);
      bySquare.get(pawn.square).push(pawn);
    }
    for (const [square, list] of bySquare) {
      const [x, y] = squareCentre(square);
      const n = list.length;
      const ring = n === 1 ? 0 : n === 2 ? 13 : square === 0 || square === 63 ? 24 : 20;
      list.forEach((pawn, i) => {
        const a = -Math.PI / 2 + (2 * Math.PI * i) / n + (n === 2 ? Math.PI / 2 : 0);
        const px = x + ring * Math.cos(a);
        const py = y + ring * Math.sin(a);
        pawn.g.style.transform = `translate(${f(px)}px, ${f(py)}px)`;
        pawn.g.dataset.square = String(square);
      });
    }
  }

  /**
   * Moves a pawn along squares, one step every `stepMs` (the whole walk within `maxMs`), after
   * `delayMs`. Answers how long it takes. Meanwhile setPlayers leaves the pawn alone; at the end
   * it stands where the last setPlayers said (the state wins over the walk).
   */
  animate(seat, squares, stepMs = 200, maxMs = 1300, delayMs = 0) {
    const pawn = this.pawns.get(seat);
    if (!pawn || !squares.length) return 0;
    clearTimeout(this.timers.get(seat));
    const steps = [...squares];
    stepMs = Math.min(stepMs, maxMs / steps.length);
    const total = delayMs + steps.length * stepMs;
    const next = () => {
      pawn.square = steps.shift();
      if (!steps.length && pawn.target !== undefined) pawn.square = pawn.target;
      this.layout();
      if (steps.length) this.timers.set(seat, setTimeout(next, stepMs));
      else this.timers.delete(seat);
    };
    if (delayMs > 0) this.timers.set(seat, setTimeout(next, delayMs));
    else next();
    return total;
  }

  /** Puts a pawn on a square now (a swap, a state re-read). */
  place(seat, square) {
    const pawn = this.pawns.get(seat);
    if (!pawn) return;
    clearTimeout(this.timers.get(seat));
    this.timers.delete(seat);
    pawn.square = square;
    pawn.target = square;
    this.layout();
  }
}

/** Two dice faces as SVG. */
export function diceFaces(values) {
  const PIPS = {
    1: [[0, 0]], 2: [[-1, -1], [1, 1]], 3: [[-1, -1], [0, 0], [1, 1]],
    4: [[-1, -1], [1, -1], [-1, 1], [1, 1]], 5: [[-1, -1], [1, -1], [0, 0], [-1, 1], [1, 1]],
    6: [[-1, -1], [1, -1], [-1, 0], [1, 0], [-1, 1], [1, 1]],
  };
  return values.map((v) => {
    const face = svg('svg', { viewBox: '-25 -25 50 50', class: 'die', role: 'img', 'aria-label': `die: ${v}`, dataset: { value: String(v) } },
      svg('rect', { x: -23, y: -23, width: 46, height: 46, rx: 9, class: 'die-face' }));
    for (const [px, py] of PIPS[v] || []) face.append(svg('circle', { cx: px * 11, cy: py * 11, r: 4.6, class: 'pip' }));
    return face;
  });
}

/** The legend of the special squares, as HTML. */
export function legend() {
  const lines = [
    ['goose', 'goose', 'move your roll again'],
    ['bridge', 'bridge 6', 'cross to 12'],
    ['inn', 'inn 19', 'miss two turns'],
    ['well', 'well 31', 'wait to be freed'],
    ['maze', 'maze 42', 'back to 30'],
    ['prison', 'prison 52', 'wait to be freed'],
    ['death', 'death 58', 'back to the start'],
    ['finish', '63', 'exactly: more bounces back'],
  ];
  return lines.map(([kind, name, what]) => el('li', { class: `lg kind-${kind}` },
    el('span', { class: 'swatch' }), el('b', {}, name), ' ', what));
}
