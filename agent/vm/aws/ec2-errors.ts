/**
 * EC2's refusals as one line each: the region, what went wrong and what to change. EC2 names its
 * errors by code (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html);
 * the SDK puts the code in the error's `name` (or `Code`), the network's in `code`.
 */
import { InfrastructureError } from '../../errors.js';

/** What the failing call was about, to name it in the message. */
export interface Ec2CallContext {
  region: string;
  /** e.g. `RunInstances` */
  action: string;
  /** the endpoint when it is not AWS's own */
  endpoint?: string;
  ami?: string;
  imageName?: string;
  instanceType?: string;
  subnetId?: string;
  securityGroupIds?: readonly string[];
}

const CONFIG = '--machine-aws-config';

export function ec2Failure(error: unknown, c: Ec2CallContext): InfrastructureError {
  const where = `aws provider (region ${c.region})`;
  const e = (typeof error === 'object' && error !== null ? error : {}) as { name?: string; Code?: string; code?: string; message?: string };
  const code = e.Code ?? e.name ?? '';
  const detail = firstLine(e.message ?? String(error));
  const line = (text: string): InfrastructureError => new InfrastructureError(`${where}: ${text}`, { cause: error });
  if (code === 'CredentialsProviderError' || /could not load credentials/i.test(detail)) {
    return line('no AWS credentials: give the agent AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or run it with an instance role');
  }
  if (/^(AuthFailure|UnrecognizedClientException|InvalidClientTokenId|SignatureDoesNotMatch|ExpiredToken|RequestExpired|IncompleteSignature|OptInRequired|Blocked)/.test(code)) {
    return line(`EC2 refused the agent's credentials (${code}: ${detail}); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), that they are for this account, and the machine's clock`);
  }
  if (code === 'UnauthorizedOperation' || code === 'AccessDenied' || code === 'AccessDeniedException') {
    return line(`the agent's credentials may not call ec2:${c.action}; grant it as docs/machine.md ("aws", IAM) shows`);
  }
  if (code.startsWith('InvalidAMIID')) {
    return line(`AMI ${c.ami ?? '?'}${c.imageName ? ` (machine image "${c.imageName}")` : ''} cannot be launched (${code}); fix "images" in ${CONFIG} with an AMI of this region that this account may use`);
  }
  if (code.startsWith('InvalidSubnet')) {
    return line(`subnet ${c.subnetId ?? '?'} cannot be used (${code}); fix "subnetId" in ${CONFIG} with a subnet of this region`);
  }
  if (code.startsWith('InvalidGroup') || code.startsWith('InvalidSecurityGroup')) {
    return line(`security groups ${(c.securityGroupIds ?? []).join(', ')} cannot be used (${code}: ${detail}); fix "securityGroupIds" in ${CONFIG} with groups of the subnet's VPC`);
  }
  if (/^(InstanceLimitExceeded|VcpuLimitExceeded|InsufficientInstanceCapacity|InsufficientFreeAddressesInSubnet|InsufficientCapacity|MaxSpotInstanceCountExceeded|RequestLimitExceeded|Throttling)/.test(code)) {
    return line(`EC2 limits or capacity: ${code}: ${detail}; wait, raise the account's EC2 quotas, or choose another instance type or subnet (availability zone) in ${CONFIG}`);
  }
  if (code === 'Unsupported' || code.startsWith('InvalidInstanceType') || (code === 'InvalidParameterValue' && /instance ?type/i.test(detail))) {
    return line(`instance type ${c.instanceType ?? '?'} cannot be launched here (${code}: ${detail}); choose another in "instanceTypes" of ${CONFIG}`);
  }
  if (/^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH)$/.test(e.code ?? '') || code === 'TimeoutError') {
    return line(`cannot reach EC2${c.endpoint ? ` at ${c.endpoint}` : ''} (${e.code ?? code}); check the agent's network${c.endpoint ? ' and AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL' : ' and the region'}`);
  }
  return line(`EC2 ${c.action} failed: ${code && code !== 'Error' ? `${code}: ` : ''}${detail}`);
}

/** An EC2 error code, or '' for anything else. */
export function ec2ErrorCode(error: unknown): string {
  const e = (typeof error === 'object' && error !== null ? error : {}) as { name?: string; Code?: string };
  return e.Code ?? e.name ?? '';
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').trim();
}
