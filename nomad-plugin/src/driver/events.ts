/** TaskEvents: what the driver tells the client about its tasks, to everyone listening at the time. */
export interface DriverEvent {
  task_id: string;
  alloc_id: string;
  task_name: string;
  message: string;
  annotations: Record<string, string>;
}

export class TaskEventHub {
  private readonly listeners = new Set<(event: DriverEvent & { timestamp: Date }) => void>();

  listen(fn: (event: DriverEvent & { timestamp: Date }) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(event: DriverEvent): void {
    const stamped = { ...event, timestamp: new Date() };
    for (const fn of this.listeners) fn(stamped);
  }
}
