import { createHash } from "node:crypto";

/**
 * The shard (0 to `count` − 1) that owns `key`, by rendezvous (highest-random-weight) hashing: every shard gets a
 * weight for the key, and the highest wins. Changing `count` moves only the keys whose winner appears or
 * disappears (from 3 to 2 shards, only shard 2's keys move), where `hash % count` would move most of them.
 * SHA-256 is overkill as a hash but is the same in every Node.js, so every machine computes the same owner.
 */
export function rendezvousOwner(key: string, count: number): number {
  let best = 0;
  let bestWeight = -1;
  for (let i = 0; i < count; i++) {
    const weight = createHash("sha256").update(`${i}\u0000${key}`).digest().readUIntBE(0, 6);
    if (weight > bestWeight) {
      best = i;
      bestWeight = weight;
    }
  }
  return best;
}
