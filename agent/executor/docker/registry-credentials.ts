/**
 * The pull credentials of a JobSpec container, as CircleCI reads them: `auth` and `aws_auth`
 * values may name project or context variables (`$DOCKERHUB_PASSWORD`, `${AWS_KEY}`), which are
 * filled in here; `aws_auth` keys become an ECR token fetched only if a pull happens.
 */
import { ExecutorError } from '../executor.js';
import type { RegistryCredentials } from './container-spec.js';
import type { ContainerImageSpec } from '../../jobspec/jobspec.js';

const VARIABLE = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/** `value` with `$NAME` / `${NAME}` replaced from `variables`; an unset name is an error saying where. */
export function fillVariables(value: string, variables: Record<string, string>, where: string): string {
  return value.replace(VARIABLE, (_match, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as string;
    const found = variables[name];
    if (found === undefined) throw new ExecutorError(`${where} refers to $${name}, which is not set; give it with -e ${name}=… , --env-file or a context`);
    return found;
  });
}

export function registryCredentials(c: ContainerImageSpec, variables: Record<string, string>, processEnv: Readonly<Record<string, string | undefined>>): RegistryCredentials | undefined {
  const where = (key: string): string => `image "${c.image}": ${key}`;
  if (c.auth) {
    return { username: fillVariables(c.auth.username, variables, where('auth.username')), password: fillVariables(c.auth.password, variables, where('auth.password')) };
  }
  if (!c.awsAuth) return undefined;
  const { accessKeyId, secretAccessKey, oidcRoleArn } = c.awsAuth;
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    throw new ExecutorError(
      oidcRoleArn !== undefined
        ? `${where('aws_auth.oidc_role_arn')} needs CircleCI's OIDC token, which a local run does not have; give aws_access_key_id and aws_secret_access_key instead`
        : `${where('aws_auth')} needs both aws_access_key_id and aws_secret_access_key`,
    );
  }
  const keys = {
    accessKeyId: fillVariables(accessKeyId, variables, where('aws_auth.aws_access_key_id')),
    secretAccessKey: fillVariables(secretAccessKey, variables, where('aws_auth.aws_secret_access_key')),
  };
  const fallbackRegion = variables.AWS_REGION ?? variables.AWS_DEFAULT_REGION ?? processEnv.AWS_REGION ?? processEnv.AWS_DEFAULT_REGION ?? 'us-east-1';
  return async () => {
    const { ecrCredentials, ecrRegion } = await import('./ecr.js');
    return ecrCredentials(c.image, keys, ecrRegion(c.image, fallbackRegion));
  };
}
