import { ListingStart } from "../listing/blob-lister";

/**
 * The storage service's clock, as this machine can know it. Once a listing of this process told the service's
 * time, it is that time plus what the monotonic clock counted since; before, local time minus the skew the last
 * run measured. Retention is filed, ordered and purged by it, and the recovery point and exposure are measured on
 * it, so a VM clock that jumps days either way, before the run or in the middle of it (an NTP step after the last
 * listing, before the purge), neither hides kept copies nor purges them early.
 *
 * The monotonic clock does not count time the VM spends suspended, so after a suspension in the middle of a run
 * this clock is behind: it then purges later, never earlier.
 */
export class ServiceClock {
  private skewMs: number | null;
  private anchor: { readonly serviceMs: number; readonly monotonicMs: number } | null = null;

  /**
   * @param local this machine's wall clock.
   * @param previousSkewSeconds the skew the last run saw, used until this run's first listing.
   * @param monotonic a clock no wall-clock step moves, in milliseconds. @default performance.now
   */
  constructor(private readonly local: () => Date, previousSkewSeconds: number | null = null, private readonly monotonic: () => number = () => performance.now()) {
    this.skewMs = previousSkewSeconds === null ? null : previousSkewSeconds * 1000;
  }

  /**
   * Takes the skew from a listing's first page: our time when it arrived minus the service's Date, which is whole
   * seconds rounded down, so half a second is added to it to be right on average.
   */
  observe(start: ListingStart): void {
    const serviceMs = start.date.getTime() + 500;
    this.skewMs = start.localTime.getTime() - serviceMs;
    this.anchor = { serviceMs, monotonicMs: start.monotonicMs };
  }

  /** True once a listing of this process measured the skew (purging waits for that). */
  get measured(): boolean {
    return this.anchor !== null;
  }

  /** True once a listing (of this run or the last) told us the service's time. */
  get known(): boolean {
    return this.skewMs !== null;
  }

  /** This machine's clock minus the service's, in seconds; null while unknown. */
  get skewSeconds(): number | null {
    return this.skewMs === null ? null : this.skewMs / 1000;
  }

  now(): Date {
    if (this.anchor) return new Date(this.anchor.serviceMs + (this.monotonic() - this.anchor.monotonicMs));
    return new Date(this.local().getTime() - (this.skewMs ?? 0));
  }
}
