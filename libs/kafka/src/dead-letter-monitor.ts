/** What one consumer did with the messages it could not process, since the process started. */
export interface DeadLetterCounts {
  groupId: string;
  /** Messages written to a dead-letter topic (poison, deterministic failures). */
  deadLettered: number;
  /** Messages of a kind the consumer does not know yet, written to the dead-letter topic with code `unknown_type`. */
  parked: number;
  /** Dead-letter (or park) writes the broker refused or did not acknowledge. */
  failedDeadLetterWrites: number;
  /** Partitions whose next message could not be dead-lettered {@link BLOCKED_AFTER_FAILURES} times in a row: they are not moving. */
  blockedPartitions: number;
}

/**
 * A partition counts as blocked (and readiness turns red) once the dead-letter write of its next
 * message has failed this many times in a row: one failure may be a broker blip that the next try
 * (1 s later) survives; three (about 3 s) is a write that keeps failing.
 */
export const BLOCKED_AFTER_FAILURES = 3;
const DEAD_LETTER_RETRY_BASE_MS = 1_000;
const DEAD_LETTER_RETRY_MAX_MS = 60_000;

/** How long a partition waits before its `failures`-th failed dead-letter write is tried again: 1 s, 2 s, 4 s… at most 60 s. */
export function deadLetterRetryDelayMs(failures: number): number {
  return Math.min(DEAD_LETTER_RETRY_MAX_MS, DEAD_LETTER_RETRY_BASE_MS * 2 ** Math.min(Math.max(failures - 1, 0), 10));
}

/**
 * The dead-letter book of one consumer (group), kept across the kafkajs consumers that replace
 * each other after a crash, read by health checks.
 *
 * Invariant: a partition whose message cannot be dead-lettered stays at that message (nothing
 * behind it is skipped or committed), and is listed as blocked from its
 * {@link BLOCKED_AFTER_FAILURES}-th failure until its message is done with (written, or handled
 * after all) or the partition leaves this member in a rebalance.
 */
export class DeadLetterMonitor {
  private deadLettered = 0;
  private parked = 0;
  private failedWrites = 0;
  /** Consecutive failed dead-letter writes of the message at the head of each `topic:partition`. */
  private readonly failing = new Map<string, { offset: string; failures: number }>();

  constructor(readonly groupId: string) {}

  written(parked: boolean): void {
    if (parked) this.parked++;
    else this.deadLettered++;
  }

  /** Counts a failed write of the message at `offset`; returns its consecutive failures. */
  writeFailed(slot: string, offset: string): number {
    this.failedWrites++;
    const previous = this.failing.get(slot);
    const failures = previous?.offset === offset ? previous.failures + 1 : 1;
    this.failing.set(slot, { offset, failures });
    return failures;
  }

  /** The head of `slot` is done with (handled, or its dead letter acknowledged). */
  cleared(slot: string): void {
    this.failing.delete(slot);
  }

  /** After a rebalance: forgets the partitions this member no longer owns (another one retries them now). */
  retainOnly(assignment: Readonly<Record<string, readonly number[]>>): void {
    const owned = new Set(Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}:${p}`)));
    for (const slot of this.failing.keys()) if (!owned.has(slot)) this.failing.delete(slot);
  }

  counts(): DeadLetterCounts {
    return {
      groupId: this.groupId,
      deadLettered: this.deadLettered,
      parked: this.parked,
      failedDeadLetterWrites: this.failedWrites,
      blockedPartitions: [...this.failing.values()].filter((f) => f.failures >= BLOCKED_AFTER_FAILURES).length,
    };
  }
}
