/**
 * Project and context variables stored through the API. Each project's variables are one
 * `KEY=VALUE` file (DATA/projects/NAME.env) and each context's one file (DATA/contexts/NAME.env),
 * mode 0600, written whole through a temporary file and a rename: exactly what an assignment's
 * secret references read (project `files`, contexts `dir`), so a job reads the values when it
 * starts, masks them, and no value is ever in the database, an assignment, a response or a log.
 * Answers show a value as CircleCI does: `xxxx` and its last four characters.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readEnvFile } from '../assignment/secrets.js';
import { HttpError } from '../net/http-error.js';

export type VariableOwner = 'project' | 'context';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const OWNER = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export class VariableStore {
  constructor(private readonly dataDir: string) {}

  folder(kind: VariableOwner): string {
    return join(this.dataDir, kind === 'project' ? 'projects' : 'contexts');
  }

  file(kind: VariableOwner, owner: string): string {
    checkOwner(kind, owner);
    return join(this.folder(kind), `${owner}.env`);
  }

  /** names and masked values */
  list(kind: VariableOwner, owner: string): { name: string; value: string }[] {
    return Object.entries(this.read(kind, owner)).map(([name, value]) => ({ name, value: masked(value) }));
  }

  has(kind: VariableOwner, owner: string): boolean {
    return existsSync(this.file(kind, owner));
  }

  set(kind: VariableOwner, owner: string, name: string, value: string): { name: string; value: string; created: boolean } {
    if (!NAME.test(name)) throw new HttpError(400, `${JSON.stringify(name.slice(0, 80))} is not a valid environment variable name: use letters, digits and _, not starting with a digit`);
    if (/[\r\n\0]/.test(value)) throw new HttpError(400, `the value of ${name} has a line break or NUL; store such values base64-encoded and decode them in the job`);
    if (Buffer.byteLength(value) > 64 * 1024) throw new HttpError(413, `the value of ${name} is over 64 KiB`);
    const all = this.read(kind, owner);
    const created = !(name in all);
    all[name] = value;
    this.write(kind, owner, all);
    return { name, value: masked(value), created };
  }

  delete(kind: VariableOwner, owner: string, name: string): boolean {
    const all = this.read(kind, owner);
    if (!(name in all)) return false;
    delete all[name];
    this.write(kind, owner, all);
    return true;
  }

  /** the file as a job reads it */
  private read(kind: VariableOwner, owner: string): Record<string, string> {
    const file = this.file(kind, owner);
    return existsSync(file) ? readEnvFile(file) : {};
  }

  private write(kind: VariableOwner, owner: string, all: Record<string, string>): void {
    const file = this.file(kind, owner);
    if (Object.keys(all).length === 0 && kind === 'project') {
      rmSync(file, { force: true });
      return;
    }
    mkdirSync(this.folder(kind), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    // in single quotes the env-file reader keeps a value as it is ($, #, quotes, spaces)
    writeFileSync(tmp, Object.entries(all).map(([k, v]) => `${k}='${v}'\n`).join(''), { mode: 0o600 });
    renameSync(tmp, file);
  }
}

/** CircleCI's display of a stored value: `xxxx` and its last four characters (none for short ones). */
export function masked(value: string): string {
  return value.length > 4 ? `xxxx${value.slice(-4)}` : 'xxxx';
}

export function checkOwner(kind: VariableOwner, owner: string): void {
  if (!OWNER.test(owner)) throw new HttpError(400, `${JSON.stringify(owner.slice(0, 80))} is not a valid ${kind} name: use 1-100 letters, digits, '.', '_' or '-'`);
}
