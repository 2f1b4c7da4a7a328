/** One bar: a median with its min–max whisker. */
export interface Bar {
  readonly label: string;
  readonly value: number | null;
  readonly min?: number;
  readonly max?: number;
  readonly color: string;
}

/** One small chart with its own scale, so a 0.3 s no-op and a 40 s full copy are both readable. */
export interface Panel {
  readonly title: string;
  readonly unit: string;
  readonly bars: readonly Bar[];
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Rounds a value for a label: three significant digits at most. */
export function formatValue(v: number): string {
  if (v === 0) return "0";
  const abs = Math.abs(v);
  return abs >= 100 ? v.toFixed(0) : abs >= 10 ? v.toFixed(1) : abs >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

const PANEL_W = 320;
const BAR_H = 18;
const GAP = 6;
const LABEL_W = 70;
const PAD = 12;

/**
 * Renders panels of horizontal bars into a standalone SVG: a grid, `columns` wide, each panel scaled to its own
 * largest whisker. Missing values show as "n/a". Pure: no fonts or libraries beyond what a browser has.
 */
export function renderChart(title: string, panels: readonly Panel[], columns = 3): string {
  const rows = Math.ceil(panels.length / columns);
  const maxBars = Math.max(1, ...panels.map((p) => p.bars.length));
  const panelH = 34 + maxBars * (BAR_H + GAP) + 8;
  const width = columns * PANEL_W + PAD * 2;
  const height = 40 + rows * panelH + PAD;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${PAD}" y="26" font-size="16" font-weight="bold" fill="#222">${escapeXml(title)}</text>`,
  ];
  panels.forEach((p, i) => {
    const x0 = PAD + (i % columns) * PANEL_W;
    const y0 = 40 + Math.floor(i / columns) * panelH;
    const scaleMax = Math.max(1e-9, ...p.bars.map((b) => Math.max(b.max ?? 0, b.value ?? 0)));
    const plotW = PANEL_W - LABEL_W - 70;
    parts.push(`<g transform="translate(${x0},${y0})">`);
    parts.push(`<rect x="0" y="0" width="${PANEL_W - 10}" height="${panelH - 8}" fill="#fafafa" stroke="#ddd"/>`);
    parts.push(`<text x="8" y="18" font-weight="bold" fill="#333">${escapeXml(p.title)} <tspan font-weight="normal" fill="#777">(${escapeXml(p.unit)})</tspan></text>`);
    p.bars.forEach((b, j) => {
      const y = 30 + j * (BAR_H + GAP);
      parts.push(`<text x="8" y="${y + BAR_H - 5}" fill="#333">${escapeXml(b.label)}</text>`);
      if (b.value == null) {
        parts.push(`<text x="${LABEL_W}" y="${y + BAR_H - 5}" fill="#999">n/a</text>`);
        return;
      }
      const w = (v: number) => Math.max(0, (v / scaleMax) * plotW);
      parts.push(`<rect x="${LABEL_W}" y="${y}" width="${w(b.value).toFixed(1)}" height="${BAR_H}" fill="${escapeXml(b.color)}"/>`);
      if (b.min != null && b.max != null && b.max > b.min) {
        const cy = y + BAR_H / 2;
        parts.push(`<path d="M${(LABEL_W + w(b.min)).toFixed(1)} ${cy}H${(LABEL_W + w(b.max)).toFixed(1)}M${(LABEL_W + w(b.min)).toFixed(1)} ${cy - 4}v8M${(LABEL_W + w(b.max)).toFixed(1)} ${cy - 4}v8" stroke="#222" stroke-width="1"/>`);
      }
      const tx = LABEL_W + Math.max(w(b.value), w(b.max ?? 0)) + 4;
      parts.push(`<text x="${tx.toFixed(1)}" y="${y + BAR_H - 5}" fill="#222">${escapeXml(formatValue(b.value))}</text>`);
    });
    parts.push("</g>");
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
