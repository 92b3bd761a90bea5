/**
 * A real small filesystem for tests of a full disk: a tmpfs of a few MiB mounted on a fresh
 * folder (the tests run as root), filled to the last byte with a filler file on demand, freed
 * again, and unmounted at the end. No fault injection: writes fail with the kernel's own ENOSPC.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class SmallDisk {
  private constructor(readonly dir: string) {}

  /** Mounts a tmpfs of `megabytes` MiB on a fresh folder (mode 0700). Throws, saying why, when it cannot. */
  static mount(megabytes: number): SmallDisk {
    const dir = mkdtempSync(join(tmpdir(), 'deckhand-small-disk-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m,mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`cannot mount a tmpfs for the full-disk test (it needs root): ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
    }
    return new SmallDisk(dir);
  }

  private get filler(): string {
    return join(this.dir, 'filler');
  }

  /** Writes a filler file until the filesystem refuses with ENOSPC; returns the bytes it took. */
  fill(): number {
    const fd = openSync(this.filler, 'a');
    const block = Buffer.alloc(64 * 1024, 0x78);
    let total = 0;
    try {
      // halve the writes when refused, so the last partial page is taken too
      for (let size = block.length; size >= 1; ) {
        try {
          total += writeSync(fd, block, 0, size);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
          size = Math.floor(size / 2);
        }
      }
      return total;
    } finally {
      closeSync(fd);
    }
  }

  /** Removes the filler: the filesystem has room again. */
  free(): void {
    rmSync(this.filler, { force: true });
  }

  /** Remounts read-only (writes fail with EROFS) or read-write again. */
  remount(mode: 'ro' | 'rw'): void {
    execFileSync('mount', ['-o', `remount,${mode}`, this.dir], { stdio: 'pipe' });
  }

  unmount(): void {
    try {
      execFileSync('umount', ['-l', this.dir], { stdio: 'pipe' });
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
