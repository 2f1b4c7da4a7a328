import { createServer } from "node:http";
import { AddressInfo } from "node:net";
import { retryAfterMs } from "../runtime/src/storage/retry-after-policy";
import { SiteClient } from "../runtime/src/storage/site-client";

describe("Retry-After", () => {
  test.each([
    ["delta seconds", "3", 3000],
    ["zero", "0", 0],
    ["an HTTP date 5 s ahead", "Thu, 26 Nov 2026 01:00:05 GMT", 5000],
    ["an HTTP date in the past", "Thu, 26 Nov 2026 00:59:00 GMT", 0],
    ["absent", undefined, undefined],
    ["unreadable", "soon", undefined],
  ])("reads %s", (_what, value, ms) => {
    expect(retryAfterMs(value, Date.parse("2026-11-26T01:00:00Z"))).toBe(ms);
  });

  /** A server that answers the first request with `status` and Retry-After, the next with 404; returns the gap. */
  async function gapAfter(status: number, retryAfter: string, maxRetryDelayMs: number): Promise<number> {
    const at: number[] = [];
    const server = createServer((_req, res) => {
      at.push(Date.now());
      if (at.length === 1) res.writeHead(status, { "retry-after": retryAfter, "x-ms-error-code": "ServerBusy" }).end();
      else res.writeHead(404, { "x-ms-error-code": "ContainerNotFound" }).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as AddressInfo).port;
      const retry = { maxTries: 2, retryDelayMs: 1, maxRetryDelayMs, tryTimeoutSeconds: 5 };
      const client = new SiteClient({ blobEndpoint: `http://127.0.0.1:${port}/acct/`, sasEnv: "X", name: "source" }, "sv=x&sig=y", { apiVersion: "2017-11-09", retry });
      await client.container("c").getProperties().catch(() => undefined);
      expect(at).toHaveLength(2);
      return at[1] - at[0];
    } finally {
      server.close();
    }
  }

  test("a 503 with Retry-After is retried no sooner than the service asked", async () => {
    expect(await gapAfter(503, "1", 30000)).toBeGreaterThanOrEqual(950);
  });

  test("the wait is capped by retry.maxRetryDelayMs", async () => {
    // Asked for an hour, capped at 50 ms: the retry comes within the test's time, not the service's.
    expect(await gapAfter(503, "3600", 50)).toBeLessThan(3000);
  });

  test("the per-try timeout applies to each attempt, and a timed-out attempt is retried by the SDK", async () => {
    let calls = 0;
    const server = createServer((_req, res) => {
      calls++;
      if (calls === 1) return; // The first attempt never gets an answer.
      res.writeHead(404, { "x-ms-error-code": "ContainerNotFound" }).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as AddressInfo).port;
      const retry = { maxTries: 2, retryDelayMs: 1, maxRetryDelayMs: 10, tryTimeoutSeconds: 1 };
      const client = new SiteClient({ blobEndpoint: `http://127.0.0.1:${port}/acct/`, sasEnv: "X", name: "source" }, "sv=x&sig=y", { apiVersion: "2017-11-09", retry });
      const err = await client.container("c").getProperties().then(() => undefined, (e: { statusCode?: number }) => e);
      expect(calls).toBe(2);
      expect(err?.statusCode).toBe(404);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe("the SDK policies dr-sync has no use for", () => {
  /** The names of the policies a site's requests go through, in order (the SDK's core pipeline, built once per site). */
  const policiesOf = (client: SiteClient): string[] =>
    (client as unknown as { pipeline: { _corePipeline: { getOrderedPolicies(): { name: string }[] } } }).pipeline._corePipeline.getOrderedPolicies().map((p) => p.name);
  const client = () => new SiteClient({ blobEndpoint: "http://127.0.0.1:1/acct/", sasEnv: "X", name: "source" }, "sv=x&sig=y",
    { apiVersion: "2017-11-09", retry: { maxTries: 2, retryDelayMs: 1, maxRetryDelayMs: 10, tryTimeoutSeconds: 5 } });

  test("are removed: form data (it loads undici) and tracing (it sanitizes every request's URL for a span nobody records)", () => {
    const names = policiesOf(client());
    expect(names.filter((n) => ["formDataPolicy", "tracingPolicy"].includes(n))).toEqual([]);
    // Only those: the SDK's retries, its error parsing and ours (the pinned API version, Retry-After, the per-try
    // timeout: RequestPolicyFactoryPolicy) are still there.
    expect(names).toEqual(expect.arrayContaining(["storageRetryPolicy", "deserializationPolicy", "storageRequestFailureDetailsParserPolicy", "RequestPolicyFactoryPolicy"]));
  });
});
