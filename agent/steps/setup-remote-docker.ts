/**
 * `setup_remote_docker`: a Docker engine of the job's own, on a VM from the job's provider, as
 * CircleCI Server gives one (a separate VM reached on 2376). The job gets a CA of its own, a server
 * certificate for the VM's address and a client certificate; the engine is restarted with
 * `--tlsverify` on 2376 (`deckhand-dockerd --tls`), so only this job can use it. The primary gets
 * the client files in /tmp/docker-certs and every later step DOCKER_HOST, DOCKER_TLS_VERIFY=1 and
 * DOCKER_CERT_PATH, so `docker build` and `docker run` in the primary talk to the remote engine.
 * The VM is released with the job, on every path. As on CircleCI, the engine's bind mounts and
 * published ports are the VM's, not the primary's (docs/remote-docker.md).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { InfrastructureError } from '../errors.js';
import { MachineExecutor } from '../executor/machine/machine-executor.js';
import type { SetupRemoteDockerStep } from '../jobspec/jobspec.js';
import { makeRemoteDockerCerts } from '../remote-docker/certs.js';
import { captureScript, containerUser, failureOrInfrastructure, failureResult, StepFailure, type ContainerUser } from './container-script.js';
import type { StepHandler } from './step.js';

/** Where the primary finds the client files (the docker CLI's names: ca.pem, cert.pem, key.pem). */
export const CLIENT_CERT_DIR = '/tmp/docker-certs';
/** Where the VM's engine finds its own (deckhand-dockerd --tls). */
const SERVER_CERT_DIR = '/etc/deckhand/docker-tls';
const PORT = 2376;

export const setupRemoteDockerStep: StepHandler<SetupRemoteDockerStep> = async (step, ctx) => {
  const say = (line: string): void => ctx.output.write('agent', `${line}\n`);
  if (ctx.environment.DOCKER_HOST?.startsWith('tcp://') && ctx.environment.DOCKER_CERT_PATH === CLIENT_CERT_DIR) {
    say(`A remote Docker engine is already set up for this job at ${ctx.environment.DOCKER_HOST}`);
    return { status: 'success' };
  }
  const network = ctx.executor.jobNetwork?.();
  if (network === undefined) {
    // CircleCI: setup_remote_docker is for the docker executor; a machine has an engine of its own
    say('setup_remote_docker is for docker jobs; this job runs on a machine with a Docker engine of its own: nothing to set up');
    return { status: 'success' };
  }
  if (!ctx.vms) return failureResult(ctx, new StepFailure('setup_remote_docker: this agent was given no VM provider'));
  try {
    const t0 = Date.now();
    const provider = await ctx.vms();
    const layerCache = step.dockerLayerCaching ? `deckhand-dlc-${createHash('sha256').update(ctx.storage.project).digest('hex').slice(0, 16)}` : undefined;
    say(`Allocating a remote Docker engine from the ${provider.name} provider${layerCache ? ` with Docker layer caching (volume ${layerCache})` : ''}`);
    const vm = await provider.acquire({
      resourceClass: 'medium',
      cpus: 2,
      memoryMb: 7680,
      purpose: 'remote-docker',
      owner: { jobId: ctx.storage.jobName, runId: ctx.storage.jobRunId },
      jobNetwork: network,
      ...(layerCache ? { dockerDataVolume: layerCache } : {}),
      signal: ctx.signal,
    });
    // held from here: released at the job's teardown, whatever happens next
    ctx.resources.hold(() => vm.release());
    for (const note of vm.notes ?? []) say(`note: ${note}`);
    const address = vm.access.jobAddress ?? vm.access.host;
    const certs = await makeRemoteDockerCerts(ctx.storage.jobName, [address]);

    // the engine: its certificates, a restart with TLS, and a check with the job's own client files
    const remote = new MachineExecutor({ access: vm.access, release: async () => undefined });
    let version: string;
    try {
      await remote.prepare(ctx.signal);
      await remote.copyIn(SERVER_CERT_DIR, pack({ 'ca.pem': [certs.ca, 0o644], 'server-cert.pem': [certs.server.cert, 0o644], 'server-key.pem': [certs.server.key, 0o600], 'client/cert.pem': [certs.client.cert, 0o644], 'client/key.pem': [certs.client.key, 0o600] }, { uid: 0, gid: 0 }), ctx.signal);
      const check = `set -e
sudo -n /usr/local/bin/deckhand-dockerd --tls ${SERVER_CERT_DIR} >&2
dir=${SERVER_CERT_DIR}
sudo -n docker --tlsverify --tlscacert "$dir/ca.pem" --tlscert "$dir/client/cert.pem" --tlskey "$dir/client/key.pem" -H tcp://127.0.0.1:${PORT} version --format '{{.Server.Version}}'`;
      const started = await captureScript({ executor: remote, signal: ctx.signal }, check);
      if (started.exitCode !== 0) throw new InfrastructureError(`setup_remote_docker: the VM's engine did not start with TLS on ${PORT}: ${oneLine(started.stderr) || `exit ${started.exitCode}`}`);
      version = started.stdout.trim();
    } finally {
      await remote.teardown();
    }

    // the primary: the client files, owned by the user its steps run as
    const owner = await containerUser(ctx);
    await ctx.executor.copyIn(CLIENT_CERT_DIR, pack({ 'ca.pem': [certs.ca, 0o644], 'cert.pem': [certs.client.cert, 0o644], 'key.pem': [certs.client.key, 0o600] }, owner), ctx.signal);
    const host = `tcp://${address}:${PORT}`;
    say(`Remote Docker engine ${version} is ready at ${host} (TLS with this job's certificates) after ${((Date.now() - t0) / 1000).toFixed(2)}s`);
    if (step.version !== undefined && step.version !== 'default' && !version.startsWith(step.version)) {
      say(`note: version ${step.version} was asked for; this engine runs ${version}`);
    }
    say(`DOCKER_HOST=${host} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${CLIENT_CERT_DIR} are set for the steps that follow`);
    say("As on CircleCI, the remote engine's bind mounts and published ports are the VM's, not this container's: copy files in with `docker cp`");
    return { status: 'success', environment: { DOCKER_HOST: host, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: CLIENT_CERT_DIR, DOCKER_MACHINE_NAME: vm.id.slice(0, 12) } };
  } catch (error) {
    // no VM, or its engine would not start: the environment failed, not the job's own steps
    return failureOrInfrastructure(ctx, error);
  }
};

/** A tar of `files` (name → [text, mode]), owned by `owner`, with the folders they need. */
function pack(files: Record<string, [string, number]>, owner: ContainerUser): Readable {
  const archive = tar.pack();
  const folders = new Set(Object.keys(files).flatMap((name) => (name.includes('/') ? [name.slice(0, name.lastIndexOf('/'))] : [])));
  for (const folder of folders) archive.entry({ name: folder, type: 'directory', mode: 0o755, uid: owner.uid, gid: owner.gid });
  for (const [name, [text, mode]] of Object.entries(files)) archive.entry({ name, mode, uid: owner.uid, gid: owner.gid }, text);
  archive.finalize();
  return Readable.from(archive);
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(-300);
}
