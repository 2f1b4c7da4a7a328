import * as path from "path";
import { App } from "cdktf";
import { loadEnvironments } from "./lib/environment/load";
import { repoRoot } from "./lib/paths";
import { DrStack } from "./lib/stack";

// Wiring only: every environment file becomes one stack.
const app = new App();
for (const environment of loadEnvironments(path.join(repoRoot(), "environments"))) {
  new DrStack(app, { environment });
}
app.synth();
