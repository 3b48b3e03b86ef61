// State diagrams drawn from the mermaid text the server sends (GET /admin/runs/{id}/diagram), laid out
// here as layered SVG: the moves this run made are drawn thick and numbered in order, the states it
// went through are shaded, the state it is in is filled in its status colour, and labels are placed
// where they overlap neither each other nor a state. No diagram library: the machines are small.
import { useMemo } from "preact/hooks";

interface Edge {
  from: string;
  to: string;
  trigger: string;
  order: number[];
}

export interface Machine {
  initial: string;
  states: string[];
  finals: Set<string>;
  edges: Edge[];
  current: string | null;
  visited: Set<string>;
}

/** The stateDiagram-v2 subset states/diagram.py writes. */
export function parseMermaid(text: string): Machine {
  const states: string[] = [];
  const finals = new Set<string>();
  const edges: Edge[] = [];
  const visited = new Set<string>();
  let initial = "";
  let current: string | null = null;
  const note = (state: string) => {
    if (!states.includes(state)) states.push(state);
  };
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    let match = /^\[\*\] --> (\S+)$/.exec(line);
    if (match) {
      initial = match[1];
      note(initial);
      continue;
    }
    match = /^(\S+) --> \[\*\]$/.exec(line);
    if (match) {
      finals.add(match[1]);
      continue;
    }
    match = /^(\S+) --> (\S+): (\S+)(.*)$/.exec(line);
    if (match) {
      note(match[1]);
      note(match[2]);
      const order = [...match[4].matchAll(/#(\d+)/g)].map((found) => Number(found[1]));
      edges.push({ from: match[1], to: match[2], trigger: match[3], order });
      continue;
    }
    match = /^class (\S+) (current|visited)$/.exec(line);
    if (match) {
      if (match[2] === "current") current = match[1];
      visited.add(match[1]);
    }
  }
  return { initial, states, finals, edges, current, visited };
}

// --- layout ---

const NODE_H = 34;
const RANK_GAP = 96;
const NODE_GAP = 56;
const PAD = 24;
const FONT = '13px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const LABEL_FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

let canvas: CanvasRenderingContext2D | null = null;
function textWidth(text: string, font: string): number {
  canvas ??= document.createElement("canvas").getContext("2d");
  if (!canvas) return text.length * 7;
  canvas.font = font;
  return canvas.measureText(text).width;
}

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface PlacedEdge extends Edge {
  path: string;
  label: Box;
  labelText: string;
  points: [number, number][];
}

interface Layout {
  width: number;
  height: number;
  nodes: Map<string, Box>;
  edges: PlacedEdge[];
  start: { x: number; y: number };
}

function overlaps(a: Box, b: Box, margin = 2): boolean {
  return a.x < b.x + b.w + margin && b.x < a.x + a.w + margin && a.y < b.y + b.h + margin && b.y < a.y + a.h + margin;
}

/** Ranks by longest path from the initial state, with back edges left out; a state that only loops
 * with its parent (running <-> retrying) sits beside it rather than below. */
function ranksOf(machine: Machine): { rank: Map<string, number>; beside: Map<string, string> } {
  const forward = machine.edges.filter((edge) => edge.from !== edge.to);
  // Back edges: those that close a cycle in a depth-first walk from the initial state.
  const back = new Set<Edge>();
  const state = new Map<string, number>(); // 1: on the walk, 2: done
  const walk = (node: string) => {
    state.set(node, 1);
    for (const edge of forward.filter((e) => e.from === node)) {
      const seen = state.get(edge.to);
      if (seen === 1) back.add(edge);
      else if (seen === undefined) walk(edge.to);
    }
    state.set(node, 2);
  };
  walk(machine.initial);
  for (const node of machine.states) if (!state.has(node)) walk(node);
  const dag = forward.filter((edge) => !back.has(edge));
  const beside = new Map<string, string>(); // state -> the state it sits beside
  for (const edge of back) {
    const returning = dag.find((e) => e.from === edge.to && e.to === edge.from);
    if (returning && !machine.finals.has(edge.from)) beside.set(edge.from, edge.to);
  }
  const rank = new Map<string, number>();
  for (const node of machine.states) rank.set(node, 0);
  for (let pass = 0; pass < machine.states.length + 1; pass += 1) {
    let moved = false;
    for (const edge of dag) {
      const partner = beside.get(edge.to);
      const wanted = partner === edge.from ? rank.get(edge.from)! : rank.get(edge.from)! + 1;
      if (rank.get(edge.to)! < wanted) {
        rank.set(edge.to, wanted);
        moved = true;
      }
    }
    for (const [node, partner] of beside) {
      if (rank.get(node) !== rank.get(partner)) {
        rank.set(node, rank.get(partner)!);
      }
    }
    if (!moved) break;
  }
  return { rank, beside };
}

export function layout(machine: Machine): Layout {
  const { rank, beside } = ranksOf(machine);
  const depth = Math.max(...rank.values(), 0);
  // Rows of states; an edge spanning several ranks gets a placeholder in each rank it crosses, so it
  // is routed around the states in between.
  const rows: string[][] = Array.from({ length: depth + 1 }, () => []);
  for (const node of machine.states) rows[rank.get(node)!].push(node);
  const routes = new Map<Edge, string[]>();
  for (const edge of machine.edges) {
    const from = rank.get(edge.from)!;
    const to = rank.get(edge.to)!;
    const ids: string[] = [];
    for (let r = from + 1; r < to; r += 1) {
      const id = `~${edge.from}>${edge.to}@${r}`;
      rows[r].push(id);
      ids.push(id);
    }
    routes.set(edge, ids);
  }
  const widthOf = (node: string) => (node.startsWith("~") ? 12 : Math.max(textWidth(node, FONT) + 28, 72));
  // Order within rows by the mean position of their parents (two sweeps), keeping side partners adjacent.
  const parents = new Map<string, string[]>();
  for (const [edge, ids] of routes) {
    const chain = [edge.from, ...ids, edge.to];
    for (let i = 1; i < chain.length; i += 1) {
      if (rank.get(chain[i]) === rank.get(chain[i - 1])) continue;
      parents.set(chain[i], [...(parents.get(chain[i]) ?? []), chain[i - 1]]);
    }
  }
  const position = new Map<string, number>();
  rows.forEach((row) => row.forEach((node, index) => position.set(node, index)));
  for (let sweep = 0; sweep < 2; sweep += 1) {
    for (const row of rows.slice(1)) {
      const score = (node: string) => {
        const from = parents.get(node) ?? [];
        return from.length ? from.reduce((sum, p) => sum + position.get(p)!, 0) / from.length : position.get(node)!;
      };
      const scores = new Map(row.map((node) => [node, score(node)]));
      row.sort((a, b) => scores.get(a)! - scores.get(b)! || machine.states.indexOf(a) - machine.states.indexOf(b));
      // A state that sits beside its partner goes right after it.
      for (const [node, partner] of beside) {
        const at = row.indexOf(node);
        if (at < 0 || !row.includes(partner)) continue;
        row.splice(at, 1);
        row.splice(row.indexOf(partner) + 1, 0, node);
      }
      row.forEach((node, index) => position.set(node, index));
    }
  }
  // Two states side by side keep room between them for the labels of the arrows that join them.
  const labelOf = (edge: Edge) => edge.trigger + (edge.order.length ? ` ${edge.order.map((n) => `#${n}`).join(", ")}` : "");
  const gapAfter = (left: string, right: string) => {
    const joining = machine.edges.filter(
      (edge) => (edge.from === left && edge.to === right) || (edge.from === right && edge.to === left),
    );
    return Math.max(NODE_GAP, ...joining.map((edge) => textWidth(labelOf(edge), LABEL_FONT) + 34));
  };
  const nodes = new Map<string, Box>();
  const widths = rows.map((row) =>
    row.reduce((sum, node, index) => sum + widthOf(node) + (index ? gapAfter(row[index - 1], node) : 0), 0),
  );
  const width = Math.max(...widths) + PAD * 2;
  rows.forEach((row, r) => {
    let x = (width - widths[r]) / 2;
    row.forEach((node, index) => {
      if (index) x += gapAfter(row[index - 1], node);
      const w = widthOf(node);
      nodes.set(node, { x, y: PAD + 30 + r * RANK_GAP, w, h: NODE_H });
      x += w;
    });
  });

  const real = (node: string) => !node.startsWith("~");
  const blockers = [...nodes].filter(([node]) => real(node)).map(([, box]) => box);
  const labels: Box[] = [];
  const edges: PlacedEdge[] = [];
  // Edges leaving a state spread along its side, in the order of their ends, so they do not start on
  // top of each other.
  const outgoing = new Map<string, Edge[]>();
  const incoming = new Map<string, Edge[]>();
  for (const edge of machine.edges) {
    if (rank.get(edge.from) === rank.get(edge.to)) continue;
    outgoing.set(edge.from, [...(outgoing.get(edge.from) ?? []), edge]);
    incoming.set(edge.to, [...(incoming.get(edge.to) ?? []), edge]);
  }
  // Where an edge comes into its end from: its last placeholder, else its start.
  const comingFrom = (edge: Edge) => {
    const ids = routes.get(edge) ?? [];
    const via = nodes.get(ids.length ? ids[ids.length - 1] : edge.from)!;
    return via.x + via.w / 2;
  };
  for (const edge of machine.edges) {
    const a = nodes.get(edge.from)!;
    const b = nodes.get(edge.to)!;
    const labelText = labelOf(edge);
    const labelW = textWidth(labelText, LABEL_FONT) + 10;
    let points: [number, number][];
    let label: Box | null = null;
    if (rank.get(edge.from) === rank.get(edge.to)) {
      // Side by side: one arrow above the middle, labelled above it; the way back below, labelled below.
      const leftToRight = a.x < b.x;
      const dy = leftToRight ? -8 : 8;
      const startX = leftToRight ? a.x + a.w : a.x;
      const endX = leftToRight ? b.x : b.x + b.w;
      const y = a.y + a.h / 2 + dy;
      points = [
        [startX, y],
        [endX, y],
      ];
      label = { x: (startX + endX) / 2 - labelW / 2, y: leftToRight ? y - 21 : y + 3, w: labelW, h: 18 };
    } else {
      const siblings = [...(outgoing.get(edge.from) ?? [])];
      siblings.sort((p, q) => nodes.get(p.to)!.x - nodes.get(q.to)!.x);
      const slot = (siblings.indexOf(edge) + 1) / (siblings.length + 1);
      points = [[a.x + a.w * slot, a.y + a.h]];
      for (const id of routes.get(edge) ?? []) {
        const via = nodes.get(id)!;
        points.push([via.x + via.w / 2, via.y], [via.x + via.w / 2, via.y + via.h]);
      }
      // Edges coming into one state arrive side by side along its top, in the order of their sources.
      const arriving = [...(incoming.get(edge.to) ?? [])].sort((p, q) => comingFrom(p) - comingFrom(q));
      const into = (arriving.indexOf(edge) + 1) / (arriving.length + 1);
      points.push([b.x + b.w * into, b.y]);
    }
    const path = smooth(points);
    // The label: at the first spot along the edge that is clear of states and earlier labels.
    for (const t of label ? [] : [0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78, 0.15, 0.85]) {
      const [x, y] = along(points, t);
      for (const dx of [0, labelW / 2 + 6, -labelW / 2 - 6]) {
        const box = { x: x - labelW / 2 + dx, y: y - 9, w: labelW, h: 18 };
        if (![...blockers, ...labels].some((other) => overlaps(box, other))) {
          label = box;
          break;
        }
      }
      if (label) break;
    }
    if (!label) {
      const [x, y] = along(points, 0.5);
      label = { x: x - labelW / 2, y: y - 9, w: labelW, h: 18 };
    }
    labels.push(label);
    edges.push({ ...edge, path, label, labelText, points });
  }
  const height = PAD * 2 + 30 + depth * RANK_GAP + NODE_H;
  const right = Math.max(width, ...labels.map((box) => box.x + box.w + PAD));
  const first = nodes.get(machine.initial)!;
  return { width: right, height, nodes: new Map([...nodes].filter(([node]) => real(node))), edges, start: { x: first.x + first.w / 2, y: PAD } };
}

function along(points: [number, number][], t: number): [number, number] {
  const lengths = points.slice(1).map((point, i) => Math.hypot(point[0] - points[i][0], point[1] - points[i][1]));
  let left = lengths.reduce((sum, l) => sum + l, 0) * t;
  for (let i = 0; i < lengths.length; i += 1) {
    if (left <= lengths[i] || i === lengths.length - 1) {
      const f = lengths[i] ? Math.min(left / lengths[i], 1) : 0;
      return [points[i][0] + (points[i + 1][0] - points[i][0]) * f, points[i][1] + (points[i + 1][1] - points[i][1]) * f];
    }
    left -= lengths[i];
  }
  return points[0];
}

function smooth(points: [number, number][]): string {
  if (points.length === 2 && points[0][1] === points[1][1]) return `M${points[0][0]},${points[0][1]} L${points[1][0]},${points[1][1]}`;
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length; i += 1) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    const mid = (y0 + y1) / 2;
    d += y0 === y1 ? ` L${x1},${y1}` : ` C${x0},${mid} ${x1},${mid} ${x1},${y1}`;
  }
  return d;
}

// --- drawing ---

export function StateDiagram({ text, status, title, id }: { text: string; status: string; title: string; id: string }) {
  const machine = useMemo(() => parseMermaid(text), [text]);
  const drawn = useMemo(() => layout(machine), [machine]);
  const taken = machine.edges
    .flatMap((edge) => edge.order.map((n) => ({ n, edge })))
    .sort((a, b) => a.n - b.n)
    .map(({ edge }) => `${edge.trigger} to ${edge.to}`);
  const summary = `${title}: ${taken.length ? `went ${taken.join(", then ")}` : "no moves yet"}; now ${machine.current ?? status}.`;
  const marker = `arrow-${id}`;
  const markerTaken = `arrow-taken-${id}`;
  return (
    <svg
      class="state-diagram"
      role="img"
      aria-label={summary}
      width={drawn.width}
      height={drawn.height}
      viewBox={`0 0 ${drawn.width} ${drawn.height}`}
    >
      <defs>
        <marker id={marker} viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="8" markerHeight="8" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" class="arrow" />
        </marker>
        <marker id={markerTaken} viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" class="arrow-taken" />
        </marker>
      </defs>
      <circle cx={drawn.start.x} cy={drawn.start.y} r="6" class="start" />
      <line
        x1={drawn.start.x}
        y1={drawn.start.y + 6}
        x2={drawn.start.x}
        y2={drawn.nodes.get(machine.initial)!.y}
        class={machine.visited.size ? "edge edge-taken" : "edge"}
        marker-end={`url(#${machine.visited.size ? markerTaken : marker})`}
      />
      {drawn.edges.map((edge) => (
        <path
          key={`${edge.from}-${edge.trigger}-${edge.to}`}
          d={edge.path}
          class={edge.order.length ? "edge edge-taken" : "edge"}
          marker-end={`url(#${edge.order.length ? markerTaken : marker})`}
        />
      ))}
      {drawn.edges.map((edge) => (
        <g key={`label-${edge.from}-${edge.trigger}-${edge.to}`} class={edge.order.length ? "edge-label taken" : "edge-label"} data-label={edge.labelText}>
          <rect x={edge.label.x} y={edge.label.y} width={edge.label.w} height={edge.label.h} rx="4" />
          <text x={edge.label.x + edge.label.w / 2} y={edge.label.y + 13} text-anchor="middle">
            {edge.labelText}
          </text>
        </g>
      ))}
      {[...drawn.nodes].map(([name, box]) => {
        const now = name === machine.current;
        const kind = now ? `state-now state-${name}` : machine.visited.has(name) ? "state-visited" : "state-idle";
        return (
          <g key={name} class={`state ${kind}`} data-state={name}>
            <rect x={box.x} y={box.y} width={box.w} height={box.h} rx="8" />
            {machine.finals.has(name) && <rect x={box.x + 3} y={box.y + 3} width={box.w - 6} height={box.h - 6} rx="6" class="final-ring" />}
            <text x={box.x + box.w / 2} y={box.y + box.h / 2 + 4.5} text-anchor="middle">
              {name}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
