/**
 * `deckhand agent nomad-task` as Nomad runs it: the task environment Nomad's client sets for a
 * dispatched parameterized job (its variables, the payload file under NOMAD_TASK_DIR, meta for the
 * parallel node), the kill signal and timeout, a real Docker engine and a real output processor.
 * Nomad itself cannot run on these machines; everything it hands the task is reproduced exactly.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import type { JobAssignment } from '../../agent/assignment/assignment.js';
import { BUSYBOX, deckhandBin, job, project } from '../support/execute.js';
import { freePort } from '../support/free-port.js';
import { leftByEndedRuns, newLeftovers } from '../support/leftovers.js';
import { clientKey, ssh as sshRun, type Ran } from '../support/openssh.js';
import { ProcessorProcess } from '../support/processor-process.js';

interface Task {
  /** the allocation's folder: alloc/, <task>/local, <task>/secrets */
  root: string;
  taskDir: string;
  secretsDir: string;
  env: NodeJS.ProcessEnv;
}

/** The folders and variables Nomad's client gives task `agent` of a job dispatched from `deckhand-medium`. */
function nomadTask(dir: string, meta: Record<string, string> = {}): Task {
  const allocId = randomUUID();
  const root = join(dir, 'alloc', allocId);
  const taskDir = join(root, 'agent', 'local');
  const secretsDir = join(root, 'agent', 'secrets');
  for (const d of [join(root, 'alloc'), taskDir, secretsDir]) mkdirSync(d, { recursive: true });
  const jobId = `deckhand-medium/dispatch-${Math.floor(Date.now() / 1000)}-${allocId.slice(0, 8)}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
    DECKHAND_HOME: join(dir, '.home'),
    NOMAD_ALLOC_DIR: join(root, 'alloc'),
    NOMAD_TASK_DIR: taskDir,
    NOMAD_SECRETS_DIR: secretsDir,
    NOMAD_ALLOC_ID: allocId,
    NOMAD_ALLOC_NAME: `${jobId}.agent[0]`,
    NOMAD_ALLOC_INDEX: '0',
    NOMAD_JOB_ID: jobId,
    NOMAD_JOB_NAME: jobId,
    NOMAD_JOB_PARENT_ID: 'deckhand-medium',
    NOMAD_GROUP_NAME: 'agent',
    NOMAD_TASK_NAME: 'agent',
    NOMAD_NAMESPACE: 'default',
    NOMAD_REGION: 'global',
    NOMAD_DC: 'dc1',
    NOMAD_CPU_LIMIT: '4000',
    NOMAD_MEMORY_LIMIT: '4096',
    NOMAD_SHORT_ALLOC_ID: allocId.slice(0, 8),
  };
  // Nomad sets each meta key twice: as the job spelled it and upper-cased
  for (const [k, v] of Object.entries(meta)) {
    env[`NOMAD_META_${k}`] = v;
    env[`NOMAD_META_${k.toUpperCase()}`] = v;
  }
  return { root, taskDir, secretsDir, env };
}

/** The assignment `deckhand execute --print-assignment` makes of `dir`'s job. */
function assignmentOf(dir: string): JobAssignment {
  const r = spawnSync(process.execPath, [deckhandBin, 'execute', '--print-assignment'], { cwd: dir, encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as JobAssignment;
}

interface TaskRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  /** the JSON lines of stderr */
  logs: Record<string, unknown>[];
}

/** Starts the task as Nomad's raw_exec driver would (working directory: the task's folder, holding local/ and secrets/); `onOutput` sees stdout as it grows. */
function runTask(task: Task, args: string[] = [], onOutput?: (out: string, child: ReturnType<typeof spawn>) => void): Promise<TaskRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [deckhandBin, 'agent', 'nomad-task', ...args], { cwd: join(task.taskDir, '..'), env: task.env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      onOutput?.(out, child);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code, signal) => {
      const logs = err
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ code, signal, out, err, logs });
    });
  });
}

describe('deckhand agent nomad-task', { concurrency: false, timeout: 300_000 }, () => {
  let dir: string;
  let assignment: JobAssignment;
  before(() => {
    dir = project(job(BUSYBOX, '      - run: echo "node $CIRCLE_NODE_INDEX of $CIRCLE_NODE_TOTAL, token $API_TOKEN"'));
    assignment = assignmentOf(dir);
    // the token comes from a file Nomad's template renders into the secrets folder
    assignment.secrets.project = { files: [] };
  });

  test('the payload as JSON: the job runs, the allocation is in its log, stderr is JSON lines, exit 0', async () => {
    const task = nomadTask(dir);
    writeFileSync(join(task.secretsDir, 'project.env'), 'API_TOKEN=from-a-template\n');
    // the dispatcher cannot know where the client puts the task's folders: it names them as Nomad does
    writeFileSync(join(task.taskDir, 'payload'), JSON.stringify({ ...assignment, secrets: { project: { files: ['${NOMAD_SECRETS_DIR}/project.env'] } } }));
    const r = await runTask(task);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /node 0 of 1, token \*{8}/, 'the template\'s value is a masked project variable');
    assert.match(r.out, new RegExp(`Nomad: allocation ${task.env.NOMAD_ALLOC_ID}, job deckhand-medium/dispatch-\\d+-[0-9a-f]{8}, 4000 MHz CPU, 4096 MB memory\\n`));
    const first = r.logs.find((l) => l.msg === 'nomad task');
    assert.ok(first, r.err);
    assert.equal(first['nomad.allocId'], task.env.NOMAD_ALLOC_ID);
    assert.equal(first['nomad.parentJobId'], 'deckhand-medium');
    assert.equal(first['nomad.cpuMhz'], 4000);
    assert.equal(first['nomad.memoryMb'], 4096);
    assert.equal(r.logs.at(-1)?.msg, 'job finished');
    assert.equal(r.logs.at(-1)?.exitCode, 0);
    for (const l of r.logs) assert.match(String(l.time), /^\d{4}-\d\d-\d\dT/);
    const jobLog = readFileSync(join(task.taskDir, 'deckhand-job.log'), 'utf8');
    assert.match(jobLog, new RegExp(`Nomad: allocation ${task.env.NOMAD_ALLOC_ID}`));
  });

  test('the payload as gzip of JSON, and the parallel node from NOMAD_META_node_index/_total', async () => {
    const task = nomadTask(dir, { node_index: '2', node_total: '4' });
    writeFileSync(join(task.taskDir, 'payload'), gzipSync(JSON.stringify({ ...assignment, secrets: {} })));
    const r = await runTask(task);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /node 2 of 4, token \n/, 'no API_TOKEN in this assignment');
  });

  test("SSH into the job on the task's dynamic port: NOMAD_PORT_ssh is listened on, NOMAD_HOST_IP_ssh/NOMAD_HOST_PORT_ssh are printed", async () => {
    const task = nomadTask(dir);
    const key = clientKey('nomad');
    const port = await freePort();
    // bridge networking: the port inside differs from the one others reach; here both lead to the same socket
    Object.assign(task.env, { NOMAD_PORT_ssh: String(port), NOMAD_HOST_PORT_ssh: '64999', NOMAD_HOST_IP_ssh: '127.0.0.1', NOMAD_IP_ssh: '127.0.0.1' });
    const ssh: NonNullable<JobAssignment['ssh']> = { enabled: true, authorizedKeys: [key.publicPath], ports: { first: 64535, last: 65535 }, waitSeconds: 60 };
    writeFileSync(join(task.taskDir, 'payload'), JSON.stringify({ ...assignment, secrets: {}, ssh }));
    let session: Promise<Ran> | undefined;
    const r = await runTask(task, [], (out) => {
      if (session || !/====>> Wait for SSH\n/.test(out)) return;
      const hostKey = /^Host key: (ssh-ed25519 \S+)/m.exec(out)?.[1] ?? '';
      session = sshRun({ host: '127.0.0.1', port, hostKey, user: 'root' }, key, ['echo "in $(pwd) as $(id -un)"']);
    });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^ssh -p 64999 root@127\.0\.0\.1$/m);
    assert.ok(session, r.out);
    const ran = await session;
    assert.equal(ran.stdout, 'in /root/project as root\n', ran.stderr);
    assert.match(r.out, /The last session left: the job ends\./);
  });

  test('a payload over Nomad\'s 16 KiB: one JSON error line with the size, exit 2, nothing started', async () => {
    const task = nomadTask(dir);
    const big = { ...assignment, spec: { ...assignment.spec, environment: { PADDING: 'x'.repeat(20_000) } } };
    writeFileSync(join(task.taskDir, 'payload'), JSON.stringify(big));
    const r = await runTask(task);
    assert.equal(r.code, 2, r.err);
    assert.equal(r.out, '');
    assert.equal(r.logs.length, 1, r.err);
    assert.equal(r.logs[0].level, 'error');
    assert.equal(r.logs[0].kind, 'input');
    assert.match(String(r.logs[0].msg), /\d{5} bytes.*16384/);
    assert.match(String(r.logs[0].msg), /gzip|assignmentUrl/);
  });

  test('a bad assignment in the payload: its JSON path in one JSON error line, exit 2', async () => {
    const task = nomadTask(dir);
    writeFileSync(join(task.taskDir, 'payload'), JSON.stringify({ ...assignment, run: { ...assignment.run, nodeTotal: 0 } }));
    const r = await runTask(task);
    assert.equal(r.code, 2, r.err);
    assert.match(String(r.logs[0].msg), /^invalid assignment .*payload: \$\.run\.nodeTotal: expected a number >= 1, got number 0$/);
  });

  test('no payload file: the error says how a parameterized job must hand it over', async () => {
    const task = nomadTask(dir);
    const r = await runTask(task);
    assert.equal(r.code, 2);
    assert.match(String(r.logs[0].msg), /dispatch_payload|--payload/);
  });

  describe('with services on loopback', () => {
    let server: Server;
    let port = 0;
    let processor: ProcessorProcess;
    const served = new Map<string, Buffer>();
    before(async () => {
      server = createServer((req, res) => {
        const body = served.get(req.url ?? '');
        if (req.headers.authorization !== 'Bearer dispatch-token' || !body) {
          res.writeHead(body ? 401 : 404).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
      processor = await ProcessorProcess.start();
    });
    after(async () => {
      server?.close();
      await processor?.stop();
    });

    test('a reference in the payload: the assignment is fetched over HTTP with the token from the secrets folder', async () => {
      const task = nomadTask(dir);
      served.set('/assignments/1', Buffer.from(JSON.stringify({ ...assignment, secrets: {} })));
      writeFileSync(join(task.secretsDir, 'dispatch-token'), 'dispatch-token\n');
      writeFileSync(join(task.taskDir, 'payload'), JSON.stringify({ assignmentUrl: `http://127.0.0.1:${port}/assignments/1`, tokenFile: 'secrets/dispatch-token' }));
      const r = await runTask(task);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /node 0 of 1/);
      writeFileSync(join(task.secretsDir, 'dispatch-token'), 'wrong\n');
      const refused = await runTask(task);
      assert.equal(refused.code, 2);
      assert.match(String(refused.logs[0].msg), /401/);
      assert.ok(!refused.err.includes('wrong'), 'the token is never shown');
    });

    test('SIGTERM mid-step (Nomad\'s kill): steps stopped, output delivered to the processor, containers removed, exit 143 within the kill timeout', async () => {
      const killDir = project(job(BUSYBOX, '      - run: echo started; trap "echo got TERM; exit 7" TERM; sleep 60 & wait\n      - run: echo never'));
      const task = nomadTask(killDir);
      const a = assignmentOf(killDir);
      const jobId = `nomad-kill-${Date.now()}`;
      a.output = { processor: processor.target, jobId, tokenSecretFile: processor.secretFile, deadlineSeconds: 60 };
      writeFileSync(join(task.taskDir, 'payload'), JSON.stringify(a));
      const before = leftByEndedRuns();
      let killedAt = 0;
      const r = await runTask(task, ['--kill-timeout', '10s'], (out, child) => {
        if (!killedAt && /\nstarted\n/.test(out)) {
          killedAt = Date.now();
          child.kill('SIGTERM');
        }
      });
      const took = Date.now() - killedAt;
      assert.ok(killedAt > 0, r.out);
      assert.equal(r.code, 143, r.err);
      assert.ok(took < 10_000, `ended ${took} ms after SIGTERM; the kill timeout is 10 s`);
      assert.match(r.out, /got TERM/, 'the step got SIGTERM first');
      assert.doesNotMatch(r.out, /\nnever\n/);
      assert.deepEqual(newLeftovers(before), [], 'nothing left behind');
      assert.ok(r.logs.some((l) => l.msg === 'output delivered'), r.err);
      const stored = (await processor.output(jobId, 0)).toString();
      assert.match(stored, /^started\ngot TERM\n/);
      const described = (await processor.job(jobId)) as { status: string; finished?: { status: string } };
      assert.equal(described.status, 'complete', 'every stream stored and verified');
      assert.equal(described.finished?.status, 'canceled');
    });
  });
});
