import { ListingStart } from "../listing/blob-lister";

/**
 * The storage service's clock, as this machine can know it: local time minus the skew the last listing measured.
 * Retention is filed, ordered and purged by it, and the recovery point and exposure are measured on it, so a VM
 * clock that jumps days either way neither hides kept copies nor purges them early.
 */
export class ServiceClock {
  private skewMs: number | null;
  private measuredHere = false;

  /** @param previousSkewSeconds the skew the last run saw, used until this run's first listing. */
  constructor(private readonly local: () => Date, previousSkewSeconds: number | null = null) {
    this.skewMs = previousSkewSeconds === null ? null : previousSkewSeconds * 1000;
  }

  /** Takes the skew from a listing's first page: our time when it arrived minus the service's Date. */
  observe(start: ListingStart): void {
    this.skewMs = start.localTime.getTime() - start.date.getTime();
    this.measuredHere = true;
  }

  /** True once a listing of this process measured the skew (purging waits for that). */
  get measured(): boolean {
    return this.measuredHere;
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
    return new Date(this.local().getTime() - (this.skewMs ?? 0));
  }
}
