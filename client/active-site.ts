import { CheckState, chooseSite, FenceReading, needsCheck, SiteChoice } from "./choose-site";
import { NoActiveSiteError, SplitBrainError } from "./errors";
import { ClientEvent } from "./options";

export interface ResolverOptions {
  readonly sites: readonly [string, string];
  readonly fenceContainer: string;
  readonly recheckAfterMs: number;
  readonly minRecheckIntervalMs: number;
  readonly now: () => number;
  readonly onEvent: (event: ClientEvent) => void;
}

/**
 * Keeps the decision about the active site: both fences read (in parallel), the decision used for
 * `recheckAfterMs`, read again sooner after a request that looked like an outage. Concurrent requests that need a
 * check share one. The fence reader is passed in, so the timing is tested with a fake clock and fake fences.
 */
export class ActiveSiteResolver {
  private state?: CheckState;
  private choice?: SiteChoice;
  private inflight?: Promise<SiteChoice>;
  private lastActive?: 0 | 1;
  /** Fence reads so far (pairs), for tests and metrics. */
  checks = 0;

  constructor(private readonly o: ResolverOptions, private readonly readFence: (site: 0 | 1) => Promise<FenceReading>) {}

  /** The active site's index, or the error that stops every request (split brain, no active site). */
  async active(): Promise<0 | 1> {
    let choice = this.choice;
    if (!choice || needsCheck(this.state, this.o.now(), this.o)) choice = await this.check();
    if (choice.ok) return choice.site;
    if (choice.problem === "split-brain") throw new SplitBrainError(this.o.sites, this.o.fenceContainer);
    throw new NoActiveSiteError({ [this.o.sites[0]]: choice.states[0], [this.o.sites[1]]: choice.states[1] }, this.o.fenceContainer);
  }

  /** A request to `site` looked like an outage: read the fences again before the next request (rate-limited). */
  suspect(site: 0 | 1): void {
    if (this.state && this.choice?.ok && this.choice.site === site) this.state = { ...this.state, suspect: true };
  }

  /** Forgets the decision: the next request reads both fences. */
  invalidate(): void {
    this.state = undefined;
  }

  private check(): Promise<SiteChoice> {
    this.inflight ??= (async () => {
      try {
        const readings = await Promise.all([this.readFence(0), this.readFence(1)]) as [FenceReading, FenceReading];
        this.checks++;
        const choice = chooseSite(readings, this.lastActive);
        this.record(choice);
        return choice;
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  private record(choice: SiteChoice): void {
    const [a, b] = this.o.sites;
    this.state = { checkedAt: this.o.now(), failed: !choice.ok, suspect: false };
    const before = this.choice;
    this.choice = choice;
    if (choice.ok) {
      const name = this.o.sites[choice.site];
      if (this.lastActive !== choice.site) this.o.onEvent({ kind: "active-site", site: name, message: `active site: ${name} (${choice.reason})` });
      else this.o.onEvent({ kind: "fence-check", site: name, message: `fences read: ${name} stays active (${choice.reason})` });
      this.lastActive = choice.site;
    } else if (choice.problem === "split-brain") {
      if (before?.ok !== false) this.o.onEvent({ kind: "split-brain", message: `split brain: both ${a} and ${b} say active; requests fail until one is passive` });
    } else if (before?.ok !== false) {
      this.o.onEvent({ kind: "no-active-site", message: `no active site: ${a} ${choice.states[0]}, ${b} ${choice.states[1]}` });
    }
  }
}
