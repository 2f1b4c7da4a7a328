import { compareNames } from "../index/blob-name";

/**
 * Membership in a sequence of named items in listing order, asked in that same order (a walk's names): one pass
 * beside the walk, no lookup per name, nothing held. A name asked out of order is answered as absent.
 */
export class SortedNameCursor<T extends { readonly name: string }> {
  private readonly items: Iterator<T>;
  private current: T | undefined;

  constructor(items: Iterable<T>) {
    this.items = items[Symbol.iterator]();
    this.advance();
  }

  /** The item of this name, if the sequence has one. */
  get(name: string): T | undefined {
    while (this.current !== undefined && compareNames(this.current.name, name) < 0) this.advance();
    return this.current?.name === name ? this.current : undefined;
  }

  private advance(): void {
    const next = this.items.next();
    this.current = next.done ? undefined : next.value;
  }
}
