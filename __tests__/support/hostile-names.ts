/**
 * Names built to escape a folder, collide on a case-folding or normalizing file system, confuse a path parser,
 * or sort differently in UTF-16 and UTF-8 byte order (characters outside the BMP next to U+E000-U+FFFF).
 */
export const HOSTILE_NAMES: readonly string[] = [
  "../x", "../../etc/passwd", "a/../../b", "a/./b", "./dot", "a\\..\\b", "..\\..\\windows\\win.ini", "..x", "x..",
  "CON", "con", "NUL.txt", "COM1", "aux/prn",
  "Readme.md", "README.md", "readme.md",
  "caf\u00e9", "cafe\u0301", // NFC and NFD of the same word
  "dir", "dir/child", "dir/child/grandchild", // one name is both a blob and a prefix
  "a//b", "sp ace", "trailing space ", "per%cent", "per%2Fcent", "q?uery", "h#ash", "%#?", "plus+and&amp", "quote\"s'", "<angle>", "star*",
  "tab\there", "emoji-\u{1F600}", "\u202Eright-to-left", "x".repeat(1024),
  // UTF-16 (the service's order) puts these surrogate pairs before U+E000-U+FFFF; UTF-8 byte order puts them after.
  "o-\uFF01", "o-\u{1F600}", "o-\uFFFD", "o-\u{10FFFF}", "o-\uE000", "o-\u{10000}", "o-\uD7FF", "o-\u{1F600}\u{1F600}", "o-\u{1F600}a",
];

/** Names the index must keep but no URL can address (an HTTP stack resolves a `..` segment before the service sees it). */
export const UNADDRESSABLE_NAMES: readonly string[] = ["..", ".", "a/..", "./"];
