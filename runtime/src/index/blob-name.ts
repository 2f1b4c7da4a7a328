/**
 * Blob names in the Blob service's listing order. "Alphabetical" in the service's documentation turns out to be
 * ascending UTF-16 code units: a character outside the BMP (a surrogate pair, 0xD800-0xDFFF) sorts before
 * U+E000-U+FFFF, which is not UTF-8 byte (code point) order. Azurite lists that way (the index test proves it on
 * the hostile-name set), and so does Azure by a published experiment over every code point (docs/engine.md).
 * JavaScript's `<` is this order; the index stores names as UTF-16BE, whose bytes SQLite's BINARY collation
 * compares in the same order. A service that listed otherwise would stop the walk with an out-of-order error,
 * never cause deletions.
 */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when a name can be stored and read back unchanged. A lone surrogate cannot: SQLite (like any Unicode
 * store) would turn it into U+FFFD, silently merging two names.
 */
export function isStorableName(name: string): boolean {
  return name.length > 0 && !LONE_SURROGATE.test(name);
}
