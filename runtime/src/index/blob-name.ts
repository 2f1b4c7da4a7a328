/**
 * Blob names in the Blob service's listing order: ascending by the UTF-8 bytes of the name, which is Unicode
 * code point order. JavaScript's `<` compares UTF-16 code units and puts a character outside the BMP (stored as
 * surrogates, 0xD800-0xDFFF) before U+E000-U+FFFF, where the service puts it after. SQLite's BINARY collation on
 * TEXT compares the UTF-8 bytes (memcmp), so the index's `ORDER BY name` is this order too.
 */
const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Negative, zero or positive as `a` sorts before, equal to or after `b` in the service's listing order. */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  // Without surrogates on either side, code unit order is code point order, and the engine's compare is fastest.
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : 1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return rank(x) - rank(y);
  }
  return a.length - b.length;
}

// Moves surrogates above U+E000-U+FFFF, which turns code unit order into code point order.
function rank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800;
}

/**
 * True when a name can be stored as UTF-8 and read back unchanged. A lone surrogate cannot: SQLite (like any
 * UTF-8 store) would turn it into U+FFFD, silently merging two names.
 */
export function isStorableName(name: string): boolean {
  return name.length > 0 && !LONE_SURROGATE.test(name);
}
