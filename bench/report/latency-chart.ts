export interface ChartSeries {
  name: string;
  color: string;
  dashed?: boolean;
  points: { x: number; y: number }[];
}

/**
 * A small line chart as SVG text: log2 x axis (offered load doubles step to step), log10 y axis
 * (latency spans milliseconds to seconds). No dependency; any browser or Markdown viewer shows it.
 */
export function latencyChart(title: string, series: ChartSeries[], xLabel: string, yLabel: string): string {
  const W = 720;
  const H = 420;
  const m = { left: 70, right: 170, top: 40, bottom: 55 };
  const all = series.flatMap((s) => s.points).filter((p) => p.y > 0);
  if (all.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="80"><text x="10" y="40">${esc(title)}: no data</text></svg>\n`;
  const xs = all.map((p) => Math.log2(p.x));
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs) === xMin ? xMin + 1 : Math.max(...xs);
  const yMin = Math.floor(Math.log10(Math.min(...all.map((p) => p.y))));
  const yMaxRaw = Math.ceil(Math.log10(Math.max(...all.map((p) => p.y))));
  const yMax = yMaxRaw === yMin ? yMin + 1 : yMaxRaw;
  const px = (x: number) => m.left + ((Math.log2(x) - xMin) / (xMax - xMin)) * (W - m.left - m.right);
  const py = (y: number) => H - m.bottom - ((Math.log10(y) - yMin) / (yMax - yMin)) * (H - m.top - m.bottom);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2 - m.right / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (let e = yMin; e <= yMax; e++) {
    const y = py(10 ** e);
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${m.left - 8}" y="${y + 4}" text-anchor="end">${fmt(10 ** e)}</text>`);
  }
  const ticks = [...new Set(all.map((p) => p.x))].sort((a, b) => a - b);
  for (const t of ticks) {
    const x = px(t);
    out.push(`<line x1="${x}" x2="${x}" y1="${m.top}" y2="${H - m.bottom}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${H - m.bottom + 18}" text-anchor="middle">${t}</text>`);
  }
  // The 1 s line: the knee criterion on p99.
  if (1000 >= 10 ** yMin && 1000 <= 10 ** yMax) {
    const y = py(1000);
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y}" y2="${y}" stroke="#c00" stroke-dasharray="2,4"/>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${W - m.left - m.right}" height="${H - m.top - m.bottom}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(m.left + W - m.right) / 2}" y="${H - 15}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${(m.top + H - m.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => p.y > 0);
    const dash = s.dashed ? ' stroke-dasharray="6,4"' : '';
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    const ly = m.top + 10 + i * 20;
    out.push(`<line x1="${W - m.right + 12}" x2="${W - m.right + 36}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${W - m.right + 42}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

const fmt = (v: number) => (v >= 1000 ? `${v / 1000} s` : `${v} ms`);
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
