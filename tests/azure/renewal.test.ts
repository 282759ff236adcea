// End to end: a staged renewal in Azure Key Vault through @mtlskit/cli/renewal (start → complete →
// check the pending version → promote → rollback), the real SecretClient against the loopback
// emulator, while an application's resolver makes continuous requests to a real mTLS server. None
// fails; the server sees the old certificate until the promotion, the new one after it, and the old
// one again after the rollback; the application's source never reads more than one getSecret per
// refresh (no list of versions: renewal never disables the newest version).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { azureKeyVaultSource, azureKvScheme } from '@mtlskit/azure';
import { run } from '@mtlskit/cli';
import {
  completeRenewal,
  loadPending,
  pendingSource,
  promoteRenewal,
  rollbackRenewal,
  startRenewal,
} from '@mtlskit/cli/renewal';
import { createTlsResolver, type RefreshFailedEvent } from '@mtlskit/core';
import { registerSourceFactory } from '@mtlskit/core/adapter';
import {
  type AzureKeyVaultEmulator,
  type ConnectionTracker,
  httpsRequest,
  type IssuedCert,
  leakCheck,
  type MtlsTestServer,
  startAzureKeyVaultEmulator,
  startMtlsServer,
  TestCA,
  trackConnections,
} from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../support/e2e.js';

const SECRET = 'mangopay-mtls';
const TOKEN = 'e2e-kv-renewal-bearer-token';
const NAME = 'CN=client-42.sandbox.mangopay.com, O=Mangopay, C=LU';
const DNS = 'client-42.sandbox.mangopay.com';

let net: ConnectionTracker;
let ca: TestCA;
let server: MtlsTestServer;
let old: IssuedCert;
let emulator: AzureKeyVaultEmulator;
let dir: string;
let unregister: (() => void) | undefined;
beforeAll(async () => {
  net = trackConnections();
  ca = await TestCA.create({ commonName: 'renewal client CA' });
  server = await startMtlsServer({ clientCa: ca });
  old = await ca.issueClient({ subject: NAME, dnsNames: [DNS], validForSeconds: 30 * 86_400 });
  emulator = await startAzureKeyVaultEmulator();
  dir = await mkdtemp(join(tmpdir(), 'mtlskit-e2e-azure-renew-'));
  // The CLI builds its source from the reference alone (DefaultAzureCredential, Key Vault's TLS and
  // challenge checks): for the emulator, azure-kv: references in this process get the test client.
  unregister = registerSourceFactory(azureKvScheme, (ref) =>
    azureKeyVaultSource({
      id: ref.id,
      name: ref.target.secret,
      vaultUrl: ref.target.vaultUrl,
      ...(ref.target.version !== undefined && { version: ref.target.version }),
      ...testClient(),
    }),
  );
});
afterAll(async () => {
  unregister?.();
  await rm(dir, { recursive: true, force: true });
  await emulator?.close();
  await server?.close();
  net?.stop();
  expect(net.offLoopback()).toEqual([]);
});

/** How sources reach the emulator: a static token, its CA, no challenge-resource check, no retries. */
const testClient = () => ({
  credential: { getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3600_000 }) },
  clientOptions: { tlsOptions: { ca: emulator.caPem }, disableChallengeResourceVerification: true },
  maxRetries: 0,
  timeoutMs: 2_000,
});

/** A Key Vault source on the emulator, as an application or the renewing job configures one. */
const sourceOf = (name: string) => azureKeyVaultSource({ name, vaultUrl: emulator.url, ...testClient() });

/** `mtlskit ARGS` in this process; its exit code, standard output and error. */
async function mtlskit(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    out: (t) => {
      stdout += t;
    },
    err: (t) => {
      stderr += t;
    },
    progress: () => {},
    readStdin: async () => Buffer.alloc(0),
    env: { PATH: process.env.PATH, NO_PROXY: '127.0.0.1,localhost' },
    cwd: dir,
  });
  return { code, stdout, stderr };
}

describe('staged renewal over Azure Key Vault', () => {
  it('start → complete → check pending → promote → rollback while a client makes requests: none fails', async () => {
    emulator.putSecret(SECRET, JSON.stringify({ cert: old.fullChainPem, key: old.keyPem, ca: server.caPem }));
    const app = sourceOf(SECRET);
    const resolver = createTlsResolver({ source: app, refreshIntervalMs: 50, jitter: 0 });
    const refreshFailures: RefreshFailedEvent[] = [];
    resolver.on('refreshFailed', (e) => refreshFailures.push(e));
    const seen: string[] = [];
    const failures: unknown[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        try {
          const r = await httpsRequest(`${server.url}/ping`, { agent: resolver.agent() });
          if (r.status !== 200) failures.push(r.status);
          else seen.push(JSON.parse(r.body).fingerprint256 as string);
        } catch (err) {
          failures.push(err);
        }
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    /** Resolves once a request made from now on was served with `fingerprint`. */
    const served = (fingerprint: string, what: string) => {
      const from = seen.length;
      return until(() => seen.slice(from).includes(fingerprint), what);
    };

    const renewer = sourceOf(SECRET);
    const results: unknown[] = [];
    let newKey = '';
    try {
      await served(old.fingerprint256, 'a request with the current certificate');
      const started = await startRenewal(renewer);
      results.push(started);
      newKey = JSON.parse(String(emulator.secrets.latest(`${SECRET}-mtlskit-pending`)!.value)).key as string;
      expect(started.identity.subject).toEqual([
        ['CN', DNS],
        ['O', 'Mangopay'],
        ['C', 'LU'],
      ]);
      // Before the certificate is in, the pending version cannot be checked.
      const incomplete = await loadPending(renewer).catch((e: unknown) => e);
      expect((incomplete as { code?: string }).code).toBe('MISSING_FIELD');

      const signed = await ca.signCsr(started.csrPem, { validForSeconds: 365 * 86_400 });
      const completed = await completeRenewal(renewer, signed.fullChainPem);
      results.push(completed);
      expect(await loadPending(renewer)).toEqual({
        version: completed.version,
        certificate: completed.certificate,
      });

      // A real handshake with the pending credential; running clients still use the old one.
      const trial = createTlsResolver({ source: pendingSource(renewer), mode: 'on-access' });
      const checked = await httpsRequest(`${server.url}/check`, { agent: trial.agent() });
      await trial.close();
      expect(checked.status).toBe(200);
      expect(server.requests.filter((q) => q.path === '/check').at(-1)?.peerFingerprint256).toBe(
        signed.fingerprint256,
      );
      await served(old.fingerprint256, 'the old certificate while a renewal is pending');

      const promoted = await promoteRenewal(renewer, { version: completed.version });
      results.push(promoted);
      expect(promoted.current).toBe(emulator.secrets.latest(SECRET)!.id);
      await served(signed.fingerprint256, 'the new certificate after the promotion');

      const back = await rollbackRenewal(renewer);
      results.push(back);
      expect(back).toEqual({ current: emulator.secrets.latest(SECRET)!.id, previous: promoted.current });
      await served(old.fingerprint256, 'the old certificate after the rollback');
    } finally {
      running = false;
      await loop;
      await resolver.close();
      await renewer.close();
    }
    expect(failures).toEqual([]);
    expect(refreshFailures).toEqual([]);
    expect(seen.length).toBeGreaterThan(10);
    // The server saw exactly the old certificate, then the new one, then the old one again.
    const order = seen.filter((f, i) => i === 0 || seen[i - 1] !== f);
    expect(order).toEqual([old.fingerprint256, expect.any(String), old.fingerprint256]);
    expect(order[1]).not.toBe(old.fingerprint256);
    // Nobody listed versions or read a disabled one: every refresh was one getSecret.
    expect(emulator.log.count({ operation: 'ListSecretVersions' })).toBe(0);
    expect(emulator.log.calls().filter((c) => c.status === 403)).toEqual([]);
    const leaks = leakCheck([old.keyPem, newKey, TOKEN]);
    for (const [i, r] of results.entries()) leaks.check(r, `result ${i}`);
  });

  it('mtlskit renew start|complete|promote|rollback and check --pending with an azure-kv: reference', async () => {
    const name = 'cli-mtls';
    const first = emulator.putSecret(
      name,
      JSON.stringify({ cert: old.fullChainPem, key: old.keyPem, ca: server.caPem }),
    );
    const ref = `azure-kv://${new URL(emulator.url).host}/${name}`;
    const outputs: { code: number; stdout: string; stderr: string }[] = [];
    const step = async (args: string[]) => {
      const r = await mtlskit(args);
      outputs.push(r);
      return r;
    };

    const start = await step(['renew', 'start', '--source', ref, '--json']);
    expect(start.code, start.stderr).toBe(0);
    const started = JSON.parse(start.stdout);
    expect(started).toMatchObject({
      subject: NAME,
      pendingVersion: emulator.secrets.latest(`${name}-mtlskit-pending`)!.id,
    });
    const newKey = JSON.parse(String(emulator.secrets.latest(`${name}-mtlskit-pending`)!.value))
      .key as string;
    const signed = await ca.signCsr(started.csr, { validForSeconds: 365 * 86_400 });
    const certFile = join(dir, 'certificate.pem');
    await writeFile(certFile, signed.fullChainPem);

    const complete = await step(['renew', 'complete', '--source', ref, '--cert', certFile, '--json']);
    expect(complete.code, complete.stderr).toBe(0);
    const completed = JSON.parse(complete.stdout);
    const check = await step([
      'check',
      '--source',
      ref,
      '--pending',
      '--url',
      `${server.url}/check`,
      '--json',
    ]);
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({
      status: 'accepted',
      clientCertificate: { fingerprint256: signed.fingerprint256 },
    });
    expect(emulator.secrets.latest(name)!.id).toBe(first.id);

    const wrong = await step(['renew', 'promote', '--source', ref, '--version', 'c'.repeat(32)]);
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/SOURCE_NOT_FOUND.*not c+/);
    const promote = await step([
      'renew',
      'promote',
      '--source',
      ref,
      '--version',
      completed.pendingVersion,
      '--json',
    ]);
    expect(promote.code, promote.stderr).toBe(0);
    expect(JSON.parse(promote.stdout)).toMatchObject({
      current: emulator.secrets.latest(name)!.id,
      previous: first.id,
    });
    const rollback = await step(['renew', 'rollback', '--source', ref, '--json']);
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(emulator.secrets.latest(name)!.value).toBe(first.value);

    const pinned = await step(['renew', 'start', '--source', `${ref}/${first.id}`]);
    expect(pinned.code).toBe(2);
    expect(pinned.stderr).toMatch(/INVALID_OPTION.*not the fixed version/);
    const leaks = leakCheck([old.keyPem, newKey, TOKEN]);
    for (const [i, o] of outputs.entries()) leaks.checkText(o.stdout + o.stderr, `output ${i}`);
  });
});
