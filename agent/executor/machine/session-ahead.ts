// A session channel opened ahead of the command that will run on it. ssh2 opens a channel and
// sends its exec request in one call, so each command waits a round trip for the open (and for
// sshd to set the session up) before its request can go; a job's steps come one after another,
// so the channel for the next can be opened while the current one runs. ssh2 has no public call
// for the two halves: this uses its channel manager and protocol object (ssh2 1.x, the same
// calls its own `exec` makes), and reports when they are missing, so that the connection opens
// channels the public way instead.

import { createRequire } from 'node:module';
import type ssh2 from 'ssh2';
import type { ClientChannel } from 'ssh2';

/** The parts of an ssh2 Client that opening a session channel takes. */
interface ClientInternals {
  _chanMgr: { add(callback: OpenCallback): number };
  _protocol: { session(localId: number, window: number, packetSize: number): void; exec(remoteId: number, command: string, wantReply: boolean): void };
}

/** The parts of an ssh2 Channel that an exec request on it takes. */
interface ChannelInternals {
  _callbacks: ((failed: unknown) => void)[];
  outgoing: { id: number; state: string };
  subtype?: string;
  allowHalfOpen: boolean;
}

type OpenCallback = ((error: Error | undefined, channel: ClientChannel) => void) & { type: string };

/** ssh2's own window and packet size for the channels it opens. */
const { MAX_WINDOW, PACKET_SIZE } = createRequire(import.meta.url)('ssh2/lib/Channel.js') as { MAX_WINDOW: number; PACKET_SIZE: number };

/** Whether this ssh2 has what openAhead and execOn use. */
export function canOpenAhead(client: ssh2.Client): boolean {
  const c = client as unknown as Partial<ClientInternals>;
  return typeof c._chanMgr?.add === 'function' && typeof c._protocol?.session === 'function' && typeof c._protocol.exec === 'function' && Number.isInteger(MAX_WINDOW) && Number.isInteger(PACKET_SIZE);
}

/** Opens a session channel with no request on it yet; undefined when the server refuses (MaxSessions) or the connection is gone. */
export function openAhead(client: ssh2.Client): Promise<ClientChannel | undefined> {
  const internals = client as unknown as ClientInternals;
  return new Promise((resolve) => {
    const opened = ((error: Error | undefined, channel: ClientChannel) => resolve(error ? undefined : channel)) as OpenCallback;
    opened.type = 'session';
    try {
      const localId = internals._chanMgr.add(opened);
      if (localId === -1) return resolve(undefined);
      internals._protocol.session(localId, MAX_WINDOW, PACKET_SIZE);
    } catch {
      resolve(undefined);
    }
  });
}

/** True while the channel can still take a request (the server has not closed it meanwhile). */
export function isOpen(channel: ClientChannel): boolean {
  return (channel as unknown as ChannelInternals).outgoing?.state === 'open';
}

/** Sends the exec request on a channel openAhead opened; resolves with it once the server accepted. */
export function execOn(client: ssh2.Client, channel: ClientChannel, command: string): Promise<ClientChannel> {
  const internals = channel as unknown as ChannelInternals;
  return new Promise((resolve, reject) => {
    internals._callbacks.push((failed) => {
      if (failed) {
        channel.close();
        return reject(failed instanceof Error ? failed : new Error('Unable to exec'));
      }
      internals.subtype = 'exec';
      // as ssh2's exec: the command's stdin may end while its output goes on
      internals.allowHalfOpen = true;
      resolve(channel);
    });
    (client as unknown as ClientInternals)._protocol.exec(internals.outgoing.id, command, true);
  });
}
