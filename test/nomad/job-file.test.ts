// deckhand nomad job: the parameterized job of a resource class, the same in HCL and JSON (the Go
// harness decodes both with Nomad's own types and parser; here, the choices and the refusals).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../agent/errors.js';
import { JOB_DEFAULTS, jobHcl, jobIdFor, jobJson } from '../../agent/nomad/job-file.js';

const options = (o: Partial<typeof JOB_DEFAULTS & { resourceClass: string }> = {}) => ({ ...JOB_DEFAULTS, resourceClass: 'medium', ...o });

describe('deckhand nomad job', () => {
  it('names the job after the class', () => {
    assert.equal(jobIdFor('medium'), 'deckhand-medium');
    assert.equal(jobIdFor('medium+'), 'deckhand-medium-plus');
    assert.equal(jobIdFor('arm.large'), 'deckhand-arm-large');
  });

  it('asks for the class plus the agent, never restarts, cancels gracefully, opens an ssh port', () => {
    type Task = { Resources: unknown; KillSignal: string; KillTimeout: number; Config: unknown };
    const job = jobJson(options({ resourceClass: 'large' })).Job as { ParameterizedJob: { Payload: string }; TaskGroups: { RestartPolicy: unknown; ReschedulePolicy: unknown; Networks: unknown; Tasks: Task[] }[] };
    const group = job.TaskGroups[0];
    const task = group.Tasks[0];
    assert.deepEqual(task.Resources, { CPU: 4 * 2000 + 250, MemoryMB: 8192 + 256 });
    assert.deepEqual(group.RestartPolicy, { Attempts: 0, Mode: 'fail' });
    assert.deepEqual(group.ReschedulePolicy, { Attempts: 0, Unlimited: false });
    assert.equal(task.KillSignal, 'SIGTERM');
    assert.equal(task.KillTimeout, 25e9);
    assert.deepEqual(task.Config, { payload: 'payload', kill_timeout: '25s' });
    assert.deepEqual(group.Networks, [{ DynamicPorts: [{ Label: 'ssh' }] }]);
    assert.equal(job.ParameterizedJob.Payload, 'required');
  });

  it('writes raw_exec\'s command with the payload path Nomad interpolates', () => {
    const hcl = jobHcl(options({ driver: 'raw_exec' }));
    assert.match(hcl, /args += \["agent", "nomad-task", "--payload", "\$\{NOMAD_TASK_DIR\}\/payload", "--kill-timeout", "25s"\]/);
    assert.match(hcl, /attribute = "\$\{node\.class\}"/);
    assert.match(hcl, /driver += "raw_exec"/);
  });

  it('escapes interpolation in plain strings', () => {
    const hcl = jobHcl(options({ nodeClass: 'ci-${x}' }));
    assert.match(hcl, /value += "ci-\$\$\{x\}"/);
  });

  it('refuses a kill timeout over max_kill_timeout, an unknown class, a runner class', () => {
    assert.throws(() => jobJson(options({ killTimeoutMs: 45_000 })), (e: Error) => e instanceof UsageError && /max_kill_timeout of 30s/.test(e.message));
    assert.throws(() => jobJson(options({ resourceClass: 'mediun' })), (e: Error) => e instanceof UsageError && /did you mean "medium"/.test(e.message));
    assert.throws(() => jobJson(options({ resourceClass: 'acme/runner' })), /self-hosted runner class/);
  });
});
