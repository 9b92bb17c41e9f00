// The built API process: a path whose percent-encoding does not decode is 400 invalid_path in the
// error envelope, whatever the route.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useApi } from './helpers/api-fixture.js';
import type { ErrorBody } from './helpers/api-types.js';
import { rawRequest } from './helpers/raw-http.js';

const ctx = useApi();

const requests = [
  'GET /v1/jobs/%ff',
  'GET /v1/jobs/%ff/events',
  'POST /v1/jobs/%E0%A4%A/cancel',
  'GET /v1/batches/%c3%28',
  'GET /v1/jobs/job_%',
];

for (const request of requests) {
  test(`${request} is 400 invalid_path`, async () => {
    const reply = await rawRequest(ctx.api.url, `${request} HTTP/1.1\r\nHost: test`);
    assert.equal(reply.status, 400, reply.body);
    const { error } = JSON.parse(reply.body) as ErrorBody;
    assert.equal(error.code, 'invalid_path');
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.param, null);
  });
}
