/**
 * Interoperability: Debian's python3-grpcio (C-core gRPC, another implementation) streams a job
 * with stubs generated from our .proto at test time, and reads it back over HTTP.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PROTO_PATH } from '../../agent/output/wire/protocol.js';
import { packagePath } from '../../agent/package-root.js';
import { startTestProcessor, type TestProcessor } from './support.js';

const PYTHON = '/usr/bin/python3';

describe('output processor: interoperability with python3-grpcio', () => {
  let p: TestProcessor;
  let stubs: string;
  before(async () => {
    p = await startTestProcessor();
    stubs = mkdtempSync(join(tmpdir(), 'deckhand-pystubs-'));
  });
  after(async () => {
    await p.dispose();
    rmSync(stubs, { recursive: true, force: true });
  });

  it('a Python client streams a job and reads back the same bytes', async () => {
    // no skip: a missing grpcio is a failure (scripts/ensure-test-tools.sh installs it)
    // Debian's grpc_tools (1.51) bundles a protoc that refuses proto3 `optional`; without the
    // label the field is the same on the wire (number and type), only its presence is not tracked
    const proto = join(stubs, 'output.proto');
    writeFileSync(proto, readFileSync(PROTO_PATH, 'utf8').replace(/^(\s*)optional /gm, '$1'));
    execFileSync(PYTHON, ['-m', 'grpc_tools.protoc', `-I${stubs}`, `--python_out=${stubs}`, `--grpc_python_out=${stubs}`, proto], { stdio: 'pipe' });
    const script = packagePath('test', 'processor', 'interop', 'stream_job.py');
    // asynchronously: the processor runs in this process and must keep serving
    const { stdout: out } = await promisify(execFile)(PYTHON, [script, stubs, p.target, p.http, 'job-python', p.token('job-python')], { encoding: 'utf8', timeout: 60_000 });
    const r = JSON.parse(out) as { verified: boolean; message: string; acks: number; sent_sha256: string; stored_sha256: string; stderr_equal: boolean };
    assert.equal(r.verified, true, r.message);
    assert.ok(r.acks >= 1);
    assert.equal(r.stored_sha256, r.sent_sha256);
    assert.equal(r.stderr_equal, true);
  });
});
