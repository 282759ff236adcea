// End to end: the real mangopay4-nodejs-sdk (1.68.0) against a loopback stand-in for Mangopay's
// api-mtls host (OAuth token + a resource, client certificate required and recorded), credentials from
// env:, file: and the AWS Secrets Manager emulator through mtlskit. What the server saw is the proof:
// which certificate each call carried, on which connection.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { awsSecretsManagerSource } from '@mtlskit/aws';
import { envSource, type TlsResolver } from '@mtlskit/core';
import { attachMangopay, createMangopayResolver, mangopaySdkConfig } from '@mtlskit/mangopay';
import {
  type ConnectionTracker,
  type IssuedCert,
  startAwsSecretsManagerEmulator,
  TestCA,
  trackConnections,
} from '@mtlskit/testkit';
import Mangopay from 'mangopay4-nodejs-sdk';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type MangopayApi, startMangopayApi } from './api.js';

const KEYS = { alice: 'api-key-of-alice', bob: 'api-key-of-bob' } as const;
type Account = keyof typeof KEYS;

let ca: TestCA;
let api: MangopayApi;
let net: ConnectionTracker;
let certs: Record<'alice' | 'aliceRenewed' | 'bob' | 'aliceProd', IssuedCert>;
let dir: string;
const open: TlsResolver[] = [];

function issue(clientId: string, label = 'sandbox') {
  const name = `${clientId}.${label}.mangopay.com`;
  return ca.issueClient({
    keyType: 'rsa2048',
    subject: `CN=${name}, O=Mangopay, C=LU`,
    dnsNames: [name],
    validForSeconds: 365 * 86_400,
  });
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** A Mangopay SDK instance for an account, pointed at the stand-in (the SDK logs errors unless told not to). */
function sdk(account: Account, config: Record<string, unknown> = {}): Mangopay {
  return new Mangopay({
    clientId: account,
    clientApiKey: KEYS[account],
    baseUrl: api.url,
    errorHandler: () => {},
    ...config,
  } as never);
}

function track(resolver: TlsResolver): TlsResolver {
  open.push(resolver);
  return resolver;
}

/** A Mangopay resolver reading `env:`-style variables (Base64, as the guide stores them). */
function envResolver(account: Account, cert: IssuedCert): TlsResolver {
  const env = {
    MANGOPAY_CERT: b64(cert.certPem),
    MANGOPAY_KEY: b64(cert.keyPem),
    MANGOPAY_CA: b64(api.caPem),
  };
  return track(
    createMangopayResolver({
      source: envSource({ prefix: 'MANGOPAY_', env }),
      clientId: account,
      environment: 'sandbox',
      onWarning: () => {},
    }),
  );
}

function writeDir(path: string, cert: IssuedCert): void {
  writeFileSync(join(path, 'certificate.pem'), cert.certPem);
  writeFileSync(join(path, 'private.key'), cert.keyPem, { mode: 0o600 });
  writeFileSync(join(path, 'ca.pem'), api.caPem);
}

const resources = () => api.calls.filter((c) => c.kind === 'resource');

beforeAll(async () => {
  ca = await TestCA.create();
  api = await startMangopayApi(ca, KEYS);
  const [alice, aliceRenewed, bob, aliceProd] = await Promise.all([
    issue('alice'),
    issue('alice'),
    issue('bob'),
    issue('alice', 'prod'),
  ]);
  certs = { alice, aliceRenewed, bob, aliceProd } as typeof certs;
  dir = mkdtempSync(join(tmpdir(), 'mtlskit-mangopay-e2e-'));
});

beforeEach(() => {
  api.calls.length = 0;
  net = trackConnections();
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
  net.stop();
  expect(net.offLoopback()).toEqual([]);
});

afterAll(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the Mangopay SDK through attachMangopay', () => {
  it('completes the OAuth call and a resource call over mTLS with credentials from env:', async () => {
    const resolver = envResolver('alice', certs.alice);
    const client = attachMangopay(sdk('alice'), resolver);
    const answer = (await client.Clients.get()) as unknown as Record<string, unknown>;
    expect(answer).toMatchObject({ ClientId: 'alice', CertificateFingerprint: certs.alice.fingerprint256 });
    expect(api.calls.map((c) => [c.kind, c.status, c.fingerprint256])).toEqual([
      ['oauth', 200, certs.alice.fingerprint256],
      ['resource', 200, certs.alice.fingerprint256],
    ]);
  });

  it('completes them with credentials from file:, and picks up a renewal written mid-run', async () => {
    const path = mkdtempSync(join(dir, 'file-'));
    writeDir(path, certs.alice);
    const resolver = track(
      createMangopayResolver({
        source: `file:${path}`,
        clientId: 'alice',
        environment: 'sandbox',
        onWarning: () => {},
      }),
    );
    const client = attachMangopay(sdk('alice'), resolver);
    for (let i = 0; i < 3; i++) await client.Clients.get();
    writeDir(path, certs.aliceRenewed);
    await resolver.refresh();
    for (let i = 0; i < 3; i++) await client.Clients.get();
    const seen = resources();
    expect(seen.map((c) => c.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(seen.slice(0, 3).every((c) => c.fingerprint256 === certs.alice.fingerprint256)).toBe(true);
    expect(seen.slice(3).every((c) => c.fingerprint256 === certs.aliceRenewed.fingerprint256)).toBe(true);
    // The renewed certificate went out on a new connection: the old one was not reused or resumed.
    const before = new Set(seen.slice(0, 3).map((c) => c.connectionId));
    expect(seen.slice(3).some((c) => before.has(c.connectionId))).toBe(false);
    const renewedConnection = api.server.connections.find((c) => c.id === seen[3]?.connectionId);
    expect(renewedConnection?.sessionReused).toBe(false);
  });

  it('completes them with credentials from AWS Secrets Manager (emulator), and follows a rotation there', async () => {
    const emulator = await startAwsSecretsManagerEmulator({ region: 'eu-west-1' });
    try {
      const bundle = (cert: IssuedCert) =>
        JSON.stringify({ cert: cert.certPem, key: cert.keyPem, ca: api.caPem });
      emulator.putSecret('mangopay/alice', bundle(certs.alice));
      const source = awsSecretsManagerSource({
        secretId: 'mangopay/alice',
        endpoint: emulator.url,
        region: 'eu-west-1',
        credentials: { accessKeyId: 'AKIDMANGOPAYTEST', secretAccessKey: 'mangopay-e2e-secret-access-key' },
        maxAttempts: 1,
      });
      const resolver = track(
        createMangopayResolver({ source, clientId: 'alice', environment: 'sandbox', onWarning: () => {} }),
      );
      const client = attachMangopay(sdk('alice'), resolver);
      await client.Clients.get();
      emulator.putSecret('mangopay/alice', bundle(certs.aliceRenewed));
      const rotated = new Promise((resolve) => resolver.once('rotated', resolve));
      await resolver.refresh();
      await expect(rotated).resolves.toMatchObject({
        previousFingerprint256: certs.alice.fingerprint256,
        fingerprint256: certs.aliceRenewed.fingerprint256,
      });
      await client.Clients.get();
      expect(resources().map((c) => c.fingerprint256)).toEqual([
        certs.alice.fingerprint256,
        certs.aliceRenewed.fingerprint256,
      ]);
      await source.close();
    } finally {
      await emulator.close();
    }
  });

  it('loses no call when the certificate rotates while calls are running', async () => {
    let current = certs.alice;
    const resolver = track(
      createMangopayResolver({
        source: {
          id: 'test:rotating',
          load: async () => ({ cert: current.certPem, key: current.keyPem, ca: api.caPem }),
        },
        clientId: 'alice',
        environment: 'sandbox',
        onWarning: () => {},
      }),
    );
    const client = attachMangopay(sdk('alice'), resolver);
    await client.Clients.get();
    const running = Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let i = 0; i < 10; i++) await client.Clients.get();
      }),
    );
    await new Promise((r) => setTimeout(r, 20));
    current = certs.aliceRenewed;
    await resolver.refresh();
    await running;
    const after = await client.Clients.get();
    expect((after as unknown as { CertificateFingerprint: string }).CertificateFingerprint).toBe(
      certs.aliceRenewed.fingerprint256,
    );
    expect(resources()).toHaveLength(42);
    expect(resources().every((c) => c.status === 200)).toBe(true);
    // Every connection opened after the rotation carries the renewed certificate.
    const rotatedAt = api.calls.find((c) => c.fingerprint256 === certs.aliceRenewed.fingerprint256);
    const firstNew = api.server.connections.find((c) => c.id === rotatedAt?.connectionId);
    const later = api.server.connections.filter((c) => c.openedAt > (firstNew?.openedAt ?? 0));
    expect(later.every((c) => c.peerFingerprint256 === certs.aliceRenewed.fingerprint256)).toBe(true);
  });

  it('reuses one connection for the OAuth call and every resource call', async () => {
    const client = attachMangopay(sdk('alice'), envResolver('alice', certs.alice));
    for (let i = 0; i < 20; i++) await client.Clients.get();
    expect(api.calls).toHaveLength(21);
    expect(new Set(api.calls.map((c) => c.connectionId)).size).toBe(1);
  });

  it('where the SDK’s own agent (mangopaySdkConfig) opens a connection per call', async () => {
    const client = sdk('alice', {
      ...(await mangopaySdkConfig(envResolver('alice', certs.alice), { baseUrl: api.url })),
    });
    for (let i = 0; i < 5; i++) await client.Clients.get();
    expect(resources().map((c) => c.fingerprint256)).toEqual(Array(5).fill(certs.alice.fingerprint256));
    expect(new Set(api.calls.map((c) => c.connectionId)).size).toBe(6);
  });
});

describe('a certificate that is not the account’s', () => {
  it.each([
    ['another ClientId', () => certs.bob, 'is for ClientId "bob", not "alice"'],
    ['another environment', () => certs.aliceProd, 'the name for production (prod), not sandbox (sandbox)'],
  ])('of %s is reported before the first request reaches the server', async (_what, cert, says) => {
    const resolver = envResolver('alice', cert());
    await expect(resolver.credentials()).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
      message: expect.stringContaining(says),
    });
    const client = attachMangopay(sdk('alice'), resolver);
    await expect(client.Clients.get()).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
      message: expect.stringContaining(says),
    });
    expect(api.calls).toEqual([]);
    expect(api.server.connections.filter((c) => c.peerFingerprint256 === cert().fingerprint256)).toEqual([]);
  });
});

describe('when the credential becomes unusable', () => {
  // Without attachMangopay's check, the SDK's own error handler throws a TypeError for a request that
  // got no response: the call would never settle and the process would see an unhandled rejection.
  it('a call after the certificate expired rejects with EXPIRED instead of hanging', async () => {
    const shortLived = await ca.issueClient({
      keyType: 'rsa2048',
      subject: 'CN=alice.sandbox.mangopay.com, O=Mangopay, C=LU',
      dnsNames: ['alice.sandbox.mangopay.com'],
      validForSeconds: 6,
    });
    const client = attachMangopay(sdk('alice'), envResolver('alice', shortLived));
    await client.Clients.get();
    await new Promise((r) => setTimeout(r, shortLived.notAfter.getTime() - Date.now() + 1_100));
    await expect(client.Clients.get()).rejects.toMatchObject({ code: 'EXPIRED' });
    expect(resources()).toHaveLength(1);
  });

  it('a call after the resolver was closed rejects with CLOSED', async () => {
    const resolver = envResolver('alice', certs.alice);
    const client = attachMangopay(sdk('alice'), resolver);
    await client.Clients.get();
    await resolver.close();
    await expect(client.Clients.get()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('attaching again', () => {
  it('moves the instance to the new resolver: its certificate, and its check before each call', async () => {
    const first = envResolver('alice', certs.alice);
    const second = envResolver('alice', certs.aliceRenewed);
    const client = attachMangopay(sdk('alice'), first);
    await client.Clients.get();
    attachMangopay(client, second);
    await first.close();
    await client.Clients.get();
    expect(resources().map((c) => c.fingerprint256)).toEqual([
      certs.alice.fingerprint256,
      certs.aliceRenewed.fingerprint256,
    ]);
  });
});

describe('two accounts in one process', () => {
  it('mtlskit’s agents never cross certificates, and attached instances keep their own tokens', async () => {
    const alice = attachMangopay(sdk('alice'), envResolver('alice', certs.alice));
    const bob = attachMangopay(sdk('bob'), envResolver('bob', certs.bob));
    await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const client = i % 2 === 0 ? alice : bob;
        for (let j = 0; j < 5; j++) await client.Clients.get();
      }),
    );
    const seen = resources();
    expect(seen).toHaveLength(30);
    for (const call of seen) {
      expect(call.status).toBe(200);
      expect(call.certClientId).toBe(call.pathClientId);
      expect(call.tokenClientId).toBe(call.pathClientId);
      const cert = call.pathClientId === 'alice' ? certs.alice : certs.bob;
      expect(call.fingerprint256).toBe(cert.fingerprint256);
    }
    // The SDK asks for a token from each call that finds none (no single flight): several per account,
    // each on the account's own certificate.
    const oauth = api.calls.filter((c) => c.kind === 'oauth');
    expect(new Set(oauth.map((c) => c.tokenClientId))).toEqual(new Set(['alice', 'bob']));
    expect(oauth.every((c) => c.tokenClientId === c.certClientId && c.status === 200)).toBe(true);
    // Each account's connections carry only its own certificate.
    const byConnection = new Map<number, Set<string | undefined>>();
    for (const call of api.calls) {
      byConnection.set(
        call.connectionId,
        (byConnection.get(call.connectionId) ?? new Set()).add(call.fingerprint256),
      );
    }
    expect([...byConnection.values()].every((prints) => prints.size === 1)).toBe(true);
  });

  it('the SDK alone shares one token and one ClientId between instances (why attachMangopay isolates them)', async () => {
    const config = async (account: Account, cert: IssuedCert) =>
      mangopaySdkConfig(envResolver(account, cert), { baseUrl: api.url });
    const alice = sdk('alice', { ...(await config('alice', certs.alice)) });
    const bob = sdk('bob', { ...(await config('bob', certs.bob)) });
    await alice.Clients.get().catch(() => {});
    const bobAnswer = await bob.Clients.get().then(
      () => 'ok',
      () => 'refused',
    );
    const resource = resources();
    // Bob's instance reused the token alice's instance obtained, in bob's certificate's connection,
    // and both instances put the last-built instance's ClientId (bob) in their paths.
    expect(resource.map((c) => [c.certClientId, c.tokenClientId, c.pathClientId])).toEqual([
      ['alice', 'alice', 'bob'],
      ['bob', 'alice', 'bob'],
    ]);
    expect(bobAnswer).toBe('refused');
  });
});
