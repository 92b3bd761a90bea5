// Checkout from a git source, done inside the container the way CircleCI's
// checkout does it: install the checkout key (if any) as ~/.ssh/id_rsa, clone
// without checking out, fetch the branch or tag, then force the work tree to
// the exact commit.

import type { GitSource } from '../../assignment/assignment.js';
import { StepFailure, streamScript, type ContainerUser } from '../container-script.js';
import { installSshFiles } from '../ssh-keys/home-ssh.js';
import { parsePrivateKey, type PrivateKey } from '../ssh-keys/keys.js';
import type { StepContext } from '../step.js';

/**
 * Arguments: $1 checkout directory, $2 key file (empty: none), $3 method (blobless|full).
 * Reads CIRCLE_REPOSITORY_URL, CIRCLE_BRANCH, CIRCLE_TAG, CIRCLE_SHA1.
 */
const CLONE_SCRIPT = String.raw`set -e
dir=$1 key=$2 method=$3
tools=git needs=git
[ -z "$key" ] || { tools="git ssh"; needs="git and ssh"; }
for tool in $tools; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "checkout: $tool is not installed in the primary container; use an image with $needs to clone $CIRCLE_REPOSITORY_URL" >&2
    exit 1
  fi
done
# The host key is not known in advance; like a first connection, accept it.
[ -z "$key" ] || export GIT_SSH_COMMAND="ssh -i \"$key\" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no"

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

/** The checkout key read at job start, parsed; `source` names where it came from in messages. */
export function parseCheckoutKey(key: { material: string; source: string }): PrivateKey {
  const parsed = parsePrivateKey(Buffer.from(key.material), key.source);
  if (typeof parsed === 'string') throw new StepFailure(`checkout: ${key.source} ${parsed}; give an unencrypted private key`);
  return parsed;
}

export interface RemoteCheckout {
  source: GitSource;
  directory: string;
  method: 'blobless' | 'full';
  /** none: clone without a key (a public https URL, or the image's own ssh set-up) */
  key?: PrivateKey;
  user: ContainerUser;
}

export async function remoteCheckout(ctx: StepContext, plan: RemoteCheckout): Promise<{ exitCode: number; aborted: boolean }> {
  const { source, key } = plan;
  let keyFile = '';
  if (key) {
    ctx.output.write('agent', `Cloning ${source.url} over SSH with checkout key ${key.sha256} (${key.type})\n`);
    [keyFile = ''] = await installSshFiles(ctx, [{ name: 'id_rsa', contents: key.material }], plan.user);
  } else {
    ctx.output.write('agent', `Cloning ${source.url} (no checkout key)\n`);
  }
  // what to fetch comes from the source; the job's own CIRCLE_* values are not consulted
  const env = { ...ctx.environment, CIRCLE_REPOSITORY_URL: source.url, CIRCLE_BRANCH: source.branch ?? '', CIRCLE_TAG: source.tag ?? '', CIRCLE_SHA1: source.revision ?? '' };
  return streamScript(ctx, CLONE_SCRIPT, [plan.directory, keyFile, plan.method], env);
}
