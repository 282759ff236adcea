// gcpSecretManagerSource with the real Google client, over loopback, against the testkit's emulator,
// on both transports. The harness fails any test whose connections leave loopback.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { type Finding, loadCredentials, MtlsError } from '@mtlskit/core';
import { type IssuedCert, leakCheck, TestCA, trackConnections } from '@mtlskit/testkit';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  askedOf,
  emulatorClientOptions,
  type GcpHarness,
  gax,
  startGcpHarness,
  TRANSPORTS,
} from './__tests__/harness.js';
import { crc32c } from './crc32c.js';
import { gcpSecretManagerSource, type SecretManagerClientLike } from './source.js';

let ca: TestCA;
let alice: IssuedCert;
let bob: IssuedCert;

const NAME = 'projects/mtlskit-test/secrets/prod-mtls';
const bundleOf = (cert: IssuedCert) => JSON.stringify({ cert: cert.certPem, key: cert.keyPem });

async function rejection(promise: Promise<unknown>): Promise<MtlsError> {
  try {
    await promise;
  } catch (err) {
    if (!MtlsError.is(err)) throw err;
    return err;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  ca = await TestCA.create();
  alice = await ca.issueClient({ commonName: 'alice' });
  bob = await ca.issueClient({ commonName: 'bob' });
});

describe.each(TRANSPORTS)('over %s', (transport) => {
  let gcp: GcpHarness;
  beforeEach(async () => {
    gcp = await startGcpHarness(transport);
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await gcp.close();
  });

  describe('loading', () => {
    it('reads latest, verifies its checksum and reports the concrete version number', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(bob));
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      const source = gcp.source({ name: NAME });
      expect(source.id).toBe(
        `gcp-sm://${NAME}/versions/latest${transport === 'rest' ? '?transport=rest' : ''}`,
      );
      const material = await source.load();
      // Google answers projects/123456789012/…/versions/2: the version, not the name, is compared.
      expect(material.version).toBe('2');
      expect((await loadCredentials(material)).fingerprint256).toBe(alice.fingerprint256);
      const call = gcp.emulator.log.last({ operation: 'AccessSecretVersion' });
      expect(call?.secret).toBe(NAME);
      expect(call?.remoteAddress).toMatch(/127\.0\.0\.1$/);
    });

    it('reads a pinned version, addressed by project number as well', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(bob));
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      const source = gcp.source({ name: 'projects/123456789012/secrets/prod-mtls/versions/1' });
      const material = await source.load();
      expect(material.version).toBe('1');
      expect((await loadCredentials(material)).fingerprint256).toBe(bob.fingerprint256);
      expect(await source.version()).toBe('1');
    });

    it('reads a regional secret', async () => {
      gcp.emulator.putSecret('projects/mtlskit-test/locations/europe-west1/secrets/eu', bundleOf(alice));
      const source = gcp.source({ name: 'projects/mtlskit-test/locations/europe-west1/secrets/eu' });
      expect((await loadCredentials(await source.load())).fingerprint256).toBe(alice.fingerprint256);
      expect(gcp.emulator.log.last()?.secret).toBe('projects/mtlskit-test/locations/europe-west1/secrets/eu');
    });

    it('refuses a payload whose data does not match its checksum, then reads again', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      const source = gcp.source({ name: NAME });
      gcp.emulator.fail('corrupt');
      const err = await rejection(source.load());
      expect(err).toMatchObject({ code: 'INTEGRITY_FAILED', retryable: true, sourceId: source.id });
      expect(err.message).toMatch(/version 1 of .*prod-mtls does not match its CRC32C/);
      // A source cannot know whether a last good credential exists (a first load has none).
      expect(err.message).not.toMatch(/last good credentials stay/);
      expect(err.message).toMatch(/read it again/);
      leakCheck([alice.keyPem]).check(err, 'the integrity error');
      expect((await loadCredentials(await source.load())).fingerprint256).toBe(alice.fingerprint256);
    });

    it('refuses a payload whose checksum is wrong', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      gcp.emulator.fail({ kind: 'corrupt', code: 'checksum' });
      expect((await rejection(gcp.source({ name: NAME }).load())).code).toBe('INTEGRITY_FAILED');
    });

    it('loads a payload without a checksum, with one warning per version', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      const warnings: Finding[] = [];
      const source = gcp.source({ name: NAME, onWarning: (f) => warnings.push(f) });
      gcp.emulator.fail({ kind: 'corrupt', code: 'noChecksum', times: 2 });
      expect((await loadCredentials(await source.load())).fingerprint256).toBe(alice.fingerprint256);
      await source.load();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ code: 'GCP_NO_CHECKSUM', severity: 'warning' });
      expect(warnings[0]!.message).toContain('version 1 of projects/mtlskit-test/secrets/prod-mtls');
    });

    it('reports a disabled or destroyed version as SOURCE_NOT_FOUND, saying so, from load() and version()', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(bob));
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice), { state: 'DISABLED' });
      const source = gcp.source({ name: NAME });
      for (const err of [await rejection(source.load()), await rejection(source.version())]) {
        expect(err.code).toBe('SOURCE_NOT_FOUND');
        expect(err.message).toMatch(/version 2 of .*prod-mtls is DISABLED .*enable it/);
      }
      gcp.emulator.setState('prod-mtls', 2, 'DESTROYED');
      const destroyed = await rejection(source.load());
      expect(destroyed.code).toBe('SOURCE_NOT_FOUND');
      expect(destroyed.message).toMatch(/is DESTROYED \(its payload is gone for good/);
      // A pinned older version stays readable.
      const pinned = gcp.source({ name: `${NAME}/versions/1` });
      expect((await loadCredentials(await pinned.load())).fingerprint256).toBe(bob.fingerprint256);
    });
  });

  describe('version()', () => {
    it('reads metadata only, asks for the renewal alias only when latest names a new version, and changes when one is added', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      const source = gcp.source({ name: NAME });
      expect(await source.version()).toBe('1');
      // A version not checked yet: is there an alias `current` (a renewal) to follow instead?
      expect(askedOf(gcp.emulator)).toEqual(['GetSecretVersion latest', 'GetSecretVersion current']);
      gcp.emulator.log.clear();
      // The same version again: one metadata read, as for any secret never renewed.
      expect(await source.version()).toBe('1');
      expect(askedOf(gcp.emulator)).toEqual(['GetSecretVersion latest']);
      gcp.emulator.putSecret('prod-mtls', bundleOf(bob));
      gcp.emulator.log.clear();
      expect(await source.version()).toBe('2');
      expect((await source.load()).version).toBe('2');
      expect(askedOf(gcp.emulator)).toEqual([
        'GetSecretVersion latest',
        'GetSecretVersion current',
        'AccessSecretVersion latest',
      ]);
    });
  });

  describe('version() with GetSecretVersion denied (roles/secretmanager.secretAccessor alone)', () => {
    it('probes by reading the version instead, for good, with one warning', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      gcp.emulator.fail({ kind: 'denied', operation: 'GetSecretVersion', times: Number.POSITIVE_INFINITY });
      const warnings: Finding[] = [];
      const source = gcp.source({ name: NAME, onWarning: (f) => warnings.push(f) });
      expect(await source.version()).toBe('1');
      gcp.emulator.putSecret('prod-mtls', bundleOf(bob));
      expect(await source.version()).toBe('2');
      expect(askedOf(gcp.emulator)).toEqual([
        'GetSecretVersion latest',
        'AccessSecretVersion latest',
        'AccessSecretVersion current',
        'AccessSecretVersion latest',
        'AccessSecretVersion current',
      ]);
      expect(warnings.map((w) => w.code)).toEqual(['GCP_GET_VERSION_DENIED']);
      expect(warnings[0]!.fix).toContain('roles/secretmanager.viewer');
    });

    it('asks GetSecretVersion again while reading is refused too, and keeps UNAUTHENTICATED an error', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      const source = gcp.source({ name: NAME });
      gcp.emulator.fail({ kind: 'denied', times: 2 });
      expect((await rejection(source.version())).code).toBe('ACCESS_DENIED');
      expect(await source.version()).toBe('1');
      expect(askedOf(gcp.emulator)).toEqual([
        'GetSecretVersion latest',
        'AccessSecretVersion latest',
        'GetSecretVersion latest',
        'GetSecretVersion current',
      ]);
      gcp.emulator.fail({ kind: 'error', status: transport === 'grpc' ? 16 : 401 });
      expect((await rejection(source.version())).code).toBe('ACCESS_DENIED');
      expect(gcp.emulator.log.last()?.operation).toBe('GetSecretVersion');
    });
  });

  describe('store()', () => {
    it('adds a version with its CRC32C, which load() and version() then return', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      const source = gcp.source({ name: NAME });
      const result = await source.store({ cert: bob.certPem, key: bob.keyPem });
      expect(result).toEqual({ version: '2' });
      const stored = gcp.emulator.secrets.get(NAME, { versionId: '2' })!;
      expect(JSON.parse(Buffer.from(stored.value).toString())).toEqual({
        cert: bob.certPem,
        key: bob.keyPem,
      });
      const body = gcp.emulator.log.last({ operation: 'AddSecretVersion' })?.body as {
        payload: { dataCrc32c: string };
      };
      expect(String(body.payload.dataCrc32c)).toBe(String(crc32c(Buffer.from(stored.value))));
      expect(await source.version()).toBe('2');
      expect((await loadCredentials(await source.load())).fingerprint256).toBe(bob.fingerprint256);
    });

    it('stores a bundle as given, bytes included', async () => {
      gcp.emulator.putSecret('prod-mtls', 'x');
      const pfx = new Uint8Array([0x30, 0x82, 0x01, 0x00, 0xff]);
      await gcp.source({ name: NAME }).store({ bundle: pfx });
      expect(Buffer.from(gcp.emulator.secrets.get(NAME, { versionId: '2' })!.value)).toEqual(
        Buffer.from(pfx),
      );
    });

    it('stages a renewal as a disabled version when reading a pinned version', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      const source = gcp.source({ name: `${NAME}/versions/1` });
      expect(await source.store({ bundle: bundleOf(bob) }, { stage: 'pending' })).toEqual({ version: '2' });
      expect(gcp.emulator.log.operations()).toEqual(['AddSecretVersion', 'DisableSecretVersion']);
      expect(gcp.emulator.secrets.get(NAME, { versionId: '2' })?.enabled).toBe(false);
      expect((await loadCredentials(await source.load())).fingerprint256).toBe(alice.fingerprint256);
    });

    it('refuses a store the source would not read, and a staged one that would break latest, writing nothing', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      const pinned = await rejection(
        gcp.source({ name: `${NAME}/versions/1` }).store({ bundle: bundleOf(bob) }),
      );
      expect(pinned.message).toMatch(/reads version 1, so a new version would never be read/);
      const staged = await rejection(
        gcp.source({ name: NAME }).store({ bundle: bundleOf(bob) }, { stage: 'pending' }),
      );
      expect(staged.message).toMatch(/makes latest unreadable/);
      expect(gcp.emulator.log.count()).toBe(0);
    });

    it('reports a version it could not disable as enabled, naming it', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      gcp.emulator.fail({ kind: 'denied', operation: 'DisableSecretVersion' });
      const err = await rejection(
        gcp.source({ name: `${NAME}/versions/1` }).store({ bundle: 'b' }, { stage: 'p' }),
      );
      expect(err.code).toBe('ACCESS_DENIED');
      expect(err.message).toMatch(/version 2 was added .* it is ENABLED now — disable it/);
    });
  });

  describe('errors', () => {
    const cases = [
      ['notFound', 'SOURCE_NOT_FOUND'],
      ['denied', 'ACCESS_DENIED'],
      ['throttled', 'THROTTLED'],
      ['serverError', 'SOURCE_UNAVAILABLE'],
      ['reset', 'SOURCE_UNAVAILABLE'],
    ] as const;
    it.each(cases)('maps %s to %s, after one call (no retries inside the client)', async (kind, code) => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      const source = gcp.source({ name: NAME });
      gcp.emulator.fail(kind);
      const started = Date.now();
      const err = await rejection(source.load());
      expect(err.code).toBe(code);
      expect(err.sourceId).toBe(source.id);
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(gcp.emulator.log.count({ operation: 'AccessSecretVersion' })).toBe(1);
    });

    it('maps UNAUTHENTICATED / 401 to ACCESS_DENIED and an absent secret to SOURCE_NOT_FOUND', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      gcp.emulator.fail({ kind: 'error', status: transport === 'grpc' ? 16 : 401, code: 'UNAUTHENTICATED' });
      expect((await rejection(gcp.source({ name: NAME }).load())).code).toBe('ACCESS_DENIED');
      const absent = await rejection(gcp.source({ name: 'projects/mtlskit-test/secrets/none' }).version());
      expect(absent.code).toBe('SOURCE_NOT_FOUND');
      expect(absent.message).toMatch(
        /Secret Manager has no projects\/mtlskit-test\/secrets\/none\/versions\/latest/,
      );
    });

    it('gives up at its deadline when the service does not answer, and at once on abort', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      const source = gcp.source({ name: NAME, timeoutMs: 300 });
      gcp.emulator.fail({ kind: 'slow', times: 2 });
      let started = Date.now();
      const late = await rejection(source.load());
      expect(late.code).toBe('SOURCE_UNAVAILABLE');
      // The source's deadline or gRPC's own (given the same budget) ends the call, whichever fires first.
      expect(late.message).toMatch(
        /did not (answer|complete) AccessSecretVersion .*(within 300 ms|Deadline exceeded)/,
      );
      expect(Date.now() - started).toBeLessThan(1_500);
      const controller = new AbortController();
      const reason = new Error('stop');
      started = Date.now();
      const pending = source.version({ signal: controller.signal });
      setTimeout(() => controller.abort(reason), 50);
      await expect(pending).rejects.toBe(reason);
      // Before the 300 ms deadline: the rejection is the abort, not the timeout.
      expect(Date.now() - started).toBeLessThan(1_000);
    });

    it('shows no secret and no token in errors or in the source', async () => {
      const token = 'ya29.mtlskit-test-access-token-0123456789';
      // On REST the request (authorization header included) rides on the client's error object.
      class BearerClient extends (gax.googleAuthLibrary.PassThroughClient as unknown as new () => {
        fetch(url: unknown, init?: { headers?: Headers }): Promise<unknown>;
      }) {
        override fetch(url: unknown, init: { headers?: Headers } = {}) {
          init.headers?.set('authorization', `Bearer ${token}`);
          return super.fetch(url, init);
        }
      }
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      const source = gcpSecretManagerSource({
        name: NAME,
        transport,
        clientOptions: emulatorClientOptions(gcp.emulator, transport, new BearerClient()),
      });
      try {
        await source.load();
        if (transport === 'rest') {
          expect(gcp.emulator.log.last()?.headers.authorization).toBe(`Bearer ${token}`);
        }
        const check = leakCheck([alice.keyPem, token]);
        for (const kind of ['denied', 'serverError', 'corrupt'] as const) {
          gcp.emulator.fail(kind);
          const err = await rejection(source.load());
          check.check(err, `the ${kind} error`);
          expect(inspect(err, { depth: 10 })).not.toContain(token);
        }
        check.check(source, 'the source');
      } finally {
        await source.close();
      }
    });
  });

  describe('the client', () => {
    it('uses an injected client as given and leaves it open', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      const client = gcp.client();
      const close = vi.spyOn(client, 'close' as never);
      const source = gcpSecretManagerSource({ name: NAME, client });
      expect((await loadCredentials(await source.load())).fingerprint256).toBe(alice.fingerprint256);
      await source.close();
      expect(close).not.toHaveBeenCalled();
      expect((await client.getSecretVersion({ name: `${NAME}/versions/1` }))[0].name).toMatch(/versions\/1$/);
      await expect(source.load()).rejects.toMatchObject({ code: 'CLOSED' });
    });

    it('closes the client it built, once', async () => {
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      const close = vi.spyOn(SecretManagerServiceClient.prototype, 'close');
      try {
        const source = gcp.source({ name: NAME });
        await source.close(); // never used: no client was built, none to close
        expect(close).not.toHaveBeenCalled();
        const used = gcp.source({ name: NAME });
        await used.load();
        await used.close();
        await used.close();
        expect(close).toHaveBeenCalledTimes(1);
        await expect(used.version()).rejects.toMatchObject({ code: 'CLOSED' });
      } finally {
        close.mockRestore();
      }
    });
  });
});

describe('options', () => {
  it("accepts the SDK's own client as SecretManagerClientLike, renewal methods included (a type check)", () => {
    // Compiles only while every method the source may call is typed as the real client takes it.
    const client: SecretManagerClientLike = new SecretManagerServiceClient({ fallback: true });
    expect(typeof client.updateSecret).toBe('function');
    return client.close?.();
  });

  it('refuses a malformed name, pointing at the wrong part', () => {
    expect(() => gcpSecretManagerSource({ name: 'prod-mtls' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => gcpSecretManagerSource({ name: 'prod-mtls' })).toThrow(/is not a secret resource name/);
    expect(() => gcpSecretManagerSource({ name: 'projects/Bad_Project/secrets/s' })).toThrow(
      /"Bad_Project" is not a project id/,
    );
    expect(() => gcpSecretManagerSource({ name: 'projects/my-project/secrets/s/versions/1.5' })).toThrow(
      /"1\.5" is not a secret version/,
    );
    expect(() => gcpSecretManagerSource({ name: NAME, timeoutMs: 0 })).toThrow(
      /timeoutMs must be a positive/,
    );
  });

  it('refuses a client that is not a Secret Manager client', () => {
    expect(() => gcpSecretManagerSource({ name: NAME, client: {} as never })).toThrow(
      /is not a SecretManagerServiceClient/,
    );
  });

  it('builds its client for the regional endpoint of a regional name, else the global one', async () => {
    const seen: unknown[] = [];
    // No transport at all: initialize() would look up credentials, the call would dial Google.
    const initialize = vi
      .spyOn(SecretManagerServiceClient.prototype, 'initialize')
      .mockImplementation(async () => ({}) as never);
    const access = vi
      .spyOn(SecretManagerServiceClient.prototype, 'accessSecretVersion')
      .mockImplementation(function (this: SecretManagerServiceClient) {
        // The endpoint the client will dial (its public `apiEndpoint` getter reports the default).
        seen.push((this as unknown as { _opts: { servicePath: string } })._opts.servicePath);
        return Promise.reject(Object.assign(new Error('stopped before the network'), { code: 14 })) as never;
      });
    try {
      for (const name of ['projects/p-1234/locations/europe-west1/secrets/s', 'projects/p-1234/secrets/s']) {
        const source = gcpSecretManagerSource({ name, clientOptions: { universeDomain: 'googleapis.com' } });
        expect((await rejection(source.load())).code).toBe('SOURCE_UNAVAILABLE');
        await source.close();
      }
      expect(seen).toEqual(['secretmanager.europe-west1.rep.googleapis.com', 'secretmanager.googleapis.com']);
    } finally {
      access.mockRestore();
      initialize.mockRestore();
    }
  });

  it.each(TRANSPORTS)(
    'without any Application Default Credentials fails with ACCESS_DENIED over %s, before connecting anywhere',
    async (transport) => {
      const net = trackConnections();
      const home = mkdtempSync(join(tmpdir(), 'mtlskit-gcp-noadc-'));
      vi.stubEnv('GOOGLE_APPLICATION_CREDENTIALS', undefined);
      vi.stubEnv('CLOUDSDK_CONFIG', home);
      vi.stubEnv('HOME', home);
      const source = gcpSecretManagerSource({ name: NAME, transport });
      try {
        const err = await rejection(source.load());
        expect(err.code).toBe('ACCESS_DENIED');
        expect(err.message).toMatch(/no Google credentials were found .* GOOGLE_APPLICATION_CREDENTIALS/);
      } finally {
        await source.close();
        vi.unstubAllEnvs();
        rmSync(home, { recursive: true, force: true });
        net.stop();
      }
      // METADATA_SERVER_DETECTION=none (the test environment) keeps the lookup off the metadata server.
      expect(net.connections).toEqual([]);
    },
  );

  it('reads Application Default Credentials (a service account file), also once they appear after a failed call', async () => {
    const gcp = await startGcpHarness('rest');
    const dir = mkdtempSync(join(tmpdir(), 'mtlskit-gcp-adc-'));
    try {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const file = join(dir, 'sa.json');
      writeFileSync(
        file,
        JSON.stringify({
          type: 'service_account',
          project_id: 'mtlskit-test',
          private_key_id: 'k1',
          private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
          client_email: 'mtls@mtlskit-test.iam.gserviceaccount.com',
          client_id: '1',
          token_uri: 'https://oauth2.googleapis.com/token',
        }),
        { mode: 0o600 },
      );
      vi.stubEnv('GOOGLE_APPLICATION_CREDENTIALS', undefined);
      vi.stubEnv('CLOUDSDK_CONFIG', dir);
      vi.stubEnv('HOME', dir);
      gcp.emulator.putSecret('prod-mtls', bundleOf(alice));
      const source = gcp.source({
        name: NAME,
        clientOptions: { apiEndpoint: '127.0.0.1', port: gcp.emulator.port, protocol: 'http' } as never,
      });
      expect((await rejection(source.load())).code).toBe('ACCESS_DENIED');
      expect(gcp.emulator.log.count()).toBe(0);
      // The failed client is dropped: the next call builds one that finds the credentials.
      vi.stubEnv('GOOGLE_APPLICATION_CREDENTIALS', file);
      expect((await loadCredentials(await source.load())).fingerprint256).toBe(alice.fingerprint256);
      // A self-signed JWT from the service account's key: no token endpoint, no metadata server.
      expect(String(gcp.emulator.log.last()?.headers.authorization)).toMatch(/^Bearer eyJ/);
    } finally {
      vi.unstubAllEnvs();
      rmSync(dir, { recursive: true, force: true });
      await gcp.close();
    }
  });
});
