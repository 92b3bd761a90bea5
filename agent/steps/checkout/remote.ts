// Checkout from the remote repository (CIRCLE_REPOSITORY_URL) over SSH, done
// inside the container the way CircleCI's checkout does it: install the
// checkout key as ~/.ssh/id_rsa, clone without checking out, fetch the branch
// or tag, then force the work tree to the exact commit.

import { readFile } from 'node:fs/promises';
import { StepFailure, streamScript, type ContainerUser } from '../container-script.js';
import { installSshFiles } from '../ssh-keys/home-ssh.js';
import { parsePrivateKey, type PrivateKey } from '../ssh-keys/keys.js';
import type { StepContext } from '../step.js';

/**
 * Arguments: $1 checkout directory, $2 key file, $3 method (blobless|full).
 * Reads CIRCLE_REPOSITORY_URL, CIRCLE_BRANCH, CIRCLE_TAG, CIRCLE_SHA1.
 */
const CLONE_SCRIPT = String.raw`set -e
dir=$1 key=$2 method=$3
for tool in git ssh; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "checkout: $tool is not installed in the primary container; use an image with git and ssh to clone $CIRCLE_REPOSITORY_URL, or leave out the checkout key to copy the local repository" >&2
    exit 1
  fi
done
# The host key is not known in advance; like a first connection, accept it.
export GIT_SSH_COMMAND="ssh -i \"$key\" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no"

if [ -e "$dir/.git" ]; then
  echo "Fetching into the existing git checkout in $dir"
  cd "$dir"
  git remote set-url origin "$CIRCLE_REPOSITORY_URL" 2>/dev/null || git remote add origin "$CIRCLE_REPOSITORY_URL"
else
  filter=
  if [ "$method" = blobless ]; then
    if [ "$(git version)" = "git version 2.41.0" ]; then
      echo "git 2.41.0 mishandles blobless clones: cloning in full"
    elif git clone -h 2>&1 | grep -q -e '--filter'; then
      filter=--filter=blob:none
    else
      echo "this git cannot make blobless clones: cloning in full"
    fi
  fi
  echo "Cloning $CIRCLE_REPOSITORY_URL into $dir"
  mkdir -p "$dir"
  cd "$dir"
  git clone $filter --no-checkout "$CIRCLE_REPOSITORY_URL" .
fi
git config gc.auto 0

missing() {
  echo "checkout: commit $CIRCLE_SHA1 is not in $1 of $CIRCLE_REPOSITORY_URL; push it, or set CIRCLE_SHA1 to a commit the remote has" >&2
  exit 1
}
# Without CIRCLE_SHA1, the tip of what was fetched.
if [ -n "$CIRCLE_TAG" ]; then
  git fetch --force origin "+refs/tags/$CIRCLE_TAG:refs/tags/$CIRCLE_TAG"
  target=$CIRCLE_SHA1; [ -n "$target" ] || target="refs/tags/$CIRCLE_TAG"
  git -c advice.detachedHead=false checkout --force "$target" || missing "tag $CIRCLE_TAG"
elif [ -n "$CIRCLE_BRANCH" ]; then
  git fetch --force origin "+refs/heads/$CIRCLE_BRANCH:refs/remotes/origin/$CIRCLE_BRANCH"
  target=$CIRCLE_SHA1; [ -n "$target" ] || target="origin/$CIRCLE_BRANCH"
  git checkout --force -B "$CIRCLE_BRANCH" "$target" || missing "branch $CIRCLE_BRANCH"
elif [ -n "$CIRCLE_SHA1" ]; then
  git fetch --force origin
  git -c advice.detachedHead=false checkout --force "$CIRCLE_SHA1" || missing "the branches"
else
  git reset --hard
fi
echo "Checked out $(git rev-parse HEAD)"
`;

/** The checkout key: the key text itself, or the path of a key file on this machine. */
export async function loadCheckoutKey(checkoutKey: string): Promise<PrivateKey> {
  const isMaterial = checkoutKey.includes('PRIVATE KEY-----');
  let material: Buffer;
  if (isMaterial) {
    material = Buffer.from(checkoutKey);
  } else {
    try {
      material = await readFile(checkoutKey);
    } catch (error) {
      throw new StepFailure(`checkout: cannot read the checkout key ${checkoutKey} (${error instanceof Error ? error.message : String(error)}); pass the path of a private key file`);
    }
  }
  const source = isMaterial ? 'the given checkout key' : checkoutKey;
  const key = parsePrivateKey(material, source);
  if (typeof key === 'string') throw new StepFailure(`checkout: ${source} ${key}; give an unencrypted private key`);
  return key;
}

export interface RemoteCheckout {
  directory: string;
  method: 'blobless' | 'full';
  key: PrivateKey;
  user: ContainerUser;
}

export async function remoteCheckout(ctx: StepContext, plan: RemoteCheckout): Promise<{ exitCode: number; aborted: boolean }> {
  const url = ctx.environment['CIRCLE_REPOSITORY_URL'] ?? '';
  ctx.output.write('agent', `Cloning ${url} over SSH with checkout key ${plan.key.sha256} (${plan.key.type})\n`);
  const [keyFile] = await installSshFiles(ctx, [{ name: 'id_rsa', contents: plan.key.material }], plan.user);
  // CIRCLE_* may be absent from the environment; the script reads them as empty then.
  const env = { CIRCLE_BRANCH: '', CIRCLE_TAG: '', CIRCLE_SHA1: '', ...ctx.environment };
  return streamScript(ctx, CLONE_SCRIPT, [plan.directory, keyFile ?? '', plan.method], env);
}
