// State checkpoints on built worker processes (tiny preset model): a running job's state is written
// to its checkpoint hash; after its worker is SIGKILLed the next worker imports it and feeds only the
// tokens after it, and a checkpoint that does not fit falls back to re-prefill; the output is the
// uninterrupted one either way, and the checkpoint goes when the job ends.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobRequest } from '@sambay/protocol';
import { chunkText, contiguousTokens } from './helpers/job-stream.js';
import { useWorkers } from './helpers/worker-fixture.js';

const w = useWorkers({
  STREAM_FLUSH_MS: '5',
  CHECKPOINT_EVERY_TOKENS: '64',
  CHECKPOINT_EVERY_MS: '60000',
  // A killed worker's jobs run again within about 1.5 s.
  JOB_LOCK_MS: '1000',
  STALLED_CHECK_MS: '500',
});

const REQUEST: Partial<JobRequest> = { max_tokens: 3000, temperature: 0.9, seed: 5, ignore_eos: true };

/** The worker's log lines (pino JSON) that say how a job's generation was resumed. */
function resumeLines(output: string, jobId: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.msg === 'resumed generation' && line.jobId === jobId);
}

test('a killed job resumes from its checkpoint (or re-prefills when it does not fit) with the uninterrupted output', async () => {
  const { keys, redis } = w;
  await w.add('reference', REQUEST);
  const reference = await w.finished('reference');
  const expected = contiguousTokens(reference.events);
  assert.equal(expected.length, 3000);

  await w.add('restored', REQUEST);
  await w.add('corrupted', REQUEST);
  const checkpointed = async (id: string) => Number((await redis.hget(keys.jobCheckpoint(id), 'tokens')) ?? -1) >= 64;
  await w.waitFor(
    'both jobs to be checkpointed',
    async () => (await checkpointed('restored')) && checkpointed('corrupted'),
  );
  await w.worker.stop('SIGKILL');
  const checkpoint = await redis.hgetallBuffer(keys.jobCheckpoint('restored'));
  const checkpointTokens = Number(checkpoint.tokens!.toString());
  const streamed = contiguousTokens(await w.read('restored')).length;
  assert.ok(
    checkpointTokens < streamed,
    `the checkpoint (${checkpointTokens}) covers less than the stream (${streamed})`,
  );
  assert.ok(checkpoint.state!.length > 0);
  assert.ok(streamed < 3000, 'killed mid-job');
  await redis.hset(keys.jobCheckpoint('corrupted'), 'state', 'not a state');

  const next = await w.startWorker();
  for (const id of ['restored', 'corrupted']) {
    const { events, result } = await w.finished(id);
    assert.deepEqual(contiguousTokens(events), expected, `${id}: the uninterrupted tokens, each once`);
    assert.equal(chunkText(events), reference.result.text, id);
    assert.equal(result.text, reference.result.text, id);
    assert.equal(await redis.exists(keys.jobCheckpoint(id)), 0, `${id}: the checkpoint goes with the ending`);
  }
  const [restored] = resumeLines(next.output(), 'restored');
  assert.equal(restored?.resumedFrom, 'checkpoint', next.output().slice(-3000));
  assert.equal(restored.checkpointTokens, checkpointTokens);
  const [corrupted] = resumeLines(next.output(), 'corrupted');
  assert.equal(corrupted?.resumedFrom, 'prefill');
  assert.match(String(corrupted.checkpointError), /magic/);
});
