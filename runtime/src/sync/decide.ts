import { describePropDifferences, PushRecord, RemoteBlob, StagedEntry, storedMd5 } from "../model/blob";

/** What to do with one blob in one hop, and why: every copy and skip has a named reason. */
export type Decision =
  | {
    readonly action: "copy"; readonly reason: string;
    /** The copy replaces non-empty content with an empty blob. */
    readonly empties: boolean;
    /** The copy replaces the destination's content with other content (the mass-change guard counts these). */
    readonly overwrites: boolean;
    /** The destination looks identical but neither side has a Content-MD5: hash its bytes, and adopt it if they match. */
    readonly compareBytes?: boolean;
    /** An append blob that grew: an overwrite only if its old end changed (append-growth.ts), which the hop compares
     *  before the guards count it. */
    readonly checkAppended?: boolean;
  }
  | { readonly action: "skip"; readonly reason: string }
  /** The destination already holds this version, provably; record it without moving bytes. */
  | { readonly action: "adopt"; readonly reason: string };

/** Pull hop: does staging need this source blob? Decided on the source ETag alone, never on timestamps. */
export function decidePull(src: RemoteBlob, staged: StagedEntry | undefined): Decision {
  if (!staged) return { action: "copy", reason: "missing in staging", empties: false, overwrites: false };
  if (staged.srcEtag === src.etag) return { action: "skip", reason: "same source version (ETag)" };
  const empties = src.size === 0 && staged.size > 0;
  const same = sameContent(src.size, storedMd5(src), staged.size, [staged.stagedMd5 ?? storedMd5(staged)]);
  if (!same && !empties && src.kind === "AppendBlob" && staged.kind === "AppendBlob" && src.size > staged.size) {
    return { action: "copy", reason: "source appended to (ETag; the append blob grew)", empties: false, overwrites: true, checkAppended: true };
  }
  // Emptying a blob is the delete guard's to count; the mass-change guard counts other content replaced.
  return { action: "copy", reason: same ? "source properties or metadata changed (ETag; same size and Content-MD5)" : "source changed (ETag)",
    empties, overwrites: !same && !empties };
}

/**
 * True when two versions provably hold the same bytes: same size, and an MD5 of one equal to one of the other's.
 * Without MD5s it cannot be known, and the change counts as an overwrite.
 */
export function sameContent(size: number, md5: string | undefined, otherSize: number, otherMd5s: readonly (string | undefined)[]): boolean {
  return size === otherSize && !!md5 && otherMd5s.includes(md5);
}

/**
 * Push hop: does the destination need this staged blob? The push record says which staged version we last
 * wrote and the ETag the destination gave it; a destination ETag that differs means someone changed the blob
 * behind our back, and it is rewritten.
 */
export function decidePush(staged: StagedEntry, record: PushRecord | undefined, dst: RemoteBlob | undefined): Decision {
  const empties = staged.size === 0 && !!dst && dst.size > 0;
  if (!dst) return { action: "copy", reason: record ? "deleted at destination behind our back" : "missing at destination", empties: false, overwrites: false };
  const ours = staged.stagedMd5 ?? storedMd5(staged);
  // A destination exactly as we wrote it carries no properties in its listing entry: what we wrote is in the record.
  const overwrites = !empties && !sameContent(staged.size, ours, dst.size, [storedMd5(dst), record && record.dstEtag === dst.etag ? record.md5 : undefined]);
  if (record && record.srcEtag === staged.srcEtag && record.dstEtag === dst.etag) {
    return { action: "skip", reason: "destination holds the staged version" };
  }
  if (record && record.srcEtag === staged.srcEtag) {
    return { action: "copy", reason: "changed at destination behind our back (ETag)", empties, overwrites };
  }
  // The destination is exactly what we last wrote, and the source has a newer version: copy it. (Its listing entry
  // carries no properties to compare: see `listDestination`.)
  if (record && record.dstEtag === dst.etag) {
    if (overwrites && staged.kind === "AppendBlob" && dst.kind === "AppendBlob" && staged.size > dst.size) {
      return { action: "copy", reason: "source appended to since last push", empties, overwrites, checkAppended: true };
    }
    return { action: "copy", reason: "source changed since last push", empties, overwrites };
  }
  if (identical(staged, dst)) return { action: "adopt", reason: "destination already identical (size, Content-MD5, properties, metadata)" };
  if (!record && staged.size === dst.size && staged.kind === dst.kind && describePropDifferences(staged, dst).length === 0) {
    // Written there already (dual writes by an application, a target seeded by hand), as far as a listing can
    // tell, but no Content-MD5 proves it: the bytes are compared.
    return { action: "copy", reason: `same size, properties and metadata at destination, ${unproven(staged)}: bytes compared first`, empties, overwrites, compareBytes: true };
  }
  return { action: "copy", reason: record ? "source changed since last push" : "differs at destination", empties, overwrites };
}

/**
 * True when a destination blob provably holds the staged version: a block blob of the same size and the same
 * Content-MD5 (which both sides must have, and which must be the staged bytes' own MD5 where that was taken: a
 * stale stored one proves nothing), and the same properties and metadata.
 */
export function identical(staged: StagedEntry, dst: RemoteBlob): boolean {
  if (staged.size !== dst.size || staged.kind !== dst.kind) return false;
  const md5 = storedMd5(staged);
  if (!md5 || md5 !== storedMd5(dst) || (staged.stagedMd5 !== undefined && staged.stagedMd5 !== md5)) return false;
  return describePropDifferences(staged, dst).length === 0;
}

/** Why a listing cannot prove a destination that looks the same holds the staged bytes. */
function unproven(staged: StagedEntry): string {
  if (!staged.props.contentMD5) return "no Content-MD5";
  if (staged.kind !== "BlockBlob") return "a page or append blob's stored Content-MD5 does not cover its later writes";
  return "the stored Content-MD5 is not the staged bytes' own (stale)";
}
