/**
 * SSH into a job, as CircleCI's "rerun with SSH" shows it: an "Enable SSH" section before the
 * first step starts the job's SSH server and prints the line to type, `ssh -p PORT USER@HOST`,
 * with the host key's fingerprint; the steps run as always (sessions may come meanwhile); a
 * "Wait for SSH" section after the last one prints the line again and holds the job: up to
 * `waitMs` for a first session when none is open, then for as long as sessions are open, up to
 * `maxHoldMs` in all. The job ends when the last session leaves, when the wait runs out, or on a
 * cancel; its result stays its steps'.
 *
 * Sessions' own bytes never enter the job's output: only the lines about logins do, through the
 * job's masking sink like everything else.
 */
import { freshHostKey } from '../debug-ssh/host-key.js';
import { prepareJobSessions } from '../debug-ssh/job-target.js';
import { DebugSshServer } from '../debug-ssh/server.js';
import type { JobSshSettings } from '../debug-ssh/settings.js';
import { formatDuration } from '../nomad/durations.js';
import type { OutputSink, SshStatus } from '../output/events.js';
import type { StepContext } from '../steps/step.js';
import { stepOutput } from '../steps/step-output.js';

export const ENABLE_SSH = 'Enable SSH';
export const WAIT_FOR_SSH = 'Wait for SSH';

export class JobSsh {
  /** the section login lines go to: Enable SSH's until the wait starts */
  private section: number;
  private phase: SshStatus['phase'] = 'listening';
  private readonly unwatch: () => unknown;

  private constructor(
    private readonly server: DebugSshServer,
    private readonly settings: JobSshSettings,
    readonly command: string,
    private readonly sink: OutputSink,
    enableIndex: number,
    private readonly where: Omit<SshStatus, 'phase' | 'sessions' | 'command'>,
  ) {
    this.section = enableIndex;
    this.unwatch = server.watch(() => this.tell());
  }

  /**
   * Where the job's SSH stands, as an `ssh` event among the job's output: whoever follows the job
   * sees it (the control API's job answer, locally or through the output processor).
   */
  private tell(): void {
    this.sink.event({ type: 'ssh', time: Date.now(), phase: this.phase, command: this.command, ...this.where, sessions: this.phase === 'ended' ? 0 : this.server.sessions });
  }

  /**
   * The Enable SSH section, at `index`: the server listening, the line printed. Undefined when
   * it failed (the section says why and ends failed; nothing is left listening).
   */
  static async enable(
    settings: JobSshSettings,
    ctx: Pick<StepContext, 'executor' | 'environment' | 'workingDirectory' | 'signal'>,
    where: { taskDataDir: string; landing: string },
    sink: OutputSink,
    index: number,
  ): Promise<JobSsh | undefined> {
    const t0 = Date.now();
    sink.event({ type: 'step-start', index, name: ENABLE_SSH, stepType: 'ssh', time: t0, background: false });
    const output = stepOutput(sink, index);
    let server: DebugSshServer | undefined;
    try {
      const [hostKey, sessions] = await Promise.all([freshHostKey(), prepareJobSessions(ctx, where.taskDataDir)]);
      let ssh: JobSsh | undefined;
      server = new DebugSshServer({
        hostKey: hostKey.privateKey,
        keys: settings.keys.keys,
        target: sessions.target,
        loginGraceMs: settings.loginGraceMs,
        log: (line) => ssh?.say(line),
      });
      const { port } = await server.listen(settings.ports.first, settings.ports.last, settings.listen);
      const shownPort = settings.advertisedPort ?? port;
      const command = `ssh -p ${shownPort} ${sessions.user}@${settings.host}`;
      ssh = new JobSsh(server, settings, command, sink, index, { user: sessions.user, host: settings.host, port: shownPort, hostKey: hostKey.publicKey, hostKeyFingerprint: hostKey.fingerprint });
      for (const skipped of settings.keys.skipped) output.write('agent', `warning: ${skipped}\n`);
      output.write(
        'agent',
        [
          `You can SSH into this job: sessions run in ${where.landing} as ${sessions.user}, in ${ctx.workingDirectory}. Connect with`,
          '',
          command,
          '',
          `Host key: ${hostKey.publicKey} (${hostKey.fingerprint})`,
          `Keys allowed: ${settings.keys.keys.map((k) => k.fingerprint).join(', ')}`,
          `Listening on ${settings.listen ?? 'all addresses'} port ${port}. After the last step the job waits ${formatDuration(settings.waitMs)} for a session, and stays while sessions are open, up to ${formatDuration(settings.maxHoldMs)}.`,
          '',
        ].join('\n'),
      );
      sink.event({ type: 'step-end', index, status: 'success', durationMs: Date.now() - t0 });
      ssh.tell();
      return ssh;
    } catch (err) {
      await server?.close().catch(() => undefined);
      const message = err instanceof Error ? err.message : String(err);
      output.write('agent', `${message}\n`);
      sink.event({ type: 'step-end', index, status: ctx.signal.aborted ? 'canceled' : 'failed', durationMs: Date.now() - t0, message });
      return undefined;
    }
  }

  /** Sessions open now. */
  get sessions(): number {
    return this.server.sessions;
  }

  /** The Wait for SSH section, at `index`: holds the job as the module's comment says. */
  async wait(index: number, signal: AbortSignal): Promise<void> {
    const t0 = Date.now();
    this.sink.event({ type: 'step-start', index, name: WAIT_FOR_SSH, stepType: 'ssh', time: t0, background: false });
    this.section = index;
    this.phase = 'holding';
    this.tell();
    const { waitMs, maxHoldMs } = this.settings;
    this.say(`${this.command}\n`);
    this.say(
      this.server.sessions > 0
        ? `${this.server.sessions} session${this.server.sessions === 1 ? ' is' : 's are'} open: the job stays until the last one leaves, up to ${formatDuration(maxHoldMs)}.`
        : `Waiting ${formatDuration(waitMs)} for a session; the job then stays until the last one leaves, up to ${formatDuration(maxHoldMs)}.`,
    );
    const why = await hold(this.server, waitMs, maxHoldMs, signal);
    const said = {
      'no-session': `No session in ${formatDuration(waitMs)}: the job ends.`,
      'last-left': 'The last session left: the job ends.',
      'max-hold': `The job was held ${formatDuration(maxHoldMs)}, its longest: the sessions are closed and the job ends.`,
      canceled: 'The job was canceled: the sessions are closed.',
    }[why];
    this.say(said);
    await this.close();
    this.sink.event({ type: 'step-end', index, status: why === 'canceled' ? 'canceled' : 'success', durationMs: Date.now() - t0 });
  }

  /** Closes every session and stops listening. Idempotent. */
  async close(): Promise<void> {
    await this.server.close();
    if (this.phase === 'ended') return;
    this.unwatch();
    this.phase = 'ended';
    this.tell();
  }

  private say(line: string): void {
    this.sink.event({ type: 'output', index: this.section, stream: 'agent', data: Buffer.from(line.endsWith('\n') ? line : `${line}\n`) });
  }
}

type HoldEnd = 'no-session' | 'last-left' | 'max-hold' | 'canceled';

/** Waits as JobSsh.wait says; resolves with why it stopped. */
function hold(server: DebugSshServer, waitMs: number, maxHoldMs: number, signal: AbortSignal): Promise<HoldEnd> {
  return new Promise((resolve) => {
    let unwatch: () => unknown = () => undefined;
    let waiting: NodeJS.Timeout | undefined;
    const longest = setTimeout(() => finish('max-hold'), maxHoldMs);
    const finish = (why: HoldEnd): void => {
      clearTimeout(longest);
      clearTimeout(waiting);
      unwatch();
      signal.removeEventListener('abort', onAbort);
      resolve(why);
    };
    const onAbort = (): void => finish('canceled');
    if (signal.aborted) return finish('canceled');
    signal.addEventListener('abort', onAbort, { once: true });
    // the wait for a first session counts only while none is open
    if (server.sessions === 0) waiting = setTimeout(() => finish('no-session'), Math.min(waitMs, maxHoldMs));
    unwatch = server.watch((sessions) => {
      if (sessions > 0) clearTimeout(waiting);
      else finish('last-left');
    });
  });
}
