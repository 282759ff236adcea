// Named resolvers share nothing. Three credentials — one in AWS Secrets Manager (the real SDK
// against the testkit emulator), one in files, one in environment variables — each behind its own
// resolver, with concurrent requests through all of them to a real mTLS server that reports the
// client certificate it saw: never the wrong one, also while one rotates; and a source that fails
// (at start, and on a later refresh) leaves the others ready and serving.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTlsResolvers,
  envSource,
  MtlsError,
  type TlsResolver,
  type TlsResolverSet,
  tlsResolversFromEnv,
} from '@mtlskit/core';
import {
  type AwsSecretsManagerEmulator,
  type ConnectionTracker,
  type IssuedCert,
  leakCheck,
  type MtlsTestServer,
  startAwsSecretsManagerEmulator,
  startMtlsServer,
  TestCA,
  trackConnections,
} from '@mtlskit/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { getWithAgent } from '../resolver/helpers.js';

const AWS_ENV = {
  AWS_ACCESS_KEY_ID: 'AKIDNAMEDTEST',
  AWS_SECRET_ACCESS_KEY: 'named-test-secret-access-key',
  AWS_CONFIG_FILE: '/nonexistent/mtlskit-aws-config',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/mtlskit-aws-credentials',
};

let ca: TestCA;
let server: MtlsTestServer;
let emulator: AwsSecretsManagerEmulator;
let net: ConnectionTracker;
let temp: string;
const cert: Record<'eu' | 'euRotated' | 'test' | 'testRotated' | 'local', IssuedCert> = {} as never;
const open: TlsResolverSet[] = [];

const bundle = (c: IssuedCert) => JSON.stringify({ cert: c.certPem, key: c.keyPem, ca: server.caPem });
const awsRef = (secret: string) =>
  `aws-sm://${secret}?region=eu-west-1&endpoint=${emulator.url}&maxAttempts=1&timeoutMs=2000`;
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** A directory holding `c` as a Kubernetes TLS secret would, trusting the server's CA. */
function writeDir(dir: string, c: IssuedCert): string {
  writeFileSync(join(dir, 'tls.key'), c.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'tls.crt'), c.certPem);
  writeFileSync(join(dir, 'ca.crt'), server.caPem);
  return dir;
}

beforeAll(async () => {
  ca = await TestCA.create();
  for (const name of Object.keys({ eu: 0, euRotated: 0, test: 0, testRotated: 0, local: 0 })) {
    cert[name as keyof typeof cert] = await ca.issueClient({ commonName: name });
  }
  server = await startMtlsServer({ clientCa: ca });
  emulator = await startAwsSecretsManagerEmulator({ region: 'eu-west-1' });
  temp = mkdtempSync(join(tmpdir(), 'mtlskit-named-e2e-'));
});
afterAll(async () => {
  await Promise.all([server.close(), emulator.close()]);
  rmSync(temp, { recursive: true, force: true });
});
beforeEach(() => {
  for (const [name, value] of Object.entries(AWS_ENV)) vi.stubEnv(name, value);
  net = trackConnections();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((set) => set.close()));
  vi.unstubAllEnvs();
  net.stop();
  // The AWS SDK reached the emulator only: no metadata endpoint, nothing off loopback.
  expect(net.offLoopback()).toEqual([]);
});

/** One request through the resolver, alternately by its https.Agent and by its fetch. */
async function presented(tls: TlsResolver, path: string, i: number): Promise<string | null> {
  if (i % 2 === 0) {
    const reply = await getWithAgent(`${server.url}${path}`, tls.agent());
    expect(reply.status).toBe(200);
    return reply.fingerprint256;
  }
  const response = await tls.fetch(`${server.url}${path}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { fingerprint256: string | null }).fingerprint256;
}

/** `perName` concurrent requests through every resolver of the set; the fingerprints seen, by name. */
async function burst(set: TlsResolverSet, perName: number): Promise<Record<string, Set<string | null>>> {
  const seen = Object.fromEntries(set.names.map((name) => [name, new Set<string | null>()]));
  await Promise.all(
    set.names.flatMap((name) =>
      Array.from({ length: perName }, (_, i) =>
        presented(set.get(name), `/${name}/${i}`, i).then((fp) => seen[name]!.add(fp)),
      ),
    ),
  );
  return seen;
}

describe('named resolvers from a config object', () => {
  it('each request presents its own name’s certificate, under concurrency and while one rotates', async () => {
    emulator.putSecret('eu/mtls', bundle(cert.eu));
    const set = createTlsResolvers({
      eu: awsRef('eu/mtls'),
      test: {
        source: `file:${writeDir(mkdtempSync(join(temp, 'test-')), cert.test)}`,
        refreshIntervalMs: 60_000,
      },
      local: envSource({
        env: { MTLS_CERT: b64(cert.local.certPem), MTLS_KEY: b64(cert.local.keyPem), MTLS_CA: server.caPem },
      }),
    });
    open.push(set);

    const cold = await burst(set, 20);
    expect(cold).toEqual({
      eu: new Set([cert.eu.fingerprint256]),
      test: new Set([cert.test.fingerprint256]),
      local: new Set([cert.local.fingerprint256]),
    });

    // Rotation of "eu" in the store while requests run through all three.
    let rotated = false;
    const during: Array<{ name: string; fp: string | null; startedAfterRotation: boolean }> = [];
    const traffic = (async () => {
      for (let round = 0; round < 15; round++) {
        await Promise.all(
          set.names.flatMap((name) =>
            Array.from({ length: 6 }, (_, i) => {
              const startedAfterRotation = rotated;
              return presented(set.get(name), `/${name}/r${round}/${i}`, i).then((fp) =>
                during.push({ name, fp, startedAfterRotation }),
              );
            }),
          ),
        );
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    emulator.putSecret('eu/mtls', bundle(cert.euRotated));
    const now = await set.get('eu').refresh();
    rotated = true;
    await traffic;

    expect(now.fingerprint256).toBe(cert.euRotated.fingerprint256);
    expect(during).toHaveLength(15 * 6 * 3);
    for (const { name, fp, startedAfterRotation } of during) {
      const allowed =
        name === 'eu'
          ? startedAfterRotation
            ? [cert.euRotated.fingerprint256]
            : [cert.eu.fingerprint256, cert.euRotated.fingerprint256]
          : [cert[name as 'test' | 'local'].fingerprint256];
      expect(allowed, `${name} presented ${fp}`).toContain(fp);
    }
    expect(during.some((r) => r.name === 'eu' && r.startedAfterRotation)).toBe(true);
    // The rotation touched "eu" only: the others never re-read their sources' content.
    const health = set.health();
    expect(health.eu?.fingerprint256).toBe(cert.euRotated.fingerprint256);
    expect(health.test?.fingerprint256).toBe(cert.test.fingerprint256);
    expect(health.local?.fingerprint256).toBe(cert.local.fingerprint256);

    // The server's own record agrees: every request it saw under /<name>/ carried that name's certificates.
    const byPath = (name: string) =>
      new Set(server.requests.filter((r) => r.path.startsWith(`/${name}/`)).map((r) => r.peerFingerprint256));
    expect(byPath('eu')).toEqual(new Set([cert.eu.fingerprint256, cert.euRotated.fingerprint256]));
    expect(byPath('test')).toEqual(new Set([cert.test.fingerprint256]));
    expect(byPath('local')).toEqual(new Set([cert.local.fingerprint256]));
  });
});

describe('named resolvers from the environment', () => {
  it('MTLS_SOURCE and MTLS_SOURCE_<NAME> over three backends, one rotating its files under load', async () => {
    emulator.putSecret('eu/env-mtls', bundle(cert.eu));
    const dir = writeDir(mkdtempSync(join(temp, 'env-test-')), cert.test);
    const env = {
      MTLS_SOURCE: 'env:',
      MTLS_CERT: b64(cert.local.certPem),
      MTLS_KEY: b64(cert.local.keyPem),
      MTLS_CA: b64(server.caPem),
      MTLS_SOURCE_EU_WEST: awsRef('eu/env-mtls'),
      MTLS_SOURCE_TEST: `file:${dir}`,
    };
    const set = tlsResolversFromEnv(env);
    open.push(set);
    expect(set.names).toEqual(['default', 'eu_west', 'test']);

    expect(await burst(set, 20)).toEqual({
      default: new Set([cert.local.fingerprint256]),
      eu_west: new Set([cert.eu.fingerprint256]),
      test: new Set([cert.test.fingerprint256]),
    });

    const before = await burst(set, 5);
    writeDir(dir, cert.testRotated);
    const now = await set.get('test').refresh();
    expect(now.fingerprint256).toBe(cert.testRotated.fingerprint256);
    const after = await burst(set, 20);
    expect(before.test).toEqual(new Set([cert.test.fingerprint256]));
    expect(after).toEqual({
      default: new Set([cert.local.fingerprint256]),
      eu_west: new Set([cert.eu.fingerprint256]),
      test: new Set([cert.testRotated.fingerprint256]),
    });
  });
});

describe('a failing source leaves the others healthy', () => {
  it('at start: the broken name reports its error, the others load and serve', async () => {
    const check = leakCheck([cert.eu.keyPem, cert.local.keyPem, AWS_ENV.AWS_SECRET_ACCESS_KEY]);
    const set = createTlsResolvers({
      missing: awsRef('eu/never-created'),
      test: `file:${writeDir(mkdtempSync(join(temp, 'fail-test-')), cert.test)}`,
      local: envSource({
        env: { MTLS_CERT: b64(cert.local.certPem), MTLS_KEY: b64(cert.local.keyPem), MTLS_CA: server.caPem },
      }),
    });
    open.push(set);
    const outcomes = await Promise.allSettled(set.names.map((name) => set.get(name).credentials()));
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    const error = (outcomes[0] as PromiseRejectedResult).reason;
    expect(MtlsError.is(error, 'SOURCE_NOT_FOUND')).toBe(true);
    check.check(error, 'the missing secret’s error');

    await expect(presented(set.get('missing'), '/missing/0', 0)).rejects.toBeInstanceOf(Error);
    expect(await burst(createSubset(set, ['test', 'local']), 10)).toEqual({
      test: new Set([cert.test.fingerprint256]),
      local: new Set([cert.local.fingerprint256]),
    });
    const health = set.health();
    expect(health.missing).toMatchObject({ ready: false, lastError: { code: 'SOURCE_NOT_FOUND' } });
    expect(health.test).toMatchObject({ ready: true, stale: false });
    expect(health.local).toMatchObject({ ready: true, stale: false });
    expect(health.test?.lastError).toBeUndefined();
    check.check(health, 'health()');
  });

  it('on a later refresh: the failing name serves its last good certificate (stale), the others are untouched', async () => {
    emulator.putSecret('eu/flaky', bundle(cert.eu));
    const set = createTlsResolvers({
      flaky: awsRef('eu/flaky'),
      test: `file:${writeDir(mkdtempSync(join(temp, 'stale-test-')), cert.test)}`,
    });
    open.push(set);
    await burst(set, 4);
    const fault = emulator.fail({ kind: 'serverError', secret: 'eu/flaky', times: Number.POSITIVE_INFINITY });
    try {
      await expect(set.get('flaky').refresh()).rejects.toMatchObject({ code: 'SOURCE_UNAVAILABLE' });
      const health = set.health();
      expect(health.flaky).toMatchObject({
        ready: true,
        stale: true,
        lastError: { code: 'SOURCE_UNAVAILABLE' },
      });
      expect(health.test).toMatchObject({ ready: true, stale: false });
      expect(await set.get('test').refresh()).toMatchObject({ fingerprint256: cert.test.fingerprint256 });
      expect(await burst(set, 10)).toEqual({
        flaky: new Set([cert.eu.fingerprint256]),
        test: new Set([cert.test.fingerprint256]),
      });
    } finally {
      fault.clear();
    }
  });
});

/** A view of some names of a set, for burst(). */
function createSubset(set: TlsResolverSet, names: string[]): TlsResolverSet {
  return { ...set, names, get: (name) => set.get(name) };
}
