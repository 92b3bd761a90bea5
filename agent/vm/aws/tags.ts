/**
 * The tags on every instance Deckhand launches. `ManagedBy=deckhand` is what the reaper and the
 * IAM policy's conditions go by; the others say whose an instance is, what for, and since when.
 */
import type { VmRecord, VmRequest } from '../provider.js';

export const MANAGED_BY = 'ManagedBy';
export const MANAGED_BY_VALUE = 'deckhand';
export const JOB_TAG = 'deckhand:job';
export const RUN_TAG = 'deckhand:run';
/** `machine`, `remote-docker`, or `warm` (booted ahead, no job yet) */
export const PURPOSE_TAG = 'deckhand:purpose';
/** the machine image name and resource class asked for (the AMI and type are the instance's own) */
export const IMAGE_TAG = 'deckhand:image';
export const RESOURCE_CLASS_TAG = 'deckhand:resource-class';
/**
 * When it was handed to its current holder (epoch ms). A warm instance is handed to a job long
 * after its launch, and the reaper must count from the hand-over, not from the boot.
 */
export const SINCE_TAG = 'deckhand:since';

export type Purpose = VmRequest['purpose'] | 'warm';

export interface Tag {
  Key: string;
  Value: string;
}

/** The tags of an instance launched or taken for `owner` (absent: a warm one). */
export function instanceTags(purpose: Purpose, owner: VmRequest['owner'] | undefined, kind: { imageName: string; resourceClass: string }, since: number): Tag[] {
  const tags: Tag[] = [
    { Key: MANAGED_BY, Value: MANAGED_BY_VALUE },
    { Key: PURPOSE_TAG, Value: purpose },
    { Key: IMAGE_TAG, Value: kind.imageName },
    { Key: RESOURCE_CLASS_TAG, Value: kind.resourceClass },
    { Key: SINCE_TAG, Value: String(since) },
    { Key: 'Name', Value: owner ? `deckhand ${purpose} ${owner.jobId}`.slice(0, 255) : 'deckhand warm' },
  ];
  if (owner) tags.push({ Key: JOB_TAG, Value: owner.jobId.slice(0, 255) }, { Key: RUN_TAG, Value: owner.runId.slice(0, 255) });
  return tags;
}

/** What a listing says of an instance, from its tags and launch time. */
export function recordOf(instance: { InstanceId?: string; LaunchTime?: Date; Tags?: { Key?: string; Value?: string }[] }): VmRecord | undefined {
  if (instance.InstanceId === undefined) return undefined;
  const tags = new Map((instance.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  const sinceTag = Number(tags.get(SINCE_TAG));
  const since = Number.isFinite(sinceTag) && sinceTag > 0 ? sinceTag : (instance.LaunchTime?.getTime() ?? 0);
  const jobId = tags.get(JOB_TAG);
  const runId = tags.get(RUN_TAG);
  return { id: instance.InstanceId, since, ...(jobId !== undefined && runId !== undefined ? { owner: { jobId, runId } } : {}) };
}
