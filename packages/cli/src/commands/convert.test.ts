import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import { decodeMaterial } from '@mtlskit/core/decode';
import { hasOpenssl, type IssuedCert, leakCheck, runOpenssl, TestCA } from '@mtlskit/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, withFiles } from '../__tests__/harness.js';

const PASS = 'convert-pass-2026';
let leaf: IssuedCert;
let intermediatePem: string;
beforeAll(async () => {
  const root = await TestCA.create();
  const inter = await root.intermediate();
  intermediatePem = inter.certPem;
  leaf = await inter.issueClient({
    keyType: 'rsa2048',
    commonName: 'client-9.sandbox.mangopay.com',
    validForSeconds: 300 * 86_400,
  });
});

const keytool = spawnSync('keytool', ['-help'], { encoding: 'utf8' }).error === undefined;

async function pemPair(): Promise<string> {
  return withFiles({
    'certificate.pem': leaf.certPem,
    'chain.pem': intermediatePem,
    'private.key': leaf.keyPem,
  });
}

/** `convert --to p12` of the files pemPair writes (certificate.pem, private.key) to `out`, then `more`. */
const toP12 = (out: string, ...more: string[]) => [
  'convert',
  '--to',
  'p12',
  '--cert',
  'certificate.pem',
  '--key',
  'private.key',
  '--out',
  out,
  ...more,
];

/** What `openssl pkcs12 -info` prints about a file (stderr and stdout), after checking it succeeded. */
async function opensslInfo(p12: string): Promise<string> {
  const info = await runOpenssl(['pkcs12', '-in', p12, '-info', '-noout', '-passin', 'env:P12'], {
    env: { P12: PASS },
  });
  expect(info.code, info.stderr).toBe(0);
  return info.stderr + info.stdout;
}

/** What `keytool -list` prints about a file, after checking it succeeded. */
function keytoolList(p12: string): string {
  const list = spawnSync(
    'keytool',
    ['-list', '-keystore', p12, '-storetype', 'PKCS12', '-storepass:env', 'P12'],
    {
      encoding: 'utf8',
      env: { ...process.env, P12: PASS },
    },
  );
  expect(list.status, list.stderr).toBe(0);
  return list.stdout;
}

describe('mtlskit convert --to p12', () => {
  it('writes a modern PKCS#12 (AES-256, PBKDF2) that core, Node, openssl and keytool read, mode 0600', async () => {
    const dir = await pemPair();
    const r = await cli(toP12('client.p12', '--chain', 'chain.pem', '--out-passphrase-env', 'P12'), {
      cwd: dir,
      env: { P12: PASS },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Encryption\s+PBES2 AES-256-CBC PBKDF2-HMAC-SHA256, HMAC-SHA256 MAC$/m);
    const p12 = join(dir, 'client.p12');
    expect((await stat(p12)).mode & 0o777).toBe(0o600);
    const bytes = await readFile(p12);
    const decoded = decodeMaterial({ pfx: bytes, passphrase: PASS });
    expect(decoded.leaf.fingerprint256).toBe(leaf.fingerprint256);
    expect(decoded.chain.map((c) => c.fingerprint256)).toEqual([
      new X509Certificate(intermediatePem).fingerprint256,
    ]);
    expect(() => tls.createSecureContext({ pfx: bytes, passphrase: PASS })).not.toThrow();
    const inspected = await cli(['inspect', p12, '--passphrase-env', 'P12', '--json'], {
      env: { P12: PASS },
    });
    expect(JSON.parse(inspected.stdout)).toMatchObject({
      status: 'healthy',
      fingerprint256: leaf.fingerprint256,
    });
    if (hasOpenssl()) {
      const info = await opensslInfo(p12);
      expect(info).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/);
      expect(info).toMatch(/MAC: sha256/);
    }
    if (keytool) {
      expect(keytoolList(p12)).toMatch(/client-9\.sandbox\.mangopay\.com, .*PrivateKeyEntry/);
    }
  });

  it('writes a legacy 3DES / SHA-1 PKCS#12 with --legacy, readable by Node, openssl and keytool', async () => {
    const dir = await pemPair();
    const r = await cli(toP12('old.p12', '--legacy', '--out-passphrase-env', 'P12', '--name', 'mangopay'), {
      cwd: dir,
      env: { P12: PASS },
    });
    expect(r.code).toBe(0);
    const p12 = join(dir, 'old.p12');
    const bytes = await readFile(p12);
    expect(decodeMaterial({ pfx: bytes, passphrase: PASS }).leaf.fingerprint256).toBe(leaf.fingerprint256);
    expect(() => tls.createSecureContext({ pfx: bytes, passphrase: PASS })).not.toThrow();
    if (hasOpenssl()) {
      const info = await opensslInfo(p12);
      expect(info).toMatch(/Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048/);
      expect(info).toMatch(/MAC: sha1/);
    }
    if (keytool) {
      expect(keytoolList(p12)).toMatch(/^mangopay, .*PrivateKeyEntry/m);
    }
  });

  it('needs a password unless --insecure, and never overwrites without --force', async () => {
    const dir = await pemPair();
    const base = toP12('c.p12');
    const noPass = await cli(base, { cwd: dir });
    expect(noPass.code).toBe(2);
    expect(noPass.stderr).toMatch(/needs a password: give --out-passphrase-env VAR \(or --insecure/);
    expect((await cli([...base, '--insecure'], { cwd: dir })).code).toBe(0);
    expect(
      decodeMaterial({ pfx: await readFile(join(dir, 'c.p12')), passphrase: '' }).leaf.fingerprint256,
    ).toBe(leaf.fingerprint256);
    const again = await cli([...base, '--insecure'], { cwd: dir });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/c\.p12 already exists/);
    expect((await cli([...base, '--insecure', '--force'], { cwd: dir })).code).toBe(0);
  });

  it('refuses a key that does not belong to the certificate (exit 1)', async () => {
    const other = await (await TestCA.create()).issueClient();
    const dir = await withFiles({ 'certificate.pem': leaf.certPem, 'private.key': other.keyPem });
    const r = await cli(toP12('x.p12', '--insecure'), { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/KEY_MISMATCH/);
  });

  it('validates --chain with the leaf: an unrelated certificate is CHAIN_INVALID (exit 1)', async () => {
    const stray = await (await TestCA.create({ commonName: 'unrelated CA' })).intermediate();
    const dir = await withFiles({
      'certificate.pem': leaf.certPem,
      'private.key': leaf.keyPem,
      'chain.pem': stray.certPem,
    });
    const r = await cli(toP12('x.p12', '--chain', 'chain.pem', '--insecure'), { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CHAIN_INVALID/);
  });
});

describe('mtlskit convert --to pem', () => {
  it('turns a legacy RC2 PKCS#12 into certificate.pem + private.key (0600) that file:DIR loads', async () => {
    if (!hasOpenssl()) return;
    const legacy = await leaf.pkcs12(PASS, { algorithm: 'legacy-rc2' });
    const dir = await withFiles({ 'old.pfx': legacy });
    const out = join(dir, 'pem');
    const r = await cli(
      ['convert', '--to', 'pem', 'old.pfx', '--passphrase-env', 'PFX', '--out', 'pem', '--json'],
      { cwd: dir, env: { PFX: PASS } },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).written).toEqual([join(out, 'certificate.pem'), join(out, 'private.key')]);
    expect((await stat(join(out, 'private.key'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(out, 'private.key'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const inspected = await cli(['inspect', '--source', `file:${out}`, '--json']);
    expect(inspected.code).toBe(0);
    expect(JSON.parse(inspected.stdout)).toMatchObject({
      fingerprint256: leaf.fingerprint256,
      chain: [{ subject: 'CN=mtlskit test intermediate CA' }],
    });
  });

  it('encrypts the key with --out-passphrase-env', async () => {
    const dir = await withFiles({ 'both.pem': leaf.keyPem + leaf.fullChainPem });
    const r = await cli(
      ['convert', '--to', 'pem', 'both.pem', '--out', 'enc', '--out-passphrase-env', 'KP'],
      { cwd: dir, env: { KP: PASS } },
    );
    expect(r.code).toBe(0);
    expect(await readFile(join(dir, 'enc', 'private.key'), 'utf8')).toMatch(
      /^-----BEGIN ENCRYPTED PRIVATE KEY-----/,
    );
    expect(
      (await cli(['inspect', join(dir, 'enc'), '--passphrase-env', 'KP'], { env: { KP: PASS } })).code,
    ).toBe(0);
  });

  it('never prints the key or the passwords', async () => {
    const leak = leakCheck([leaf.keyPem, leaf.keyDer, PASS]);
    const dir = await pemPair();
    const outputs = [
      await cli(toP12('a.p12', '--out-passphrase-env', 'P', '--json'), { cwd: dir, env: { P: PASS } }),
      await cli(['convert', '--to', 'pem', 'a.p12', '--passphrase-env', 'P', '--out', 'pem'], {
        cwd: dir,
        env: { P: 'wrong-password-1' },
      }),
      await cli(['convert', '--to', 'pem', 'a.p12', '--passphrase-env', 'P', '--out', 'pem'], {
        cwd: dir,
        env: { P: PASS },
      }),
    ];
    expect(outputs.map((o) => o.code)).toEqual([0, 1, 0]);
    for (const o of outputs) leak.checkText(o.stdout + o.stderr, 'convert output');
  });
});

describe('mtlskit encode', () => {
  it('prints a file as one line of Base64 that decodes to the same bytes', async () => {
    const p12 = await leaf.pkcs12(PASS);
    const dir = await withFiles({ 'certificate.pem': leaf.certPem, 'c.p12': p12 });
    const pem = await cli(['encode', 'certificate.pem'], { cwd: dir });
    expect(pem.code).toBe(0);
    expect(pem.stdout).toMatch(/^[A-Za-z0-9+/]+=*\n$/);
    expect(Buffer.from(pem.stdout.trim(), 'base64').toString()).toBe(leaf.certPem);
    const bin = await cli(['encode', join(dir, 'c.p12')]);
    expect(Buffer.from(bin.stdout.trim(), 'base64').equals(p12)).toBe(true);
    const stdin = await cli(['encode', '-'], { stdin: leaf.certPem });
    expect(stdin.stdout).toBe(pem.stdout);
    // What encode prints is what MTLS_CERT takes.
    const r = await cli(['inspect', '--json'], {
      env: {
        MTLS_CERT: pem.stdout.trim(),
        MTLS_KEY: (await cli(['encode', '-'], { stdin: leaf.keyPem })).stdout.trim(),
      },
    });
    expect(JSON.parse(r.stdout).fingerprint256).toBe(leaf.fingerprint256);
  });

  it('exits 2 for a missing file, an empty input, and binary input with --pem-only', async () => {
    const dir = await withFiles({ 'c.der': leaf.certDer, 'empty.pem': '' });
    expect((await cli(['encode', 'nope.pem'], { cwd: dir })).stderr).toMatch(/nope\.pem does not exist/);
    expect((await cli(['encode', 'empty.pem'], { cwd: dir })).code).toBe(2);
    const der = await cli(['encode', 'c.der', '--pem-only'], { cwd: dir });
    expect(der.code).toBe(2);
    expect(der.stderr).toMatch(/not PEM text/);
    expect((await cli(['encode'])).code).toBe(2);
  });
});
