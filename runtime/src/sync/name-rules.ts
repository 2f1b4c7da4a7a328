import { SCRATCH_PREFIX } from "../transfer/file-to-page-or-append";

/** The longest blob names each cloud holds: Azure Stack Hub 880 characters (1,760 bytes), public Azure 1,024. */
export const NAME_LIMITS = {
  "azure-stack-hub": { chars: 880, bytes: 1760 },
  azure: { chars: 1024, bytes: 2048 },
} as const;

/**
 * Why a source blob can never be replicated to this target as it is, or undefined when it can. Pure; the pull
 * refuses such a blob by name before any transfer (the rest of the container replicates, nothing is deleted
 * because of it), and `verify` and the status record name it.
 */
export function refusalOf(name: string, targetCloud: keyof typeof NAME_LIMITS): string | undefined {
  if (name.startsWith(SCRATCH_PREFIX)) return `names starting with "${SCRATCH_PREFIX}" are reserved by dr-sync; rename the blob to replicate it`;
  const limit = NAME_LIMITS[targetCloud];
  // Characters as the service counts them (UTF-16 code units); bytes as it stores them (UTF-16, two per unit).
  if (name.length > limit.chars || name.length * 2 > limit.bytes) {
    return `the name is ${name.length} characters, and the target (${targetCloud}) holds names of at most ${limit.chars} characters (${limit.bytes} bytes)`;
  }
  return undefined;
}
