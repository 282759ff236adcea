// The emulator's two wires, spoken by hand: gRPC through a bare @grpc/grpc-js client built from the
// same protos, REST through fetch. The real Google client against it is tested in packages/gcp.
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { corruptValue } from './faults.js';
import {
  crc32cBitwise,
  type GcpSecretManagerEmulator,
  startGcpSecretManagerEmulator,
} from './gcp-secret-manager.js';

const require = createRequire(import.meta.url);
const definition = protoLoader.fromJSON(require('@google-cloud/secret-manager/build/protos/protos.json'), {
  longs: String,
  enums: String,
  bytes: Buffer,
  oneofs: true,
});
const Service = (
  grpc.loadPackageDefinition(definition) as unknown as {
    google: { cloud: { secretmanager: { v1: { SecretManagerService: grpc.ServiceClientConstructor } } } };
  }
).google.cloud.secretmanager.v1.SecretManagerService;

/** What the tests read of an answer (absent fields fail the assertions that read them). */
interface Reply {
  name: string;
  state: string | number;
  payload: { data: Uint8Array; dataCrc32c?: string };
  createTime: { seconds: string };
  clientSpecifiedPayloadChecksum: boolean;
}
interface RestReply {
  name: string;
  state: string | number;
  createTime: string;
  error: { code: number; message: string; status: string };
}
type Unary = (
  request: Record<string, unknown>,
  options: { deadline: number },
  callback: (err: GrpcFailure | null, reply: Reply) => void,
) => void;
interface GrpcFailure {
  code: number;
  details: string;
}

let emulator: GcpSecretManagerEmulator;
let client: grpc.Client & Record<string, Unary>;

function rpc(method: string, request: Record<string, unknown>, deadlineMs = 5_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    client[method]!(
      request,
      { deadline: Date.now() + deadlineMs },
      (err: GrpcFailure | null, reply: Reply) => (err ? reject(err) : resolve(reply)),
    );
  });
}

async function rpcError(method: string, request: Record<string, unknown>, deadlineMs?: number) {
  try {
    await rpc(method, request, deadlineMs);
  } catch (err) {
    return err as GrpcFailure;
  }
  throw new Error(`${method} succeeded`);
}

async function rest(path: string, init?: { method?: string; body?: unknown }) {
  const res = await fetch(`${emulator.url}/v1/${path}`, {
    method: init?.method ?? 'GET',
    headers: { 'content-type': 'application/json' },
    ...(init?.body !== undefined && { body: JSON.stringify(init.body) }),
  });
  return { status: res.status, json: (await res.json()) as RestReply };
}

const V = (n: number | string, secret = 'prod-mtls') =>
  `projects/mtlskit-test/secrets/${secret}/versions/${n}`;
const NUMBERED = (n: number | string) => `projects/123456789012/secrets/prod-mtls/versions/${n}`;

beforeEach(async () => {
  emulator = await startGcpSecretManagerEmulator();
  client = new Service(`127.0.0.1:${emulator.grpcPort}`, grpc.credentials.createInsecure()) as typeof client;
});
afterEach(async () => {
  client.close();
  await emulator.close();
});

describe('CRC32C', () => {
  it('matches the published check values', () => {
    expect(crc32cBitwise(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32cBitwise(Buffer.from('hunter2'))).toBe(1736498283);
    expect(crc32cBitwise(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32cBitwise(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32cBitwise(new Uint8Array(0))).toBe(0);
  });
});

describe('GCP Secret Manager emulator over gRPC', () => {
  it('resolves latest to the newest version and names it with the project number', async () => {
    emulator.putSecret('prod-mtls', 'one');
    emulator.putSecret('prod-mtls', 'hunter2');
    for (const name of [V('latest'), NUMBERED('latest'), V(2)]) {
      const reply = await rpc('AccessSecretVersion', { name });
      expect(reply.name).toBe(NUMBERED(2));
      expect(Buffer.from(reply.payload.data).toString()).toBe('hunter2');
      expect(reply.payload.dataCrc32c).toBe('1736498283');
    }
    const first = await rpc('AccessSecretVersion', { name: V(1) });
    expect(Buffer.from(first.payload.data).toString()).toBe('one');
    const log = emulator.log.calls({ operation: 'AccessSecretVersion' });
    expect(log).toHaveLength(4);
    expect(log.every((c) => c.secret === 'projects/mtlskit-test/secrets/prod-mtls' && c.status === 0)).toBe(
      true,
    );
    expect(log[0]!.remoteAddress).toMatch(/^127\.0\.0\.1$|^::ffff:127\.0\.0\.1$/);
  });

  it('answers GetSecretVersion with metadata and no payload, whatever the state', async () => {
    emulator.putSecret('prod-mtls', 'one');
    emulator.putSecret('prod-mtls', 'two', { state: 'DISABLED' });
    const reply = await rpc('GetSecretVersion', { name: V('latest') });
    expect(reply).toMatchObject({ name: NUMBERED(2), state: 'DISABLED' });
    expect(reply.payload).toBeUndefined();
    expect(Number(reply.createTime.seconds)).toBeGreaterThan(0);
  });

  it('refuses to serve a disabled or destroyed version, latest included, with FAILED_PRECONDITION', async () => {
    emulator.putSecret('prod-mtls', 'one');
    emulator.putSecret('prod-mtls', 'two');
    emulator.setState('prod-mtls', 2, 'DISABLED');
    let err = await rpcError('AccessSecretVersion', { name: V('latest') });
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err.details).toBe(`Secret Version [${NUMBERED(2)}] is in DISABLED state.`);
    await rpc('DestroySecretVersion', { name: V(2) });
    err = await rpcError('AccessSecretVersion', { name: V(2) });
    expect(err.details).toMatch(/is in DESTROYED state\.$/);
    // Destroyed is final.
    expect((await rpcError('EnableSecretVersion', { name: V(2) })).code).toBe(
      grpc.status.FAILED_PRECONDITION,
    );
    expect(Buffer.from((await rpc('AccessSecretVersion', { name: V(1) })).payload.data).toString()).toBe(
      'one',
    );
  });

  it('answers NOT_FOUND for an absent secret, an absent version and an unknown alias', async () => {
    expect((await rpcError('AccessSecretVersion', { name: V('latest', 'nope') })).code).toBe(5);
    emulator.putSecret('prod-mtls', 'one');
    const absent = await rpcError('AccessSecretVersion', { name: V(7) });
    expect(absent).toMatchObject({ code: 5, details: `Secret Version [${NUMBERED(7)}] not found.` });
    expect((await rpcError('GetSecretVersion', { name: V('blue') })).code).toBe(5);
    expect((await rpcError('AccessSecretVersion', { name: 'projects/x' })).code).toBe(3);
  });

  it('adds versions, checking a client checksum, and creates secrets', async () => {
    await rpc('CreateSecret', { parent: 'projects/mtlskit-test', secretId: 'new', secret: {} });
    expect((await rpcError('CreateSecret', { parent: 'projects/123456789012', secretId: 'new' })).code).toBe(
      grpc.status.ALREADY_EXISTS,
    );
    const data = Buffer.from('hunter2');
    const added = await rpc('AddSecretVersion', {
      parent: 'projects/mtlskit-test/secrets/new',
      payload: { data, dataCrc32c: '1736498283' },
    });
    expect(added).toMatchObject({ name: 'projects/123456789012/secrets/new/versions/1', state: 'ENABLED' });
    expect(added.clientSpecifiedPayloadChecksum).toBe(true);
    const wrong = await rpcError('AddSecretVersion', {
      parent: 'projects/mtlskit-test/secrets/new',
      payload: { data, dataCrc32c: '1' },
    });
    expect(wrong.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(emulator.secrets.describe(emulator.keyOf('new'))?.versions).toHaveLength(1);
    const missing = await rpcError('AddSecretVersion', {
      parent: 'projects/mtlskit-test/secrets/none',
      payload: { data },
    });
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
  });

  it('serves regional secrets under their location', async () => {
    emulator.putSecret('projects/mtlskit-test/locations/europe-west1/secrets/eu', 'regional');
    const reply = await rpc('AccessSecretVersion', {
      name: 'projects/mtlskit-test/locations/europe-west1/secrets/eu/versions/latest',
    });
    expect(reply.name).toBe('projects/123456789012/locations/europe-west1/secrets/eu/versions/1');
    expect((await rpcError('AccessSecretVersion', { name: V('latest', 'eu') })).code).toBe(5);
  });

  it('applies error faults as gRPC status codes', async () => {
    emulator.putSecret('prod-mtls', 'one');
    const cases: Array<[Parameters<GcpSecretManagerEmulator['fail']>[0], number]> = [
      ['notFound', grpc.status.NOT_FOUND],
      ['denied', grpc.status.PERMISSION_DENIED],
      ['throttled', grpc.status.RESOURCE_EXHAUSTED],
      ['serverError', grpc.status.UNAVAILABLE],
      [{ kind: 'serverError', status: grpc.status.INTERNAL }, grpc.status.INTERNAL],
      [
        { kind: 'error', status: grpc.status.UNAUTHENTICATED, message: 'bad token' },
        grpc.status.UNAUTHENTICATED,
      ],
    ];
    for (const [fault, code] of cases) {
      emulator.fail(fault);
      expect((await rpcError('AccessSecretVersion', { name: V(1) })).code).toBe(code);
      expect(emulator.log.last()?.status).toBe(code);
    }
    expect((await rpc('AccessSecretVersion', { name: V(1) })).name).toBe(NUMBERED(1));
  });

  it('damages a payload, or its checksum, on the next access only', async () => {
    emulator.putSecret('prod-mtls', 'a credential of some length');
    const original = Buffer.from('a credential of some length');
    const crc = String(crc32cBitwise(original));
    emulator.fail('corrupt');
    // A metadata read cannot show damage: the fault waits for the access.
    await rpc('GetSecretVersion', { name: V(1) });
    let reply = await rpc('AccessSecretVersion', { name: V(1) });
    expect(Buffer.from(reply.payload.data)).toEqual(Buffer.from(corruptValue(new Uint8Array(original))));
    expect(reply.payload.dataCrc32c).toBe(crc);
    expect(emulator.log.calls().map((c) => c.fault)).toEqual([undefined, 'corrupt']);

    emulator.fail({ kind: 'corrupt', code: 'checksum' });
    reply = await rpc('AccessSecretVersion', { name: V(1) });
    expect(Buffer.from(reply.payload.data)).toEqual(original);
    expect(reply.payload.dataCrc32c).not.toBe(crc);

    emulator.fail({ kind: 'corrupt', code: 'noChecksum' });
    reply = await rpc('AccessSecretVersion', { name: V(1) });
    expect(reply.payload.dataCrc32c).toBeUndefined();
    expect((await rpc('AccessSecretVersion', { name: V(1) })).payload.dataCrc32c).toBe(crc);
  });

  it('holds a slow call until the client gives up, and resets a connection', async () => {
    emulator.putSecret('prod-mtls', 'one');
    emulator.fail({ kind: 'slow' });
    const started = Date.now();
    expect((await rpcError('AccessSecretVersion', { name: V(1) }, 300)).code).toBe(
      grpc.status.DEADLINE_EXCEEDED,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    emulator.fail({ kind: 'slow', delayMs: 50 });
    expect((await rpc('AccessSecretVersion', { name: V(1) })).name).toBe(NUMBERED(1));

    emulator.fail('reset');
    expect((await rpcError('AccessSecretVersion', { name: V(1) })).code).toBe(grpc.status.UNAVAILABLE);
    expect(emulator.log.last()).toMatchObject({ fault: 'reset', status: undefined });
    // The client reconnects for the next call.
    expect((await rpc('AccessSecretVersion', { name: V(1) })).name).toBe(NUMBERED(1));
  });
});

describe('GCP Secret Manager emulator: aliases, annotations and etag (gRPC)', () => {
  const SECRET = 'projects/mtlskit-test/secrets/prod-mtls';
  type SecretReply = {
    etag: string;
    versionAliases?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  const getSecret = async () => (await rpc('GetSecret', { name: SECRET })) as unknown as SecretReply;
  const update = (secret: Record<string, unknown>, paths: string[]) =>
    rpc('UpdateSecret', {
      secret: { name: SECRET, ...secret },
      updateMask: { paths },
    }) as unknown as Promise<SecretReply>;

  it('moves an alias with UpdateSecret, serves the version by alias, and keeps the fields the mask leaves out', async () => {
    emulator.putSecret('prod-mtls', 'one');
    emulator.putSecret('prod-mtls', 'two');
    const before = await getSecret();
    expect(before.etag).toMatch(/^"[0-9a-f]+"$/);
    const after = await update(
      { etag: before.etag, versionAliases: { current: '1' }, annotations: { 'mtlskit-pending': '2' } },
      ['version_aliases', 'annotations'],
    );
    expect(after).toMatchObject({
      versionAliases: { current: '1' },
      annotations: { 'mtlskit-pending': '2' },
    });
    expect(after.etag).not.toBe(before.etag);
    const byAlias = await rpc('AccessSecretVersion', { name: V('current') });
    expect(byAlias.name).toBe(NUMBERED(1));
    expect(Buffer.from(byAlias.payload.data).toString()).toBe('one');
    expect((await rpc('GetSecretVersion', { name: V('current') })).name).toBe(NUMBERED(1));
    // latest stays the newest version.
    expect((await rpc('AccessSecretVersion', { name: V('latest') })).name).toBe(NUMBERED(2));
    // A mask naming annotations only leaves the aliases as they are (and clears annotations given empty).
    await update({ annotations: {} }, ['annotations']);
    expect(emulator.metadataOf('prod-mtls')).toMatchObject({
      versionAliases: { current: 1 },
      annotations: {},
    });
  });

  it('refuses a write under an old etag with FAILED_PRECONDITION, changing nothing', async () => {
    emulator.putSecret('prod-mtls', 'one');
    const { etag } = await getSecret();
    await update({ etag, annotations: { a: 'b' } }, ['annotations']);
    const err = await rpcError('UpdateSecret', {
      secret: { name: SECRET, etag, versionAliases: { current: '1' } },
      updateMask: { paths: ['version_aliases'] },
    });
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err.details).toMatch(/etag/);
    expect(emulator.metadataOf('prod-mtls').versionAliases).toEqual({});
    // Without an etag the write is not checked.
    await update({ versionAliases: { current: '1' } }, ['version_aliases']);
    expect(emulator.metadataOf('prod-mtls').versionAliases).toEqual({ current: 1 });
  });

  it('refuses reserved or malformed aliases, aliases to absent or destroyed versions, bad annotation keys and masks', async () => {
    emulator.putSecret('prod-mtls', 'one');
    emulator.putSecret('prod-mtls', 'two');
    emulator.setState('prod-mtls', 2, 'DESTROYED');
    const cases: [Record<string, unknown>, string[], number, RegExp][] = [
      [{ versionAliases: { latest: '1' } }, ['version_aliases'], grpc.status.INVALID_ARGUMENT, /alias/],
      [{ versionAliases: { '9lives': '1' } }, ['version_aliases'], grpc.status.INVALID_ARGUMENT, /alias/],
      [{ versionAliases: { current: '7' } }, ['version_aliases'], grpc.status.INVALID_ARGUMENT, /version 7/],
      [
        { versionAliases: { current: '2' } },
        ['version_aliases'],
        grpc.status.FAILED_PRECONDITION,
        /DESTROYED/,
      ],
      [{ annotations: { '-bad': 'x' } }, ['annotations'], grpc.status.INVALID_ARGUMENT, /annotation key/],
      [
        { annotations: { big: 'x'.repeat(16 * 1024) } },
        ['annotations'],
        grpc.status.INVALID_ARGUMENT,
        /16KiB/,
      ],
      [{ annotations: {} }, [], grpc.status.INVALID_ARGUMENT, /update_mask/],
      [{ labels: { a: 'b' } }, ['labels'], grpc.status.UNIMPLEMENTED, /labels/],
    ];
    for (const [secret, paths, code, message] of cases) {
      const err = await rpcError('UpdateSecret', {
        secret: { name: SECRET, ...secret },
        updateMask: { paths },
      });
      expect([err.code, err.details], JSON.stringify(secret)).toEqual([code, expect.stringMatching(message)]);
    }
    expect(emulator.metadataOf('prod-mtls')).toMatchObject({ versionAliases: {}, annotations: {} });
    const absent = await rpcError('UpdateSecret', {
      secret: { name: 'projects/mtlskit-test/secrets/nope' },
      updateMask: { paths: ['annotations'] },
    });
    expect(absent.code).toBe(grpc.status.NOT_FOUND);
  });

  it('answers NOT_FOUND for an alias the secret does not have, and logs UpdateSecret under its secret', async () => {
    emulator.putSecret('prod-mtls', 'one');
    const err = await rpcError('AccessSecretVersion', { name: V('current') });
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    await update({ annotations: { a: 'b' } }, ['annotations']);
    expect(emulator.log.last()).toMatchObject({ operation: 'UpdateSecret', secret: SECRET, status: 0 });
    emulator.fail({ kind: 'denied', operation: 'UpdateSecret' });
    const denied = await rpcError('UpdateSecret', {
      secret: { name: SECRET, annotations: {} },
      updateMask: { paths: ['annotations'] },
    });
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(denied.details).toContain('secretmanager.secrets.update');
  });
});

describe('GCP Secret Manager emulator over REST', () => {
  it('answers :access with Base64 data and the checksum as text', async () => {
    emulator.putSecret('prod-mtls', 'hunter2');
    const reply = await rest(`${V('latest')}:access`);
    expect(reply).toEqual({
      status: 200,
      json: {
        name: NUMBERED(1),
        payload: { data: Buffer.from('hunter2').toString('base64'), dataCrc32c: '1736498283' },
      },
    });
    expect(emulator.log.last()).toMatchObject({
      operation: 'AccessSecretVersion',
      secret: 'projects/mtlskit-test/secrets/prod-mtls',
      method: 'GET',
      status: 200,
    });
  });

  it('answers GetSecretVersion with RFC 3339 times and enums as names or numbers', async () => {
    emulator.putSecret('prod-mtls', 'one', { state: 'DISABLED' });
    const named = await rest(V(1));
    expect(named.json).toMatchObject({ name: NUMBERED(1), state: 'DISABLED' });
    expect(Date.parse(named.json.createTime)).toBeGreaterThan(0);
    const numbered = await rest(`${V(1)}?$alt=json%3Benum-encoding=int`);
    expect(numbered.json.state).toBe(2);
  });

  it("answers errors in Google's JSON shape with the HTTP status", async () => {
    expect(await rest(`${V('latest', 'nope')}:access`)).toMatchObject({
      status: 404,
      json: { error: { code: 404, status: 'NOT_FOUND' } },
    });
    emulator.putSecret('prod-mtls', 'one', { state: 'DESTROYED' });
    const destroyed = await rest(`${V(1)}:access`);
    expect(destroyed).toMatchObject({ status: 400, json: { error: { status: 'FAILED_PRECONDITION' } } });
    expect(destroyed.json.error.message).toMatch(/DESTROYED state/);
    for (const [kind, status] of [
      ['denied', 403],
      ['throttled', 429],
      ['serverError', 503],
    ] as const) {
      emulator.fail(kind);
      expect((await rest(`${V(1)}:access`)).status).toBe(status);
    }
    emulator.fail({ kind: 'error', status: 401, code: 'UNAUTHENTICATED' });
    expect(await rest(`${V(1)}:access`)).toMatchObject({
      status: 401,
      json: { error: { status: 'UNAUTHENTICATED' } },
    });
  });

  it('adds a version with :addVersion and checks its checksum', async () => {
    emulator.putSecret('prod-mtls', 'one');
    const data = Buffer.from('two').toString('base64');
    const added = await rest('projects/123456789012/secrets/prod-mtls:addVersion', {
      method: 'POST',
      body: { payload: { data, dataCrc32c: String(crc32cBitwise(Buffer.from('two'))) } },
    });
    expect(added).toMatchObject({ status: 200, json: { name: NUMBERED(2), state: 'ENABLED' } });
    const wrong = await rest('projects/mtlskit-test/secrets/prod-mtls:addVersion', {
      method: 'POST',
      body: { payload: { data, dataCrc32c: '5' } },
    });
    expect(wrong.status).toBe(400);
    await rest(`${V(2)}:disable`, { method: 'POST', body: {} });
    expect((await rest(V(2))).json.state).toBe('DISABLED');
  });

  it('updates aliases and annotations with PATCH and updateMask (JSON names), checking the etag', async () => {
    emulator.putSecret('prod-mtls', 'one');
    emulator.putSecret('prod-mtls', 'two');
    const secret = 'projects/mtlskit-test/secrets/prod-mtls';
    const got = await rest(secret);
    const { etag } = got.json as unknown as { etag: string };
    const patched = await rest(`${secret}?updateMask=versionAliases,annotations`, {
      method: 'PATCH',
      body: { etag, versionAliases: { current: '1' }, annotations: { 'mtlskit-pending': '2' } },
    });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({
      name: 'projects/123456789012/secrets/prod-mtls',
      versionAliases: { current: '1' },
      annotations: { 'mtlskit-pending': '2' },
    });
    const byAlias = await rest(`${V('current')}:access`);
    expect(byAlias.json.name).toBe(NUMBERED(1));
    const stale = await rest(`${secret}?updateMask=annotations`, {
      method: 'PATCH',
      body: { etag, annotations: {} },
    });
    expect(stale.status).toBe(400);
    expect(stale.json.error).toMatchObject({ code: 400, status: 'FAILED_PRECONDITION' });
    expect(emulator.metadataOf('prod-mtls').annotations).toEqual({ 'mtlskit-pending': '2' });
  });

  it('shares the store and the fault queue with the gRPC side', async () => {
    emulator.putSecret('prod-mtls', 'one');
    emulator.fail({ kind: 'denied', operation: 'AccessSecretVersion', times: 2 });
    expect((await rest(`${V(1)}:access`)).status).toBe(403);
    expect((await rpcError('AccessSecretVersion', { name: V(1) })).code).toBe(grpc.status.PERMISSION_DENIED);
    expect(emulator.log.count({ operation: 'AccessSecretVersion' })).toBe(2);
    // A malformed answer is only possible on REST: a gRPC call leaves the fault queued.
    emulator.fail('malformed');
    expect((await rpc('AccessSecretVersion', { name: V(1) })).name).toBe(NUMBERED(1));
    const res = await fetch(`${emulator.url}/v1/${V(1)}:access`);
    expect(await res.text()).toBe('{"truncated');
  });
});

describe('clientOptions', () => {
  it.each(['grpc', 'rest'] as const)(
    'points the real Google client at the emulator over %s',
    async (transport) => {
      const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
      emulator.putSecret('prod-mtls', 'payload');
      const google = new SecretManagerServiceClient({
        ...emulator.clientOptions(transport),
        fallback: transport === 'rest',
      } as ConstructorParameters<typeof SecretManagerServiceClient>[0]);
      try {
        const [answer] = await google.accessSecretVersion({ name: V('latest') });
        expect(Buffer.from(answer.payload?.data as Uint8Array).toString()).toBe('payload');
        // gRPC calls are logged under their service path, REST ones under the resource's.
        expect(emulator.log.calls().map((c) => [c.operation, c.path.startsWith('/google.cloud')])).toEqual([
          ['AccessSecretVersion', transport === 'grpc'],
        ]);
      } finally {
        await google.close();
      }
    },
  );
});
