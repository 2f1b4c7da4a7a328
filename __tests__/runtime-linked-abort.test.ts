import { getEventListeners } from "node:events";
import { LinkedAbort } from "../runtime/src/transfer/linked-abort";

/** The abort that work beside the pull (writes, copies and blocks ahead) takes from the run's signal. */
describe("an abort linked to the run's signal", () => {
  type Step = "parent" | "own" | "release";
  it.each<[string, { parentFirst?: boolean; steps: Step[] }, { aborted: boolean; calls: number; listeners: number; callsWhileMade: number }]>([
    ["the run aborting aborts it and calls back once", { steps: ["parent"] }, { aborted: true, calls: 1, listeners: 0, callsWhileMade: 0 }],
    ["aborted alone: the run's signal is untouched and no call back", { steps: ["own"] }, { aborted: true, calls: 0, listeners: 1, callsWhileMade: 0 }],
    ["aborted alone, then the run: still one abort, the call back once", { steps: ["own", "parent"] }, { aborted: true, calls: 1, listeners: 0, callsWhileMade: 0 }],
    ["released, then the run aborts: no longer reached", { steps: ["release", "parent"] }, { aborted: false, calls: 0, listeners: 0, callsWhileMade: 0 }],
    ["made after the run aborted: aborted at once, called back once", { parentFirst: true, steps: [] }, { aborted: true, calls: 1, listeners: 0, callsWhileMade: 0 }],
    ["made after the run aborted, released: still aborted", { parentFirst: true, steps: ["release"] }, { aborted: true, calls: 1, listeners: 0, callsWhileMade: 0 }],
  ])("%s", async (_label, { parentFirst, steps }, expected) => {
    const run = new AbortController();
    if (parentFirst) run.abort();
    let calls = 0;
    const link = new LinkedAbort(run.signal, () => { calls++; });
    // An owner's constructor makes its link before its other fields: a call back from inside would meet them unset.
    const callsWhileMade = calls;
    for (const step of steps) {
      if (step === "parent") run.abort();
      else if (step === "own") link.abort();
      else link.release();
    }
    await Promise.resolve();
    // The listeners left on the run's signal: a long run must not gather one per container or blob.
    const listeners = getEventListeners(run.signal, "abort").length;
    expect({ aborted: link.signal.aborted, calls, listeners, callsWhileMade, runAborted: run.signal.aborted })
      .toEqual({ ...expected, runAborted: Boolean(parentFirst) || steps.includes("parent") });
  });
});
