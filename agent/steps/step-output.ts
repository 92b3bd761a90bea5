/**
 * A step's view of the job's output: what it writes becomes `output` events of its index, and
 * the commands it follows are held back while a sink has no room (agent/output/backpressure.ts).
 */
import type { OutputSink } from '../output/events.js';
import type { StepOutput } from './step.js';

export function stepOutput(sink: OutputSink, index: number): StepOutput {
  const write: StepOutput['write'] = (stream, data) => {
    sink.event({ type: 'output', index, stream, data: typeof data === 'string' ? Buffer.from(data) : data });
  };
  return {
    write,
    follow(stream, source, hooks = {}) {
      const ended = new Promise<void>((resolve) => {
        source.once('end', resolve);
        source.once('close', resolve);
        source.once('error', () => resolve());
      });
      source.on('data', (data: Buffer) => {
        hooks.chunk?.();
        write(stream, data);
        const room = sink.room?.();
        if (!room) return;
        source.pause();
        hooks.paused?.();
        void room.then(() => {
          hooks.resumed?.();
          source.resume();
        });
      });
      return ended;
    },
  };
}
