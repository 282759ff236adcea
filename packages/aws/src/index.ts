// @mtlskit/aws: the AWS Secrets Manager source. Importing this module registers the `aws-sm:` scheme
// with @mtlskit/core, so `sourceFromReference('aws-sm://prod/mtls')` works (core also imports this
// package on demand when it meets the scheme).
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  type AwsSmTarget,
  formatReference,
  MtlsError,
  registerScheme,
  type SchemeAdapter,
} from '@mtlskit/core';
import { awsSecretsManagerSource } from './source.js';

export type { AwsCallContext } from './errors.js';
export { toMtlsError } from './errors.js';
export type { AwsFieldName, AwsSecretsManagerSource, AwsSecretsManagerSourceOptions } from './source.js';
export { AWS_FIELD_NAMES, awsReferenceOf, awsSecretsManagerSource } from './source.js';

function positiveInteger(
  options: Readonly<Record<string, string>>,
  name: string,
  id: string,
): number | undefined {
  const raw = options[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new MtlsError('INVALID_REFERENCE', `${name}=${raw} in ${id} must be a whole number of at least 1`, {
      sourceId: id,
    });
  }
  return value;
}

/** The `aws-sm:` adapter, registered with core when this module is imported. */
export const awsSmScheme: SchemeAdapter<'aws-sm'> = {
  scheme: 'aws-sm',
  packageName: '@mtlskit/aws',
  // timeoutMs and maxAttempts are in core's aws-sm option table (docs/references.md), like every
  // other aws-sm option: one table per scheme.
  options: {},
  create(ref, deps) {
    const target: AwsSmTarget = ref.target;
    const id = formatReference(ref);
    // Duck-typed: the application's SDK may be another copy or version than this package's.
    const client = deps.client as SecretsManagerClient | undefined;
    if (client !== undefined && typeof (client as { send?: unknown }).send !== 'function') {
      throw new MtlsError(
        'INVALID_REFERENCE',
        `the client given for ${id} is not a SecretsManagerClient from @aws-sdk/client-secrets-manager`,
        {
          sourceId: id,
        },
      );
    }
    const timeoutMs = positiveInteger(ref.options, 'timeoutMs', id);
    const maxAttempts = positiveInteger(ref.options, 'maxAttempts', id);
    return awsSecretsManagerSource({
      id,
      ...(target.secretId !== undefined && { secretId: target.secretId }),
      ...(Object.keys(target.fields).length > 0 && { secrets: { ...target.fields } }),
      ...(target.region !== undefined && { region: target.region }),
      ...(target.endpoint !== undefined && { endpoint: target.endpoint }),
      ...(target.versionId !== undefined && { versionId: target.versionId }),
      ...(target.versionStage !== undefined && { versionStage: target.versionStage }),
      ...(client !== undefined && { client }),
      ...(timeoutMs !== undefined && { timeoutMs }),
      ...(maxAttempts !== undefined && { maxAttempts }),
      ...(deps.onWarning !== undefined && { onWarning: deps.onWarning }),
    });
  },
};

registerScheme(awsSmScheme);
