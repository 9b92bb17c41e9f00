/** Our `priority`: higher runs sooner, 0 by default. Bounded so it maps into BullMQ's range. */
export const PRIORITY_MIN = -1000;
export const PRIORITY_MAX = 1000;

/**
 * Maps our priority onto BullMQ's (lower runs sooner, 1..2^21). Every job gets a BullMQ priority
 * >= 1, so all of them live in the prioritized set, FIFO within a priority: BullMQ serves its plain
 * wait list before the prioritized set, so mixing unprioritized (priority 0) jobs in would let them
 * overtake higher-priority ones.
 */
export const toBullPriority = (priority: number): number => PRIORITY_MAX + 1 - priority;
