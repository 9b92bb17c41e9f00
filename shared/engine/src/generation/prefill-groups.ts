/** Default bound on batch × T² per prefill call (`SchedulerOptions.prefillBudget`). */
export const DEFAULT_PREFILL_BUDGET = 2 ** 24;

/** Consecutive groups (admission order kept) whose padded size batch × T² stays within the budget. */
export function prefillGroups<T extends { prefillIds: readonly number[] }>(sequences: T[], budget: number): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let longest = 0;
  for (const s of sequences) {
    const t = Math.max(longest, s.prefillIds.length);
    if (group.length > 0 && (group.length + 1) * t * t > budget) {
      groups.push(group);
      [group, longest] = [[], 0];
    }
    group.push(s);
    longest = Math.max(longest, s.prefillIds.length);
  }
  if (group.length > 0) groups.push(group);
  return groups;
}
