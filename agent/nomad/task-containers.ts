/**
 * The name a Nomad task's job containers carry in their `com.deckhand.job` label: the task's
 * allocation and name, so that the task driver can find them (for stats, and to remove what a
 * killed agent left) knowing only what Nomad told it.
 */
export function containerJobIdFor(task: { allocId: string; taskName: string }): string {
  return `nomad-${task.allocId}-${task.taskName}`.replace(/[^A-Za-z0-9_.-]/g, '-');
}
