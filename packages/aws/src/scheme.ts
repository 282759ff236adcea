// The `aws-sm:` scheme: its option table and grammar, defined with core's scheme API. This module
// does not load the AWS SDK, so parsing an `aws-sm:` reference (and its "did you mean", its carets)
// costs nothing; `@mtlskit/aws` registers the source factory. Importing it defines the scheme.
import { defineScheme, fieldOptions, type ReferenceCursor, type ReferenceField } from '@mtlskit/core/adapter';

/** What an `aws-sm:` reference names. */
export interface AwsSmTarget {
  /** The secret holding a bundle: a name (may contain `/`) or a full ARN. */
  secretId?: string;
  /** One secret per field (`?cert=ID&key=ID`); beside `secretId`, only `ca` and `passphrase`. */
  fields: Readonly<Partial<Record<ReferenceField, string>>>;
  /** The `region` option, else the region of the first ARN given. */
  region?: string;
  versionId?: string;
  versionStage?: string;
  endpoint?: string;
  /** Deadline of each call, SDK retries included, in milliseconds. */
  timeoutMs?: number;
  /** Attempts per call inside the SDK. */
  maxAttempts?: number;
}

const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
/** A Secrets Manager secret ARN: partition, region, account, name. */
export const AWS_ARN = /^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/;

function checkAwsId(id: string, at: (problem: string, fix: string) => Error): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\s\u0000-\u001f\u007f]/.test(id)) {
    throw at('a secret id contains whitespace or a control character', 'Check for a stray space or newline.');
  }
  if (id.length > 2048) throw at('a secret id is longer than 2048 characters', 'Check the reference.');
  if (id.startsWith('arn:') && !AWS_ARN.test(id)) {
    throw at(
      'an ARN that is not a Secrets Manager secret ARN',
      'Expected arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME.',
    );
  }
}

function buildAwsSm(c: ReferenceCursor): AwsSmTarget {
  const form = 'aws-sm://SECRET_ID or aws-sm://?cert=ID&key=ID';
  const fields = c.fields();
  for (const [name, id] of Object.entries(fields)) checkAwsId(id, (p, f) => c.optionProblem(name, p, f));
  const secretId = c.path === '' ? undefined : c.path;
  if (secretId !== undefined) {
    checkAwsId(secretId, (p, f) => c.pathProblem(p, f));
    c.refuseBesidePath(
      ['cert', 'key', 'pfx'],
      (name) => `aws-sm://${secretId} names a bundle secret, so ${name}= conflicts with it`,
      () =>
        'Use either aws-sm://SECRET_ID or aws-sm://?cert=ID&key=ID (ca= and passphrase= may accompany a SECRET_ID).',
    );
  } else {
    c.requireCertOrPfx(fields, 'aws-sm://', form);
    if (c.options.versionId !== undefined) {
      throw c.optionProblem(
        'versionId',
        'versionId= applies to one secret, not to one secret per field',
        'Use versionStage= instead, or a bundle secret.',
      );
    }
  }
  // A full ARN says which region the secret lives in; region= may only repeat it.
  const arnRegion = [secretId, ...Object.values(fields)]
    .map((id) => (id === undefined ? undefined : AWS_ARN.exec(id)?.[2]))
    .find((r) => r !== undefined);
  const region = c.options.region;
  if (region !== undefined && !AWS_REGION.test(region)) {
    throw c.optionProblem('region', `"${region}" is not an AWS region name`, 'Write e.g. region=eu-west-1.');
  }
  if (region !== undefined && arnRegion !== undefined && region !== arnRegion) {
    throw c.optionProblem(
      'region',
      `region=${region} differs from the ARN's region ${arnRegion}`,
      'Drop region= (the ARN says where the secret lives) or correct it.',
    );
  }
  const o = c.options;
  const timeoutMs = c.value<number>('timeoutMs');
  const maxAttempts = c.value<number>('maxAttempts');
  return {
    ...(secretId !== undefined && { secretId }),
    fields,
    ...((region ?? arnRegion) !== undefined && { region: (region ?? arnRegion)! }),
    ...(o.versionId !== undefined && { versionId: o.versionId }),
    ...(o.versionStage !== undefined && { versionStage: o.versionStage }),
    ...(o.endpoint !== undefined && { endpoint: o.endpoint }),
    ...(timeoutMs !== undefined && { timeoutMs }),
    ...(maxAttempts !== undefined && { maxAttempts }),
  };
}

/** The `aws-sm:` scheme, defined with core when this module is imported. */
export const awsSmScheme = defineScheme<'aws-sm', AwsSmTarget>({
  scheme: 'aws-sm',
  packageName: '@mtlskit/aws',
  slashes: true,
  form: 'aws-sm://SECRET_ID[?options] | aws-sm://?cert=ID&key=ID[&passphrase=ID]',
  summary:
    'AWS Secrets Manager: everything between `//` and `?` is the secret id, verbatim (names with `/`, ARNs).',
  options: {
    region: {
      type: 'string',
      description: "AWS region; default: the ARN's region, else the SDK's configuration.",
    },
    versionId: { type: 'string', description: 'A specific version id (bundle mode only).' },
    versionStage: { type: 'string', description: 'A staging label.', default: 'AWSCURRENT' },
    endpoint: { type: 'url', description: 'A custom endpoint (VPC endpoint, LocalStack).' },
    timeoutMs: {
      type: 'integer',
      min: 1,
      description: 'Deadline of each Secrets Manager call, SDK retries included, in milliseconds.',
      default: 10_000,
    },
    maxAttempts: {
      type: 'integer',
      min: 1,
      description:
        "Attempts per call inside the AWS SDK; default: `AWS_MAX_ATTEMPTS` when set, else 2. The resolver's backoff handles the rest.",
    },
    ...fieldOptions('Secret'),
  },
  build: buildAwsSm,
});
