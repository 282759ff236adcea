// End to end: a staged renewal of a certificate kept in Vault KV v2, through @mtlskit/cli/renewal and
// through the built `mtlskit` binary, while a client makes continuous mTLS requests through a resolver
// reading the same secret (the real node-vault client against the loopback emulator): not one request
// fails, the server sees the new certificate after promote and the old one again after rollback, and
// no output carries a key or the Vault token.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  completeRenewal,
  loadPending,
  pendingSource,
  promoteRenewal,
  rollbackRenewal,
  startRenewal,
} from '@mtlskit/cli/renewal';
import { createTlsResolver } from '@mtlskit/core';
import {
  type ConnectionTracker,
  httpsRequest,
  type IssuedCert,
  leakCheck,
  type MtlsTestServer,
  startMtlsServer,
  startVaultEmulator,
  TestCA,
  trackConnections,
  type VaultEmulator,
} from '@mtlskit/testkit';
import { vaultSource } from '@mtlskit/vault';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const NAME = 'CN=client-42.sandbox.mangopay.com, O=Mangopay, C=LU';
const DNS = 'client-42.sandbox.mangopay.com';
const ROOT_TOKEN = 'hvs.E2eRenewalROOTtoken0042xyz';

let net: ConnectionTracker;
let ca: TestCA;
let server: MtlsTestServer;
let old: IssuedCert;
let emulator: VaultEmulator;
let dir: string;

beforeAll(async () => {
  net = trackConnections();
  ca = await TestCA.create({ commonName: 'e2e renewal CA' });
  server = await startMtlsServer({ clientCa: ca });
  old = await ca.issueClient({ subject: NAME, dnsNames: [DNS], validForSeconds: 30 * 86_400 });
  emulator = await startVaultEmulator({ rootToken: ROOT_TOKEN });
  dir = await mkdtemp(join(tmpdir(), 'mtlskit-vault-renewal-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await emulator?.close();
  await server?.close();
  net?.stop();
  expect(net.offLoopback()).toEqual([]);
});

const seed = (path: string) =>
  emulator.putSecret(path, { cert: old.fullChainPem, key: old.keyPem, ca: server.caPem });
const sourceOf = (path: string) =>
  vaultSource({
    path,
    endpoint: emulator.url,
    auth: { method: 'token', token: ROOT_TOKEN, renew: false },
    timeoutMs: 2_000,
  });

/** Requests the mTLS server one after another through a resolver over `path` until stopped. */
function continuousClient(path: string) {
  const resolver = createTlsResolver({ source: sourceOf(path), refreshIntervalMs: 50, jitter: 0 });
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
  return {
    seen,
    failures,
    /** Resolves once a request was served with `fingerprint` (after the requests seen so far). */
    async until(fingerprint: string, timeoutMs = 10_000) {
      const from = seen.length;
      const deadline = Date.now() + timeoutMs;
      while (!seen.slice(from).includes(fingerprint)) {
        if (Date.now() > deadline) throw new Error(`the client never saw ${fingerprint}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    /** The fingerprints in the order the server saw them, repeats folded. */
    order: () => seen.filter((f, i) => i === 0 || seen[i - 1] !== f),
    async stop() {
      running = false;
      await loop;
      await resolver.close();
    },
  };
}

const pendingKeyOf = (path: string): string => {
  const pending = emulator.customMetadata(path)?.['mtlskit-pending'];
  const version = emulator.secrets.describe(path)?.versions.find((v) => String(v.number) === pending);
  return String(JSON.parse(String(version?.value)).key);
};

describe('staged renewal on Vault KV v2', () => {
  it('start → complete → check the pending version → promote → rollback with @mtlskit/cli/renewal, no request failing', async () => {
    seed('secret/lib/mtls');
    const client = continuousClient('secret/lib/mtls');
    const source = sourceOf('secret/lib/mtls');
    const results: unknown[] = [];
    let newKey = '';
    try {
      await client.until(old.fingerprint256);
      const started = await startRenewal(source);
      results.push(started);
      newKey = pendingKeyOf('secret/lib/mtls');
      expect(emulator.customMetadata('secret/lib/mtls')).toEqual({
        'mtlskit-current': '1',
        'mtlskit-pending': started.version,
      });
      const signed = await ca.signCsr(started.csrPem, { validForSeconds: 365 * 86_400 });
      const completed = await completeRenewal(source, signed.fullChainPem);
      results.push(completed);
      expect(completed.version).toBe('3');

      // A real handshake with the pending credential; the running client keeps the current one.
      const pending = await loadPending(source);
      results.push(pending);
      expect(pending).toMatchObject({ version: '3', certificate: { fingerprint256: signed.fingerprint256 } });
      const trial = createTlsResolver({ source: pendingSource(source), mode: 'on-access' });
      try {
        const r = await httpsRequest(`${server.url}/check`, { agent: trial.agent() });
        expect(JSON.parse(r.body).fingerprint256).toBe(signed.fingerprint256);
      } finally {
        await trial.close();
      }
      await new Promise((r) => setTimeout(r, 200)); // several refreshes while a pending version exists
      expect(client.seen.at(-1)).toBe(old.fingerprint256);

      const promoted = await promoteRenewal(source, { version: completed.version });
      results.push(promoted);
      expect(promoted).toMatchObject({ current: '3', previous: '1' });
      await client.until(signed.fingerprint256);

      expect(await rollbackRenewal(source)).toEqual({ current: '1', previous: '3' });
      await client.until(old.fingerprint256);
    } finally {
      await client.stop();
      await source.close();
    }
    expect(client.failures).toEqual([]);
    expect(client.seen.length).toBeGreaterThan(10);
    expect(client.order()).toEqual([old.fingerprint256, expect.any(String), old.fingerprint256]);
    expect(client.order()[1]).not.toBe(old.fingerprint256);
    const leaks = leakCheck([old.keyPem, newKey, ROOT_TOKEN]);
    for (const [i, r] of results.entries()) leaks.check(r, `result ${i}`);
  });

  it('the same steps with the built mtlskit binary (VAULT_ADDR, VAULT_TOKEN), and a pinned version refused', async () => {
    seed('secret/cli/mtls');
    const ref = 'vault://secret/cli/mtls';
    const client = continuousClient('secret/cli/mtls');
    const outputs: { code: number; stdout: string; stderr: string }[] = [];
    let newKey = '';
    const run = async (...args: string[]) => {
      const r = await mtlskit(args, { VAULT_ADDR: emulator.url, VAULT_TOKEN: ROOT_TOKEN });
      outputs.push(r);
      return r;
    };
    try {
      await client.until(old.fingerprint256);
      const csrFile = join(dir, 'renewal.csr');
      const start = await run('renew', 'start', '--source', ref, '--out', csrFile, '--json');
      expect(start.code, start.stderr).toBe(0);
      expect(JSON.parse(start.stdout)).toMatchObject({ pendingVersion: '2', subject: NAME });
      expect(await readdir(dir)).toEqual(['renewal.csr']);
      newKey = pendingKeyOf('secret/cli/mtls');

      const signed = await ca.signCsr(await readFile(csrFile, 'utf8'), { validForSeconds: 365 * 86_400 });
      const certFile = join(dir, 'cert.pem');
      await writeFile(certFile, signed.fullChainPem);
      const complete = await run('renew', 'complete', '--source', ref, '--cert', certFile, '--json');
      expect(complete.code, complete.stderr).toBe(0);
      expect(JSON.parse(complete.stdout)).toMatchObject({ pendingVersion: '3' });

      const check = await run(
        'check',
        '--source',
        ref,
        '--pending',
        '--url',
        `${server.url}/check`,
        '--json',
      );
      expect(check.code, check.stderr).toBe(0);
      expect(JSON.parse(check.stdout)).toMatchObject({
        status: 'accepted',
        clientCertificate: { fingerprint256: signed.fingerprint256 },
      });
      expect(client.seen.at(-1)).toBe(old.fingerprint256);

      const wrong = await run('renew', 'promote', '--source', ref, '--version', '2');
      expect(wrong.code).toBe(4);
      expect(wrong.stderr).toMatch(/SOURCE_NOT_FOUND.*version 3 pending, not 2/);
      const pinned = await run('renew', 'promote', '--source', `${ref}?version=1`);
      expect(pinned.code).toBe(2);
      expect(pinned.stderr).toMatch(/INVALID_OPTION.*not the fixed version 1/);

      const promote = await run('renew', 'promote', '--source', ref, '--version', '3', '--json');
      expect(promote.code, promote.stderr).toBe(0);
      expect(JSON.parse(promote.stdout)).toMatchObject({ current: '3', previous: '1' });
      await client.until(signed.fingerprint256);

      const rollback = await run('renew', 'rollback', '--source', ref, '--json');
      expect(rollback.code, rollback.stderr).toBe(0);
      expect(JSON.parse(rollback.stdout)).toMatchObject({ current: '1', previous: '3' });
      await client.until(old.fingerprint256);
    } finally {
      await client.stop();
    }
    expect(client.failures).toEqual([]);
    expect(client.order()).toEqual([old.fingerprint256, expect.any(String), old.fingerprint256]);
    const leaks = leakCheck([old.keyPem, newKey, ROOT_TOKEN]);
    for (const [i, o] of outputs.entries()) leaks.checkText(o.stdout + o.stderr, `output ${i}`);
  });
});

/** The built binary, spawned without blocking this process (the emulator answers from it). */
function mtlskit(args: string[], env: Record<string, string>) {
  const bin = join(
    dirname(createRequire(import.meta.url).resolve('@mtlskit/cli/package.json')),
    'dist',
    'bin.js',
  );
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      {
        env: { PATH: process.env.PATH, NO_PROXY: '127.0.0.1,localhost', ...env },
        // Core finds @mtlskit/vault from the working directory, as in an application that installed it.
        cwd: dirname(fileURLToPath(import.meta.url)),
        timeout: 30_000,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}
