// @mtlskit/aws: the AWS Secrets Manager source. Importing this module defines the `aws-sm:` scheme
// (./scheme.ts, no SDK) and registers its source factory with @mtlskit/core, so
// `sourceFromReference('aws-sm://prod/mtls')` works (core also imports this package on demand when
// it meets the scheme).
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { MtlsError, registerSourceFactory } from '@mtlskit/core/adapter';
import { awsSmScheme } from './scheme.js';
import { awsSecretsManagerSource } from './source.js';

export type { AwsCallContext } from './errors.js';
export { toMtlsError } from './errors.js';
export type { AwsSmTarget } from './scheme.js';
export { awsSmScheme } from './scheme.js';
export type { AwsFieldName, AwsSecretsManagerSource, AwsSecretsManagerSourceOptions } from './source.js';
export { AWS_FIELD_NAMES, awsReferenceOf, awsSecretsManagerSource } from './source.js';

registerSourceFactory(awsSmScheme, (ref, deps) => {
  const target = ref.target;
  // Duck-typed: the application's SDK may be another copy or version than this package's.
  const client = deps.client as SecretsManagerClient | undefined;
  if (client !== undefined && typeof (client as { send?: unknown }).send !== 'function') {
    throw new MtlsError(
      'INVALID_OPTION',
      `the client given for ${ref.id} is not a SecretsManagerClient from @aws-sdk/client-secrets-manager`,
      { sourceId: ref.id },
    );
  }
  return awsSecretsManagerSource({
    id: ref.id,
    ...(target.secretId !== undefined && { secretId: target.secretId }),
    ...(Object.keys(target.fields).length > 0 && { secrets: { ...target.fields } }),
    ...(target.region !== undefined && { region: target.region }),
    ...(target.endpoint !== undefined && { endpoint: target.endpoint }),
    ...(target.versionId !== undefined && { versionId: target.versionId }),
    ...(target.versionStage !== undefined && { versionStage: target.versionStage }),
    ...(target.timeoutMs !== undefined && { timeoutMs: target.timeoutMs }),
    ...(target.maxAttempts !== undefined && { maxAttempts: target.maxAttempts }),
    ...(client !== undefined && { client }),
    ...(deps.onWarning !== undefined && { onWarning: deps.onWarning }),
  });
});
