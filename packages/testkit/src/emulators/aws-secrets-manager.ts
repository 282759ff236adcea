// A loopback AWS Secrets Manager that the real `@aws-sdk/client-secrets-manager` talks to: the JSON
// 1.1 wire (POST /, `x-amz-target: secretsmanager.<Operation>`), secrets by name or ARN, versions
// with staging labels (AWSCURRENT / AWSPREVIOUS / AWSPENDING), and AWS's error shapes.
// Operations: GetSecretValue, DescribeSecret, PutSecretValue, CreateSecret, UpdateSecretVersionStage.
import { createHash, randomUUID } from 'node:crypto';
import { corruptValue, type FaultSpec } from './faults.js';
import {
  type EmulatorCall,
  type EmulatorRequest,
  type EmulatorResponse,
  type HttpProtocol,
  type LoopbackEmulator,
  startHttpEmulator,
} from './http.js';
import { SecretStore, type SecretValue, type SecretVersion, type StoredSecret } from './store.js';

export const AWSCURRENT = 'AWSCURRENT';
export const AWSPREVIOUS = 'AWSPREVIOUS';
export const AWSPENDING = 'AWSPENDING';

export interface AwsSecretsManagerEmulatorOptions {
  /** Region written into ARNs. Default `us-east-1`. */
  region?: string;
  /** Account id written into ARNs. Default `123456789012`. */
  accountId?: string;
  /**
   * When set, only requests signed with this access key id are served; others get
   * `UnrecognizedClientException`, as AWS answers an unknown key. Requests with no SigV4 signature
   * at all always get `MissingAuthenticationTokenException`.
   */
  accessKeyId?: string;
}

export interface AwsSecretsManagerEmulator extends LoopbackEmulator {
  readonly region: string;
  readonly accountId: string;
  /**
   * Stores a new version of a secret (creating the secret), AWSCURRENT unless `stages` says
   * otherwise — the emulator-side "rotation" a test performs.
   */
  putSecret(
    name: string,
    value: SecretValue,
    options?: { stages?: string[]; versionId?: string },
  ): SecretVersion;
  /** The full ARN of a secret name (`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-xxxxxx`). */
  arnOf(name: string): string;
}

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

function errorResponse(type: string, message: string, status: number): EmulatorResponse {
  return {
    status,
    headers: { 'x-amzn-errortype': type, 'x-amzn-requestid': randomUUID() },
    body: { __type: type, Message: message },
  };
}

const epochSeconds = (date: Date): number => date.getTime() / 1000;

function stringField(body: Record<string, unknown>, name: string, required = false): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) {
    if (required) throw new AwsError('InvalidParameterException', `${name} is required.`);
    return undefined;
  }
  if (typeof value !== 'string') throw new AwsError('InvalidParameterException', `${name} must be a string.`);
  return value;
}

function secretValueOf(body: Record<string, unknown>): SecretValue | undefined {
  const text = stringField(body, 'SecretString');
  const binary = stringField(body, 'SecretBinary');
  if (text !== undefined && binary !== undefined) {
    throw new AwsError(
      'InvalidParameterException',
      'You must provide either SecretString or SecretBinary, not both.',
    );
  }
  return binary === undefined ? text : new Uint8Array(Buffer.from(binary, 'base64'));
}

function sameValue(a: SecretValue, b: SecretValue): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return Buffer.from(a).equals(Buffer.from(b));
}

/** Starts the emulator on 127.0.0.1, port 0. Point the SDK at `url`; `close()` it after the test. */
export async function startAwsSecretsManagerEmulator(
  options: AwsSecretsManagerEmulatorOptions = {},
): Promise<AwsSecretsManagerEmulator> {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '123456789012';
  const secrets = new SecretStore({
    currentLabel: AWSCURRENT,
    previousLabel: AWSPREVIOUS,
    versionIds: 'uuid',
  });

  const arnPrefix = `arn:aws:secretsmanager:${region}:${accountId}:secret:`;
  const arnOf = (name: string): string =>
    `${arnPrefix}${name}-${createHash('sha256').update(name).digest('base64url').replace(/[-_]/g, 'x').slice(0, 6)}`;

  /** AWS accepts a name, a full ARN, or an ARN without its random suffix. */
  function resolveName(secretId: string): string | undefined {
    if (!secretId.startsWith(arnPrefix)) return secrets.has(secretId) ? secretId : undefined;
    return secrets.names().find((name) => arnOf(name) === secretId || `${arnPrefix}${name}` === secretId);
  }

  function requireSecret(body: Record<string, unknown>): StoredSecret {
    const secretId = stringField(body, 'SecretId', true)!;
    const name = resolveName(secretId);
    const secret = name === undefined ? undefined : secrets.describe(name);
    if (!secret)
      throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  }

  const head = (secret: StoredSecret) => ({ ARN: arnOf(secret.name), Name: secret.name });

  const operations: Record<string, (body: Record<string, unknown>, call: EmulatorCall) => unknown> = {
    GetSecretValue(body, call) {
      const secret = requireSecret(body);
      const versionId = stringField(body, 'VersionId');
      const label = stringField(body, 'VersionStage');
      const current = versionId === undefined && (label === undefined || label === AWSCURRENT);
      // A replica one rotation behind still has AWSCURRENT on the version now labelled AWSPREVIOUS.
      const lagging = call.stale && current ? secrets.get(secret.name, { label: AWSPREVIOUS }) : undefined;
      const version = lagging ?? secrets.get(secret.name, { versionId, label });
      if (!version) {
        throw new AwsError(
          'ResourceNotFoundException',
          "Secrets Manager can't find the specified secret value for VersionId or VersionStage.",
        );
      }
      const value = call.corrupt ? corruptValue(version.value) : version.value;
      return {
        ...head(secret),
        VersionId: version.id,
        ...(typeof value === 'string'
          ? { SecretString: value }
          : { SecretBinary: Buffer.from(value).toString('base64') }),
        VersionStages: lagging ? [AWSCURRENT] : version.labels,
        CreatedDate: epochSeconds(version.createdAt),
      };
    },

    DescribeSecret(body) {
      const secret = requireSecret(body);
      const stages: Record<string, readonly string[]> = {};
      for (const v of secret.versions) if (v.labels.length > 0) stages[v.id] = v.labels;
      return {
        ...head(secret),
        CreatedDate: epochSeconds(secret.createdAt),
        LastChangedDate: epochSeconds(secret.updatedAt),
        VersionIdsToStages: stages,
      };
    },

    CreateSecret(body) {
      const name = stringField(body, 'Name', true)!;
      if (secrets.has(name)) {
        throw new AwsError(
          'ResourceExistsException',
          `The operation failed because the secret ${name} already exists.`,
        );
      }
      const value = secretValueOf(body);
      secrets.create(name);
      const version =
        value === undefined
          ? undefined
          : secrets.put(name, value, { versionId: stringField(body, 'ClientRequestToken') });
      return { ARN: arnOf(name), Name: name, ...(version ? { VersionId: version.id } : {}) };
    },

    PutSecretValue(body) {
      const secret = requireSecret(body);
      const value = secretValueOf(body);
      if (value === undefined) {
        throw new AwsError(
          'InvalidParameterException',
          'You must provide either SecretString or SecretBinary.',
        );
      }
      const token = stringField(body, 'ClientRequestToken');
      const existing = token === undefined ? undefined : secret.versions.find((v) => v.id === token);
      if (existing) {
        // AWS's idempotency: the same token with the same value is a retry, with another value a conflict.
        if (!sameValue(existing.value, value)) {
          throw new AwsError('ResourceExistsException', `A version with VersionId ${token} already exists.`);
        }
        return { ...head(secret), VersionId: existing.id, VersionStages: existing.labels };
      }
      const stages = body.VersionStages;
      if (stages !== undefined && !(Array.isArray(stages) && stages.every((s) => typeof s === 'string'))) {
        throw new AwsError('InvalidParameterException', 'VersionStages must be a list of strings.');
      }
      const version = secrets.put(secret.name, value, {
        versionId: token,
        labels: stages as string[] | undefined,
      });
      return { ...head(secret), VersionId: version.id, VersionStages: version.labels };
    },

    UpdateSecretVersionStage(body) {
      const secret = requireSecret(body);
      const label = stringField(body, 'VersionStage', true)!;
      const moveTo = stringField(body, 'MoveToVersionId');
      const removeFrom = stringField(body, 'RemoveFromVersionId');
      const holder = secret.versions.find((v) => v.labels.includes(label));
      for (const id of [moveTo, removeFrom]) {
        if (id !== undefined && !secret.versions.some((v) => v.id === id)) {
          throw new AwsError('ResourceNotFoundException', `Secrets Manager can't find the version ${id}.`);
        }
      }
      if (moveTo !== undefined && holder && holder.id !== moveTo && removeFrom !== holder.id) {
        throw new AwsError(
          'InvalidParameterException',
          `The staging label ${label} is currently attached to version ${holder.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
        );
      }
      secrets.moveLabel(secret.name, label, { to: moveTo, from: removeFrom });
      return head(secret);
    },
  };

  const protocol: HttpProtocol = {
    contentType: 'application/x-amz-json-1.1',

    identify(request: EmulatorRequest) {
      const target = String(request.headers['x-amz-target'] ?? '');
      const operation = target.startsWith('secretsmanager.')
        ? target.slice('secretsmanager.'.length)
        : target;
      const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<
        string,
        unknown
      >;
      const id = body.SecretId ?? body.Name;
      const secret = typeof id === 'string' ? (resolveName(id) ?? id) : undefined;
      return { operation: operation || `${request.method} ${request.url.pathname}`, secret };
    },

    // A damaged or lagging value needs a call that returns a value; the lagging one a read of
    // AWSCURRENT (by id or another label, a replica serves what was asked) on a secret with a version
    // before it. Other calls let such a fault wait for one that can show it.
    accepts(kind, call) {
      if (kind !== 'corrupt' && kind !== 'stale') return true;
      if (call.operation !== 'GetSecretValue') return false;
      if (kind === 'corrupt') return true;
      const body = (typeof call.body === 'object' && call.body !== null ? call.body : {}) as Record<
        string,
        unknown
      >;
      const label = body.VersionStage ?? AWSCURRENT;
      return (
        body.VersionId === undefined &&
        label === AWSCURRENT &&
        call.secret !== undefined &&
        secrets.has(call.secret) &&
        secrets.get(call.secret, { label: AWSPREVIOUS }) !== undefined
      );
    },

    handle(call: EmulatorCall) {
      try {
        const authorization = String(call.headers.authorization ?? '');
        const credential = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\//.exec(authorization);
        if (!credential) {
          throw new AwsError(
            'MissingAuthenticationTokenException',
            'Request is missing Authentication Token',
          );
        }
        if (options.accessKeyId !== undefined && credential[1] !== options.accessKeyId) {
          throw new AwsError(
            'UnrecognizedClientException',
            'The security token included in the request is invalid.',
          );
        }
        const operation = operations[call.operation];
        if (call.method !== 'POST' || !operation) {
          throw new AwsError('UnknownOperationException', `Unknown operation ${call.operation}`);
        }
        if (typeof call.body !== 'object' || call.body === null) {
          throw new AwsError('SerializationException', 'The request body is not a JSON object.');
        }
        return { status: 200, body: operation(call.body as Record<string, unknown>, call) };
      } catch (err) {
        if (err instanceof AwsError) return errorResponse(err.type, err.message, err.status);
        throw err;
      }
    },

    faultResponse(fault: FaultSpec, call: EmulatorCall | undefined) {
      const action = `secretsmanager:${call?.operation ?? 'GetSecretValue'}`;
      switch (fault.kind) {
        case 'notFound':
          return errorResponse(
            'ResourceNotFoundException',
            fault.message ?? "Secrets Manager can't find the specified secret.",
            400,
          );
        case 'denied':
          return errorResponse(
            'AccessDeniedException',
            fault.message ??
              `User: arn:aws:iam::${accountId}:user/mtlskit-test is not authorized to perform: ${action} on resource: ${call?.secret ?? '*'} because no identity-based policy allows the ${action} action`,
            400,
          );
        case 'throttled':
          return errorResponse('ThrottlingException', fault.message ?? 'Rate exceeded', 400);
        case 'error':
          return errorResponse(
            fault.code ?? 'InternalServiceError',
            fault.message ?? `${fault.code ?? 'InternalServiceError'} (injected)`,
            fault.status ?? 400,
          );
        default:
          return errorResponse(
            'InternalServiceError',
            fault.message ?? 'An error occurred on the server side.',
            fault.status ?? 500,
          );
      }
    },
  };

  const emulator = await startHttpEmulator(protocol, { secrets });
  return Object.assign(emulator, {
    region,
    accountId,
    putSecret(name: string, value: SecretValue, put: { stages?: string[]; versionId?: string } = {}) {
      return secrets.put(name, value, { labels: put.stages, versionId: put.versionId });
    },
    arnOf,
  });
}
