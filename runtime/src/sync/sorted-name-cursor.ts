import { compareNames } from "../index/blob-name";

/**
 * Membership in a sequence of names in listing order, asked in that same order (a walk's names): one pass beside
 * the walk, no lookup per name, nothing held. A name asked out of order is answered as absent.
 */
export class SortedNameCursor {
  private readonly names: Iterator<string>;
  private current: string | undefined;

  constructor(names: Iterable<string>) {
    this.names = names[Symbol.iterator]();
    this.advance();
  }

  has(name: string): boolean {
    while (this.current !== undefined && compareNames(this.current, name) < 0) this.advance();
    return this.current === name;
  }

  private advance(): void {
    const next = this.names.next();
    this.current = next.done ? undefined : next.value;
  }
}
