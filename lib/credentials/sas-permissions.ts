/** What a SAS may do on blobs and containers. Everything not listed is off. */
export interface SasPermissions {
  readonly read: boolean;
  readonly list: boolean;
  readonly write: boolean;
  readonly add: boolean;
  readonly create: boolean;
  readonly delete: boolean;
}

/** The side replication reads from: read and list only. */
export const READING_SIDE: SasPermissions = { read: true, list: true, write: false, add: false, create: false, delete: false };

/** The side replication writes to, and applications on the active site: read, list, write, add, create, delete. */
export const WRITING_SIDE: SasPermissions = { read: true, list: true, write: true, add: true, create: true, delete: true };

/** The VM fetching its runtime artifacts: read one container. */
export const ARTIFACT_READER: SasPermissions = { read: true, list: false, write: false, add: false, create: false, delete: false };

const LETTERS: ReadonlyArray<[keyof SasPermissions, string]> = [
  ["read", "r"], ["write", "w"], ["delete", "d"], ["list", "l"], ["add", "a"], ["create", "c"],
];

/** Permission letters (`sp`) for the signing script; it puts them in the order each SAS kind requires. */
export function permissionLetters(p: SasPermissions): string {
  return LETTERS.filter(([k]) => p[k]).map(([, l]) => l).join("");
}
