// The built `mtlskit` binary, spawned as a user runs it: real process, real exit codes, real files,
// every output checked for the secrets of the run.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { leakCheck, type MtlsTestServer, startMtlsServer, TestCA } from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBinary, tempDir } from './__tests__/harness.js';

const KEY_PASS = 'binary-test-key-pass';
let bin: string;
let ca: TestCA;
let server: MtlsTestServer;
beforeAll(async () => {
  bin = buildBinary();
  ca = await TestCA.create({ keyType: 'rsa2048' });
  server = await startMtlsServer({ clientCa: ca });
}, 120_000);
afterAll(async () => {
  await server?.close();
});

// The child gets no MTLS_* from the runner's environment.
const clean = { MTLS_SOURCE: '', MTLS_CERT: '', MTLS_KEY: '', MTLS_CA: '' };

describe('the mtlskit binary', () => {
  it('prints help for itself and every command, and exits 2 on usage errors', async () => {
    const leak = leakCheck([KEY_PASS]);
    const main = await leak.runNode([bin, '--help']);
    expect(main.code).toBe(0);
    for (const name of ['init', 'inspect', 'check', 'encode', 'convert', 'put', 'renew']) {
      expect(main.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
      const help = await leak.runNode([bin, name, '--help']);
      expect(help.code, name).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^  mtlskit ${name} `, 'm'));
      expect(help.stdout).toMatch(/^Examples:/m);
      expect(help.stdout, `${name} --help lists its exit codes`).toMatch(/^Exit codes:\n {2}0 {2}/m);
    }
    expect((await leak.runNode([bin])).code).toBe(2);
    const unknown = await leak.runNode([bin, 'frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown command "frobnicate"/);
    expect((await leak.runNode([bin, '--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('runs the seed flow: init, the CA signs, inspect (0, then 3 near expiry), check against a real mTLS server', async () => {
    const dir = await tempDir();
    const leak = leakCheck([KEY_PASS]);
    const env = { ...clean, KEY_PASS };
    const init = await leak.runNode(
      [bin, 'init', '--client-id', 'demo', '--out', dir, '--passphrase-env', 'KEY_PASS'],
      { env },
    );
    expect(init.code, init.stderr).toBe(0);
    const keyPem = await readFile(join(dir, 'private.key'), 'utf8');
    const keyLeak = leakCheck([KEY_PASS, keyPem]);

    const signed = await ca.signCsr(await readFile(join(dir, 'certificate.csr'), 'utf8'), {
      validForSeconds: 365 * 86_400,
    });
    await writeFile(join(dir, 'certificate.pem'), signed.certPem);
    await writeFile(join(dir, 'ca.pem'), server.caPem);

    const inspect = await keyLeak.runNode(
      [bin, 'inspect', '--source', `file:${dir}?passphrase=env:KEY_PASS`],
      { env },
    );
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/^Subject\s+CN=demo\.sandbox\.mangopay\.com, O=Mangopay, C=LU$/m);
    const cron = await keyLeak.runNode(
      [bin, 'inspect', dir, '--passphrase-env', 'KEY_PASS', '--warn-days', '400'],
      { env },
    );
    expect(cron.code).toBe(3);

    const check = await keyLeak.runNode(
      [bin, 'check', '--url', server.url, '--passphrase-env', 'KEY_PASS', '--json'],
      { env: { ...env, MTLS_SOURCE: `file:${dir}` } },
    );
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ status: 'accepted', httpStatus: 200 });
    expect(server.requests.at(-1)!.peerSubjectCN).toBe('demo.sandbox.mangopay.com');
  });

  it('exits 1 for an invalid credential and 4 for an unreadable one, with --json on stdout', async () => {
    const dir = await tempDir();
    const expired = await ca.issueClient({
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    await writeFile(join(dir, 'both.pem'), expired.keyPem + expired.certPem, { mode: 0o600 });
    const leak = leakCheck([expired.keyPem, expired.keyDer]);
    const invalid = await leak.runNode([bin, 'inspect', join(dir, 'both.pem'), '--json'], { env: clean });
    expect(invalid.code).toBe(1);
    expect(JSON.parse(invalid.stdout).findings[0].code).toBe('EXPIRED');
    const missing = await leak.runNode(
      [bin, 'inspect', '--source', `file:${join(dir, 'nothing-here')}`, '--json'],
      { env: clean },
    );
    expect(missing.code).toBe(4);
    expect(JSON.parse(missing.stdout)).toMatchObject({
      status: 'error',
      exitCode: 4,
      error: { code: 'SOURCE_NOT_FOUND' },
    });
    const stdin = await leak.runNode([bin, 'inspect', '-'], {
      env: clean,
      input: expired.certPem + expired.keyPem,
    });
    expect(stdin.code).toBe(1);
  });
});
