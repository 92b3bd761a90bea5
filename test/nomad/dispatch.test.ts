// deckhand nomad dispatch / drain: the request shapes (the Go harness checks them against
// Nomad's API types and a stand-in server; here, what goes into them).
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { dispatchRequest } from '../../agent/nomad/dispatch.js';
import { drainRequest } from '../../agent/nomad/drain.js';
import { connectionFromEnv, NomadApi } from '../../agent/nomad/nomad-api.js';
import { testAssignment } from '../support/assignment.js';

describe('dispatch request', () => {
  it('is the gzipped assignment with the run\'s meta, to its class\'s job, idempotent by run', () => {
    const a = testAssignment();
    const r = dispatchRequest({ assignment: { ...a, run: { ...a.run, nodeIndex: 2, nodeTotal: 4 } } });
    assert.equal(r.jobId, 'deckhand-medium');
    assert.equal(r.idempotencyToken, a.run.id);
    const body = r.body as { JobID: string; Payload: string; Meta: Record<string, string> };
    assert.equal(body.JobID, 'deckhand-medium');
    assert.deepEqual(body.Meta, { run_id: a.run.id, node_index: '2', node_total: '4', workflow_id: a.run.workflowId, job_name: 'build' });
    assert.equal(JSON.parse(gunzipSync(Buffer.from(body.Payload, 'base64')).toString()).run.id, a.run.id);
  });

  it('sends a reference as it is, with the job and run it cannot tell', () => {
    const ref = { assignmentUrl: 'https://store.internal/a.json' };
    assert.throws(() => dispatchRequest({ assignment: ref }), /give --job/);
    const r = dispatchRequest({ assignment: ref, jobId: 'deckhand-large', runId: 'run-1' });
    assert.deepEqual(JSON.parse(Buffer.from((r.body as { Payload: string }).Payload, 'base64').toString()), ref);
  });
});

describe('drain request', () => {
  it('drains with the deadline in nanoseconds, system jobs too, not eligible', () => {
    assert.deepEqual(drainRequest('n1', 600_000), { NodeID: 'n1', DrainSpec: { Deadline: 600e9, IgnoreSystemJobs: false }, MarkEligible: false, Meta: { message: 'drained by deckhand nomad drain' } });
  });
});

describe('Nomad connection', () => {
  it('reads Nomad\'s own variables, flags first', () => {
    const c = connectionFromEnv({ NOMAD_ADDR: 'https://n:4646', NOMAD_TOKEN: 't', NOMAD_CACERT: '/ca.pem' }, { token: 'flag' });
    assert.deepEqual(c, { address: 'https://n:4646', token: 'flag', caCert: '/ca.pem' });
    assert.equal(connectionFromEnv({}).address, 'http://127.0.0.1:4646');
  });

  it('refuses an address that is not http(s) and a certificate without its key', () => {
    assert.throws(() => new NomadApi({ address: 'nomad:4646' }), /not http:\/\/ or https:\/\/|not a URL/);
    assert.throws(() => new NomadApi({ address: 'https://n', clientCert: '/c.pem' }), /needs its key/);
  });
});
