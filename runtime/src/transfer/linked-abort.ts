/**
 * An abort of its own that the run's signal sets too: for work beside the pull (writes and copies ahead, blocks
 * sent while a download goes on) that its owner stops alone when a container stops, and that stops with the run.
 * The link to the parent holds until `release`, so a long run does not gather one listener per container or blob.
 * A parent already aborted aborts it at once: work made after the run was told to stop never starts.
 */
export class LinkedAbort {
  private readonly own = new AbortController();
  private readonly onParent: () => void;

  /**
   * `onParentAbort`: called once if the parent aborts before `release`, after this abort is set; for a parent
   * aborted already, in a microtask, so never before the owner's constructor has returned.
   */
  constructor(private readonly parent: AbortSignal, onParentAbort: () => void = () => undefined) {
    this.onParent = () => {
      this.own.abort();
      onParentAbort();
    };
    if (parent.aborted) {
      this.own.abort();
      queueMicrotask(onParentAbort);
    } else {
      parent.addEventListener("abort", this.onParent, { once: true });
    }
  }

  /** Aborted by `abort`, or by the parent before `release`. */
  get signal(): AbortSignal {
    return this.own.signal;
  }

  abort(): void {
    this.own.abort();
  }

  /** Unlinks from the parent; an abort of the parent later no longer reaches this one. */
  release(): void {
    this.parent.removeEventListener("abort", this.onParent);
  }
}
