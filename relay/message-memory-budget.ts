import { readFileSync } from 'node:fs';
import os from 'node:os';

/** Share of the container's memory that messages being received may hold by default. */
export const DEFAULT_MESSAGE_MEMORY_SHARE = 0.5;

/** What one message holds of the budget. */
export interface MessageMemory {
  /** Takes `bytes` if they fit the budget; false (and nothing taken) if they do not. */
  tryHold(bytes: number): boolean;
  /** Gives back everything this message holds; safe to call more than once. */
  release(): void;
}

/**
 * The bytes of message content one relay process holds in memory at once,
 * across all its sessions. A message takes its bytes chunk by chunk as they
 * arrive and gives them back when it is sent or refused; a chunk that does not
 * fit is not kept (the message is read to its end and refused `451 4.3.1`),
 * and while the budget is spent a new DATA is refused before it starts. So a
 * few users sending large messages at once cannot get the task killed for
 * memory and take everyone's sessions with it.
 */
export class MessageMemoryBudget {
  #held = 0;

  constructor(readonly limitBytes: number) {}

  /** Bytes held now, by all messages. */
  get heldBytes(): number {
    return this.#held;
  }

  /** True when no new message should start. */
  isSpent(): boolean {
    return this.#held >= this.limitBytes;
  }

  /** An account for one message, holding nothing yet. */
  open(): MessageMemory {
    let mine = 0;
    return {
      tryHold: (bytes) => {
        if (this.#held + bytes > this.limitBytes) return false;
        this.#held += bytes;
        mine += bytes;
        return true;
      },
      release: () => {
        this.#held -= mine;
        mine = 0;
      },
    };
  }
}

/**
 * DEFAULT_MESSAGE_MEMORY_SHARE of the memory this process may use: the cgroup
 * limit of its container (v2 `memory.max`, v1 `memory.limit_in_bytes`), or
 * the machine's memory where there is none.
 */
export function defaultMessageMemoryBudgetBytes(readText: (file: string) => string | undefined = readIfPresent): number {
  const limits = ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']
    .map((file) => Number(readText(file)?.trim()))
    // "max" (no limit) reads as NaN; cgroup v1 writes a huge number for none.
    .filter((bytes) => Number.isSafeInteger(bytes) && bytes > 0);
  const available = Math.min(os.totalmem(), ...limits);
  return Math.floor(available * DEFAULT_MESSAGE_MEMORY_SHARE);
}

function readIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
