// The built API process (no worker): cancel is one transition. Of many concurrent cancels of a
// queued job exactly one ends it (202) and writes its one `done` event; the others answer 409.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useApi } from './helpers/api-fixture.js';
import type { CancelAccepted, ErrorBody } from './helpers/api-types.js';
import { readJobStream } from './helpers/job-stream.js';

const ctx = useApi();

/** Sends 20 cancels of `id` at once. */
const cancelTwenty = (id: string) =>
  Promise.all(Array.from({ length: 20 }, () => ctx.post<CancelAccepted | ErrorBody>(`/v1/jobs/${id}/cancel`, {})));

for (let round = 1; round <= 5; round++) {
  test(`20 concurrent cancels of a queued job: one 202 cancelled, 19 409, one done event (round ${round})`, async () => {
    await checkCancelRace();
  });
}

async function checkCancelRace(): Promise<void> {
  const id = await ctx.submit({ prompt: 'cancelled twenty times' });
  const replies = await cancelTwenty(id);
  const accepted = replies.filter((r) => r.status === 202);
  const conflicts = replies.filter((r) => r.status === 409);
  assert.equal(accepted.length, 1, JSON.stringify(replies.map((r) => [r.status, r.body])));
  assert.deepEqual(accepted[0]!.body, { id, status: 'cancelled' });
  assert.equal(conflicts.length, 19);
  for (const conflict of conflicts) {
    const { error } = conflict.body as ErrorBody;
    assert.equal(error.type, 'conflict');
    assert.ok(['job_finished', 'job_cancelling'].includes(error.code), error.code);
  }
  const events = await readJobStream(ctx.redis, ctx.keys, id);
  assert.deepEqual(
    events.map((e) => e.type),
    ['status', 'done'],
  );
  const again = await ctx.post<ErrorBody>(`/v1/jobs/${id}/cancel`, {});
  assert.equal(again.status, 409);
  assert.equal(again.body.error.code, 'job_finished');
}
