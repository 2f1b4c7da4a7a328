import { runDrill } from "./drill";
import { DRILL_USAGE, DrillUsageError, parseDrillArgs } from "./options";
import { formatReport } from "./report";

// Wiring only: flags in, the drill, the report out, the exit code. `npm start` runs this bundle (build/drill.js).
async function main(): Promise<number> {
  let opts;
  try {
    opts = parseDrillArgs(process.argv.slice(2), process.stderr.isTTY === true);
  } catch (err) {
    process.stderr.write(`drill: ${(err as Error).message}\n`);
    return err instanceof DrillUsageError ? 2 : 1;
  }
  if (opts === "help") {
    process.stdout.write(DRILL_USAGE + "\n");
    return 0;
  }
  const controller = new AbortController();
  const stop = () => {
    process.stderr.write("drill: interrupted; stopping the current step and cleaning up\n");
    controller.abort();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  // With --json, stdout carries only the report; the narration goes to stderr.
  const narrate = (line: string) => (opts.json ? process.stderr : process.stdout).write(line + "\n");
  const report = await runDrill(opts, narrate, controller.signal);
  process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + "\n" : formatReport(report) + "\n");
  if (!report.ok) process.stderr.write(`drill: FAILED at step "${report.failedStep}"\n`);
  return report.ok ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (err) => {
  process.stderr.write(`drill: unexpected error: ${(err as Error)?.stack ?? err}\n`);
  process.exitCode = 1;
});
