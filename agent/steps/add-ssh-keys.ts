// The `add_ssh_keys` step: installs private keys from the local keys folder
// (one key per file) into ~/.ssh of the primary container, and points ssh at
// them with IdentityFile lines in ~/.ssh/config, so `ssh` and `git` use them.
// CircleCI loads project keys into an ssh-agent instead; the files and config
// lines are what a job can rely on either way.

import type { AddSshKeysStep } from '../jobspec/jobspec.js';
import { captureScript, containerUser, failureResult, StepFailure } from './container-script.js';
import { installSshFiles } from './ssh-keys/home-ssh.js';
import { installedKeyName, matchesFingerprint, readKeysFolder, type PrivateKey } from './ssh-keys/keys.js';
import type { StepContext, StepHandler } from './step.js';

/**
 * Appends a `Host *` block with the IdentityFile lines that ~/.ssh/config
 * lacks, so that running the step twice adds nothing. $1 is the config file.
 */
const CONFIGURE = String.raw`set -e
config=$1; shift
touch "$config"
chmod 600 "$config"
block=
for key do
  line="  IdentityFile \"$key\""
  if ! grep -qxF "$line" "$config"; then
    block="$block$line
"
  fi
done
if [ -n "$block" ]; then
  printf '\nHost *\n%s' "$block" >> "$config"
fi
`;

export const addSshKeysStep: StepHandler<AddSshKeysStep> = async (step, ctx) => {
  try {
    const keys = await chooseKeys(step.fingerprints, ctx);
    if (keys.length === 0) return { status: 'success' };

    const owner = await containerUser(ctx);
    const installed = await installSshFiles(
      ctx,
      keys.map((key) => ({ name: installedKeyName(key), contents: key.material })),
      owner,
    );
    const config = `${ctx.home.replace(/\/$/, '')}/.ssh/config`;
    const configured = await captureScript(ctx, CONFIGURE, [config, ...installed]);
    if (configured.exitCode !== 0) {
      const said = configured.stderr.replace(/\s+/g, ' ').trim();
      throw new StepFailure(`add_ssh_keys: cannot update ${config} in the primary container (${said || `exit ${configured.exitCode}`}); check that the home directory is writable`);
    }
    keys.forEach((key, index) => {
      ctx.output.write('agent', `Added SSH key ${key.sha256} (MD5 ${key.md5}, ${key.type}) as ${installed[index] ?? ''}\n`);
    });
    return { status: 'success' };
  } catch (error) {
    return failureResult(ctx, error);
  }
};

/** The keys to install: all of the folder, or those the step names (each must exist). */
async function chooseKeys(fingerprints: string[], ctx: StepContext): Promise<PrivateKey[]> {
  const folder = ctx.inputs.sshKeysDir;
  if (folder === undefined) {
    if (fingerprints.length > 0) throw new StepFailure(`add_ssh_keys: no private key with fingerprint ${fingerprints[0]}: the job was given no SSH keys (secrets.sshKeysDir)`);
    ctx.output.write('agent', 'the job was given no SSH keys: none added\n');
    return [];
  }
  const found = await readKeysFolder(folder);
  for (const reason of found.skipped) ctx.output.write('agent', `Skipped ${reason}\n`);

  if (fingerprints.length === 0) {
    if (found.keys.length === 0) {
      const where = found.found ? `no private keys in ${folder}` : `no keys folder ${folder}`;
      ctx.output.write('agent', `${where}: no SSH keys added (put private keys there, one per file)\n`);
    }
    return found.keys;
  }

  const chosen: PrivateKey[] = [];
  for (const fingerprint of fingerprints) {
    const key = found.keys.find((candidate) => matchesFingerprint(fingerprint, candidate));
    if (!key) {
      const where = found.found ? `among the ${found.keys.length} keys in ${folder}` : `because the keys folder ${folder} does not exist`;
      throw new StepFailure(`add_ssh_keys: no private key with fingerprint ${fingerprint} ${where}; put that key in ${folder} (one key per file) or remove the fingerprint from the step`);
    }
    if (!chosen.includes(key)) chosen.push(key);
  }
  return chosen;
}
