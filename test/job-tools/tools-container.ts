// A prepared container of a test image with the job tools copied in, as the
// runner installs them: the tests below drive the real script in the real
// busybox and Debian images (no Node there, so no shortcuts).

import { after, before } from 'node:test';
import { DockerExecutor } from '../../agent/executor/docker/docker-executor.js';
import { JOB_TOOLS_DIR, jobToolsTar } from '../../agent/job-tools/install.js';
import { BUSYBOX, DEBIAN, collect, realEngine, uniqueJobId, type Collected } from '../executor/docker/engine-fixture.js';

/** Both kinds of job image: busybox sh + awk, and Debian's dash + mawk. */
export const TOOL_IMAGES = [BUSYBOX, DEBIAN] as const;

export const PATH_WITH_TOOLS = `${JOB_TOOLS_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;

export interface ToolsContainer {
  /** Runs a /bin/sh script with the tools on PATH. */
  sh(script: string, env?: Record<string, string>, workingDirectory?: string, user?: string): Promise<Collected>;
}

/**
 * Registers before/after hooks in the current describe: starts `image`,
 * copies the tools in, and tears the container down afterwards.
 */
export function toolsContainer(image: string, name: string): ToolsContainer {
  let executor: DockerExecutor | undefined;
  before(async () => {
    const docker = await realEngine();
    executor = new DockerExecutor({ docker, jobId: uniqueJobId(name), containers: [{ image }] });
    await executor.prepare();
    await executor.copyIn('/', jobToolsTar());
  });
  after(async () => {
    await executor?.teardown();
  });
  return {
    sh(script, env = {}, workingDirectory, user) {
      if (!executor) throw new Error('the tools container is not prepared yet');
      return collect(executor.exec({ command: ['/bin/sh', '-c', script], env: { PATH: PATH_WITH_TOOLS, ...env }, workingDirectory, user }));
    },
  };
}

/** Non-empty lines of a command's output. */
export function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}
