/**
 * The Docker engine stopped in the middle of a job: a second, private dockerd (its own data
 * root and socket, so the machine's engine and other tests are untouched) runs the job and is
 * stopped with SIGTERM while a step runs, as `systemctl stop docker` would. Deckhand must end
 * with exit 2 (an environment failure, not the job's), say so in one line, and — when the engine
 * comes back — remove everything the job made; when it does not, say how to remove it later.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { BUSYBOX, deckhandBin, job, project } from '../support/execute.js';

class PrivateEngine {
  readonly dir = mkdtempSync(join(tmpdir(), 'deckhand-dockerd-'));
  readonly host = `unix://${join(this.dir, 'docker.sock')}`;
  /** Interface names are at most 15 characters. */
  readonly bridge = `dhloss${randomBytes(3).toString('hex')}`;
  private daemon: ChildProcess | undefined;

  async start(): Promise<void> {
    // a daemon still shutting down holds the pid file: let it finish first
    const previous = this.daemon;
    if (previous && previous.exitCode === null && previous.signalCode === null) await new Promise((resolve) => previous.once('exit', resolve));
    // A bridge of its own and no iptables rules: nothing it does touches the machine's engine.
    // Not --bridge=none: a dockerd started with it deletes the host's docker0, which the main
    // engine's running containers and every later `docker run` on the default bridge need.
    this.ensureBridge();
    // a killed dockerd leaves its containerd's pid file naming a zombie it no longer reaps: the
    // next dockerd would wait for that containerd forever instead of starting its own
    rmSync(join(this.dir, 'exec', 'containerd', 'containerd.pid'), { force: true });
    this.daemon = spawn('dockerd', [
      '--data-root', join(this.dir, 'root'),
      '--exec-root', join(this.dir, 'exec'),
      '--pidfile', join(this.dir, 'dockerd.pid'),
      '-H', this.host,
      `--bridge=${this.bridge}`, '--iptables=false', '--ip6tables=false',
    ], { stdio: ['ignore', 'ignore', openSync(join(this.dir, 'dockerd.log'), 'a')] });
    const deadline = Date.now() + 60_000;
    while (!this.answers()) {
      if (Date.now() > deadline) throw new Error(`the private dockerd did not answer on ${this.host} within 60 s: ${readFileSync(join(this.dir, 'dockerd.log'), 'utf8').slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private ensureBridge(): void {
    const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: 'pipe' });
    try {
      ip('link', 'show', this.bridge);
      return;
    } catch {
      // not made yet
    }
    ip('link', 'add', 'name', this.bridge, 'type', 'bridge');
    // an address from the benchmarking range (RFC 2544), which no real network uses
    ip('addr', 'add', '198.18.213.1/24', 'dev', this.bridge);
    ip('link', 'set', this.bridge, 'up');
  }

  answers(): boolean {
    try {
      this.docker(['info', '--format', '{{.ID}}']);
      return true;
    } catch {
      return false;
    }
  }

  /** SIGTERM, as a service manager stops it (SIGKILL: as it crashes); resolves once it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const d = this.daemon;
    if (!d || d.exitCode !== null || d.signalCode !== null) return;
    const exited = new Promise((resolve) => d.once('exit', resolve));
    d.kill(signal);
    await exited;
  }

  docker(args: string[], input?: Buffer): string {
    return execFileSync('docker', ['-H', this.host, ...args], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...(input ? { input } : {}) });
  }

  /** Containers and networks of any deckhand job on this engine. */
  deckhandObjects(): string[] {
    const ids = (args: string[]): string[] => this.docker([...args, '--filter', 'label=com.deckhand.job']).split('\n').filter(Boolean);
    return [...ids(['ps', '-aq']), ...ids(['network', 'ls', '-q'])];
  }

  remove(): void {
    // dockerd mounts its data root privately; one that did not exit cleanly leaves the mount
    try {
      execFileSync('umount', ['-l', join(this.dir, 'root')], { stdio: 'ignore' });
    } catch {
      // not mounted
    }
    rmSync(this.dir, { recursive: true, force: true });
    try {
      execFileSync('ip', ['link', 'del', this.bridge], { stdio: 'ignore' });
    } catch {
      // never made
    }
  }
}

/** Runs the job on `engine`; calls `act` once the step has printed "started"; resolves at exit. */
function runUntilStarted(engine: PrivateEngine, env: NodeJS.ProcessEnv, act: () => void): Promise<{ code: number | null; out: string }> {
  const dir = project(job(BUSYBOX, '      - run: echo started; sleep 60; echo never-printed'));
  const child = spawn(process.execPath, [deckhandBin, 'execute', '--no-color', '--isolate-network', '--log-file', join(dir, 'job.log')], {
    cwd: dir,
    env: { ...process.env, DECKHAND_HOME: join(dir, '.home'), DOCKER_HOST: engine.host, ...env },
  });
  let out = '';
  let acted = false;
  const take = (d: Buffer): void => {
    out += d.toString();
    if (!acted && /\nstarted\n/.test(out)) {
      acted = true;
      act();
    }
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
}

describe('the Docker engine stops in the middle of a job', () => {
  const engine = new PrivateEngine();

  before(async () => {
    await engine.start();
    engine.docker(['load', '-q'], execFileSync('docker', ['save', BUSYBOX], { maxBuffer: 1 << 30 }));
  });

  after(async () => {
    await engine.stop();
    engine.remove();
  });

  // the machine's engine keeps its default bridge: other suites run jobs on it at the same time
  const hostBridgeUp = (): boolean => {
    try {
      execFileSync('ip', ['link', 'show', 'docker0'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  const hadBridge = hostBridgeUp();
  afterEach(() => assert.equal(hostBridgeUp(), hadBridge, 'the private engine removed the host\'s docker0'));

  test('engine restarted: exit 2, one clear line, and the job\'s containers and network are removed once it is back', async () => {
    let restarted: Promise<void> | undefined;
    const r = await runUntilStarted(engine, {}, () => {
      restarted = engine.stop().then(() => engine.start());
    });
    // the job may end before the engine is fully back: one engine start at a time
    await restarted;
    assert.equal(r.code, 2, r.out);
    // the engine stops answering, or answers on its way down that it stopped the container
    assert.match(r.out, /cannot reach the Docker engine at unix:\/\/\S+docker\.sock|the primary container stopped while "[^"]+" ran \(exit \d+\): the engine shut down/);
    assert.doesNotMatch(r.out, /\nnever-printed\n/);
    assert.doesNotMatch(r.out, /\n\s+at \S+ \(/, 'no stack trace');
    assert.doesNotMatch(r.out, /cleanup failed/);
    assert.deepEqual(engine.deckhandObjects(), [], r.out);
  });

  test('engine gone for good: exit 2, and the cleanup warning says how to remove what is left', async () => {
    // killed, not stopped: a crashed engine cannot answer the cleanup on its way down
    let stopped: Promise<void> | undefined;
    const r = await runUntilStarted(engine, { DECKHAND_ENGINE_RETURN_SECONDS: '1' }, () => {
      stopped = engine.stop('SIGKILL');
    });
    await stopped;
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /cannot reach the Docker engine at unix:\/\/\S+docker\.sock/);
    const warning = /warning: cleanup failed: cannot reach the Docker engine[^\n]*remove what the job left with: docker rm -f -v \$\(docker ps -aq --filter label=com\.deckhand\.run=(\w+)\)/.exec(r.out);
    assert.ok(warning, r.out);
    // the command it gives works once the engine is back
    await engine.start();
    const left = engine.docker(['ps', '-aq', '--filter', `label=com.deckhand.run=${warning[1]}`]).split('\n').filter(Boolean);
    assert.ok(left.length > 0, 'the stopped engine kept the job container');
    engine.docker(['rm', '-f', '-v', ...left]);
    for (const id of engine.docker(['network', 'ls', '-q', '--filter', `label=com.deckhand.run=${warning[1]}`]).split('\n').filter(Boolean)) engine.docker(['network', 'rm', id]);
    assert.deepEqual(engine.deckhandObjects(), []);
  });
});
