import { Fn } from "cdktf";
import { Construct } from "constructs";
import { Rotating } from "@cdktf/provider-time/lib/rotating";
import { timeProvider } from "../cloud/stack-provider";
import { PropProblems, RULES } from "../validation/prop-rules";

export interface SasRotationProps {
  /** Days between planned rotations.
   *  @default 30 */
  readonly rotationDays?: number;
  /** Days a token stays valid past its planned rotation, so a deploy that comes late does not stop replication.
   *  @default 7 */
  readonly graceDays?: number;
  /** Bump to rotate now, whatever the calendar says.
   *  @default 1 */
  readonly generation?: number;
}

/**
 * The validity window shared by every SAS of a stack, from a `time_rotating` resource: fixed inputs, so a plan shows
 * no change until the rotation date passes (or `generation` changes), and then every token is re-signed. Never
 * `timestamp()`, which would change every plan.
 */
export class SasRotation extends Construct {
  /** RFC 3339 start of validity, 15 minutes before the rotation base to absorb clock skew. */
  readonly start: string;
  /** RFC 3339 expiry: the planned rotation plus the grace days. */
  readonly expiry: string;
  readonly generation: number;
  readonly rotationDays: number;
  readonly graceDays: number;
  readonly resource: Rotating;

  constructor(scope: Construct, id: string, props: SasRotationProps = {}) {
    super(scope, id);
    this.rotationDays = props.rotationDays ?? 30;
    this.graceDays = props.graceDays ?? 7;
    this.generation = props.generation ?? 1;
    const problems = new PropProblems();
    problems.check("rotationDays", this.rotationDays, RULES.rotationDays);
    problems.check("graceDays", this.graceDays, RULES.graceDays);
    problems.check("generation", this.generation, RULES.generation);
    problems.throwIfAny(`SasRotation ${this.node.path}`);

    this.resource = new Rotating(this, "Resource", {
      provider: timeProvider(this),
      rotationDays: this.rotationDays,
      triggers: { generation: String(this.generation) },
    });
    this.start = Fn.timeadd(this.resource.rfc3339, "-15m");
    this.expiry = Fn.timeadd(this.resource.rotationRfc3339, `${this.graceDays * 24}h`);
  }
}
