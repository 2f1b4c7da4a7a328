import { promises as fs } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-file";

/**
 * The container's last complete pull, kept beside its staged copy: a listing that ran to its end, and every blob
 * it listed either staged or named in `failed`. A later push may delete at the target, and claim a recovery point,
 * only on a staging such a mark vouches for. Anything that drops a staged entry outside a pull (a damaged copy
 * found by the push) clears the mark: the staging no longer says what the source has.
 */
export interface PullMark {
  /** Service time no later than the first read of the pull's listing. */
  readonly listingStart: string;
  readonly clockSkewSeconds: number;
  /** Blobs the pull listed but could not stage, with why: the exceptions to the recovery point. */
  readonly failed?: readonly { name: string; error: string }[];
}

const FILE = "pull.json";

export async function readPullMark(containerDir: string): Promise<PullMark | undefined> {
  try {
    return JSON.parse(await fs.readFile(join(containerDir, FILE), "utf8")) as PullMark;
  } catch {
    return undefined;
  }
}

export async function writePullMark(containerDir: string, mark: PullMark): Promise<void> {
  await writeFileAtomic(join(containerDir, FILE), JSON.stringify(mark), 0o600, { durable: true });
}

export async function clearPullMark(containerDir: string): Promise<void> {
  await fs.rm(join(containerDir, FILE), { force: true });
}
