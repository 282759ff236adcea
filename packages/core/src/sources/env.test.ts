import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import { runSourceConformance } from '@mtlskit/testkit/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MtlsError } from '../errors.js';
import type { CredentialMaterial, FieldValue, Finding } from '../types.js';
import { loadCredentials } from '../validation/load.js';
import { fifoUnsupported, makeFifo, removeFifo } from './__tests__/fifo.js';
import { put, text } from './__tests__/material.js';
import { actAsNobody } from './__tests__/node-child.js';
import { envSource } from './env.js';

type Env = Record<string, string | undefined>;

let ca: TestCA;
let one: IssuedCert;
let two: IssuedCert;
let dir: string;

beforeAll(async () => {
  ca = await TestCA.create();
  one = await ca.issueClient({ commonName: 'env one' });
  two = await ca.issueClient({ commonName: 'env two' });
  dir = await mkdtemp(join(tmpdir(), 'mtlskit-env-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const file = (name: string, content: string | Uint8Array, mode?: number): Promise<string> =>
  put(join(dir, name), content, mode);

describe('envSource', () => {
  it('reads MTLS_CERT, MTLS_KEY, MTLS_PASSPHRASE and MTLS_CA exactly as stored, without decoding', async () => {
    const certB64 = Buffer.from(one.fullChainPem).toString('base64');
    const env: Env = {
      MTLS_CERT: certB64,
      MTLS_KEY: one.encryptedPkcs8Pem('s3cret-pass'),
      MTLS_PASSPHRASE: 's3cret-pass',
      MTLS_CA: one.caPem,
    };
    const material = await envSource({ env }).load();
    expect(material.cert).toBe(certB64);
    expect(material.key).toBe(env.MTLS_KEY);
    expect(material.passphrase).toBe('s3cret-pass');
    expect(material.ca).toBe(one.caPem);
    expect(material.fetchedAt).toBeInstanceOf(Date);
    expect((await loadCredentials(material)).fingerprint256).toBe(one.fingerprint256);
  });

  it('lets each *_FILE variable take precedence over its inline twin, MTLS_PASSPHRASE_FILE included', async () => {
    const env: Env = {
      MTLS_CERT: two.fullChainPem,
      MTLS_CERT_FILE: await file('prec-cert.pem', one.fullChainPem),
      MTLS_KEY: two.keyPem,
      MTLS_KEY_FILE: await file('prec-key.pem', one.encryptedPkcs8Pem('from-the-file')),
      MTLS_PASSPHRASE: 'inline-pass',
      // Written with `echo`: the trailing newline is stored, and the decoder copes with it.
      MTLS_PASSPHRASE_FILE: await file('prec-pass.txt', 'from-the-file\n'),
      MTLS_CA: 'inline ca',
      MTLS_CA_FILE: await file('prec-ca.pem', one.caPem),
    };
    const material = await envSource({ env, onWarning: () => {} }).load();
    expect(material.cert).toBe(one.fullChainPem);
    expect(text(material.passphrase)).toBe('from-the-file\n');
    expect(material.ca).toBe(one.caPem);
    expect((await loadCredentials(material)).fingerprint256).toBe(one.fingerprint256);
  });

  it('treats an empty *_FILE variable as unset and falls back to the inline value', async () => {
    const env: Env = {
      MTLS_CERT: one.fullChainPem,
      MTLS_CERT_FILE: '',
      MTLS_KEY: one.keyPem,
      MTLS_KEY_FILE: '',
    };
    const material = await envSource({ env }).load();
    expect(material.cert).toBe(one.fullChainPem);
    expect(material.key).toBe(one.keyPem);
  });

  it('reads a PKCS#12 from MTLS_PFX_FILE as bytes', async () => {
    const pfx = await one.pkcs12('pfx-pass');
    const env: Env = { MTLS_PFX_FILE: await file('client.p12', pfx), MTLS_PASSPHRASE: 'pfx-pass' };
    const material = await envSource({ env, onWarning: () => {} }).load();
    expect(material.pfx).toBeInstanceOf(Uint8Array);
    expect(Buffer.compare(Buffer.from(material.pfx as Uint8Array), pfx)).toBe(0);
    expect((await loadCredentials(material)).fingerprint256).toBe(one.fingerprint256);
  });

  it('uses another prefix, or exact names per field whose _FILE twins follow the rename', async () => {
    const prefixed = envSource({
      prefix: 'MANGOPAY_',
      env: { MANGOPAY_CERT: 'c', MANGOPAY_KEY: 'k', MTLS_CERT: 'x' },
    });
    expect(prefixed.id).toBe('env:?prefix=MANGOPAY_');
    expect(await prefixed.load()).toMatchObject({ cert: 'c', key: 'k' });

    const renamed = envSource({
      names: { cert: 'CERTIFICATE_PEM_B64', key: 'PRIVATE_KEY_B64' },
      env: { CERTIFICATE_PEM_B64: 'c', PRIVATE_KEY_B64_FILE: await file('renamed-key.pem', 'k-from-file') },
      onWarning: () => {},
    });
    expect(renamed.id).toBe('env:?cert=CERTIFICATE_PEM_B64&key=PRIVATE_KEY_B64');
    expect(await renamed.load()).toMatchObject({ cert: 'c', key: 'k-from-file' });
  });

  it('reads one variable holding the whole credential as a bundle (env:NAME), preferring NAME_FILE', async () => {
    const bundle = JSON.stringify({ cert: one.fullChainPem, key: one.keyPem });
    const inline = envSource({ variable: 'MTLS_BUNDLE', env: { MTLS_BUNDLE: bundle } });
    expect(inline.id).toBe('env:MTLS_BUNDLE');
    const material = await inline.load();
    expect(material.bundle).toBe(bundle);
    expect((await loadCredentials(material)).fingerprint256).toBe(one.fingerprint256);

    const fromFile = envSource({
      variable: 'MTLS_BUNDLE',
      env: {
        MTLS_BUNDLE: 'stale',
        MTLS_BUNDLE_FILE: await file('bundle.pem', `${two.keyPem}${two.fullChainPem}`),
      },
      onWarning: () => {},
    });
    expect((await loadCredentials(await fromFile.load())).fingerprint256).toBe(two.fingerprint256);
  });

  it('reads the passphrase of a one-variable bundle from the variable names.passphrase gives (env:NAME?passphrase=VAR)', async () => {
    const bundle = `${one.encryptedPkcs8Pem('bundle-pass')}${one.fullChainPem}`;
    const env: Env = { MTLS_BUNDLE: bundle, BUNDLE_PASS: 'bundle-pass', MTLS_PASSPHRASE: 'not this one' };
    const source = envSource({ variable: 'MTLS_BUNDLE', names: { passphrase: 'BUNDLE_PASS' }, env });
    expect(source.id).toBe('env:MTLS_BUNDLE?passphrase=BUNDLE_PASS');
    const material = await source.load();
    expect(material.passphrase).toBe('bundle-pass');
    expect((await loadCredentials(material)).fingerprint256).toBe(one.fingerprint256);
    // Without names.passphrase, a bundle carries its own passphrase: MTLS_PASSPHRASE is not read.
    const plain = await envSource({ variable: 'MTLS_BUNDLE', env }).load();
    expect(plain).not.toHaveProperty('passphrase');
  });

  it('reads the environment at each load, so a change made later is seen', async () => {
    const env: Env = { MTLS_CERT: one.fullChainPem, MTLS_KEY: one.keyPem };
    const source = envSource({ env });
    const v1 = await source.version();
    env.MTLS_CERT = two.fullChainPem;
    env.MTLS_KEY = two.keyPem;
    expect(await source.version()).not.toBe(v1);
    expect((await loadCredentials(await source.load())).fingerprint256).toBe(two.fingerprint256);
  });

  it('names every variable it looked for when none is set', async () => {
    const err = await envSource({ env: {} })
      .load()
      .catch((e) => e);
    expect(err).toBeInstanceOf(MtlsError);
    expect(err).toMatchObject({ code: 'SOURCE_NOT_FOUND', sourceId: 'env:' });
    for (const name of [
      'MTLS_CERT',
      'MTLS_CERT_FILE',
      'MTLS_KEY',
      'MTLS_KEY_FILE',
      'MTLS_PFX',
      'MTLS_PFX_FILE',
    ]) {
      expect(err.message).toContain(name);
    }
    const renamed = await envSource({ prefix: 'MANGOPAY_', env: {} })
      .load()
      .catch((e) => e);
    expect(renamed.message).toContain('MANGOPAY_CERT_FILE');
  });

  it('names what is set and what is missing when only part of a credential is set', async () => {
    const onlyKey = await envSource({ env: { MTLS_KEY: 'k' } })
      .load()
      .catch((e) => e);
    expect(onlyKey).toMatchObject({ code: 'SOURCE_NOT_FOUND', sourceId: 'env:', field: 'cert' });
    expect(onlyKey.message).toBe(
      'No certificate in the environment: MTLS_KEY is set, but neither MTLS_CERT nor MTLS_CERT_FILE (nor MTLS_PFX or MTLS_PFX_FILE) is. ' +
        'Set MTLS_CERT (or MTLS_CERT_FILE) to the certificate of that key; or unset MTLS_KEY to use another source.',
    );
    const keyFileAndCa = await envSource({
      prefix: 'APP_',
      env: {
        APP_KEY_FILE: await file('part-key.pem', one.keyPem),
        APP_CA: 'ca',
        APP_CERT_FILE: '',
        APP_PFX_FILE: '',
      },
    })
      .load()
      .catch((e) => e);
    expect(keyFileAndCa.message).toMatch(
      /^No certificate in the environment: APP_KEY_FILE, APP_CA are set, but neither APP_CERT nor APP_CERT_FILE/,
    );
    const onlyCa = await envSource({ env: { MTLS_CA: 'ca', MTLS_PASSPHRASE: 'p' } })
      .load()
      .catch((e) => e);
    expect(onlyCa.message).toMatch(
      /MTLS_PASSPHRASE, MTLS_CA are set, .* Set MTLS_CERT and MTLS_KEY \(or their _FILE twins\), or MTLS_PFX; or unset/,
    );
  });

  it('says a variable is set but empty, which is not the same as unset', async () => {
    const emptyCert = await envSource({ env: { MTLS_CERT: '', MTLS_KEY: 'k' } })
      .load()
      .catch((e) => e);
    expect(emptyCert).toMatchObject({ code: 'MISSING_FIELD', field: 'cert' });
    expect(emptyCert.message).toMatch(/MTLS_CERT is set but empty/);
    const emptyKey = await envSource({ env: { MTLS_CERT: 'c', MTLS_KEY: '' } })
      .load()
      .catch((e) => e);
    expect(emptyKey).toMatchObject({ code: 'MISSING_FIELD', field: 'key' });
    expect(emptyKey.message).toMatch(/MTLS_KEY is set but empty/);
    const emptyPfx = await envSource({ env: { MTLS_PFX: '' } })
      .load()
      .catch((e) => e);
    expect(emptyPfx).toMatchObject({ code: 'MISSING_FIELD', field: 'pfx' });
    expect(emptyPfx.message).toMatch(/MTLS_PFX is set but empty/);
    const emptyBundle = await envSource({ variable: 'MTLS_BUNDLE', env: { MTLS_BUNDLE: '' } })
      .load()
      .catch((e) => e);
    expect(emptyBundle).toMatchObject({ code: 'MISSING_FIELD', field: 'bundle' });
    expect(emptyBundle.message).toMatch(/MTLS_BUNDLE is set but empty/);
    const unset = await envSource({ variable: 'MTLS_BUNDLE', env: {} })
      .load()
      .catch((e) => e);
    expect(unset).toMatchObject({ code: 'SOURCE_NOT_FOUND' });
    expect(unset.message).toMatch(/Neither MTLS_BUNDLE nor MTLS_BUNDLE_FILE is set/);
  });

  it('leaves out empty optional values (templates render unset values as "")', async () => {
    const material = await envSource({
      env: { MTLS_CERT: 'c', MTLS_KEY: 'k', MTLS_CA: '', MTLS_PASSPHRASE: '' },
    }).load();
    expect(material).not.toHaveProperty('ca');
    expect(material).not.toHaveProperty('passphrase');
  });

  it('distinguishes a missing file, a directory and an empty file behind *_FILE', async () => {
    await mkdir(join(dir, 'a-directory'), { recursive: true });
    const cases: Array<[string, string, RegExp]> = [
      [join(dir, 'nope.pem'), 'SOURCE_NOT_FOUND', /MTLS_CERT_FILE \(.*nope\.pem\): no such file/],
      [
        join(dir, 'a-directory'),
        'SOURCE_NOT_FOUND',
        /MTLS_CERT_FILE \(.*a-directory\) is a directory, where a file was expected/,
      ],
      [await file('empty.pem', ''), 'MISSING_FIELD', /MTLS_CERT_FILE \(.*empty\.pem\) is empty/],
    ];
    for (const [path, code, message] of cases) {
      const err = await envSource({ env: { MTLS_CERT_FILE: path, MTLS_KEY: 'k' } })
        .load()
        .catch((e) => e);
      expect(err).toMatchObject({ code, field: 'cert', sourceId: 'env:' });
      expect(err.message).toMatch(message);
    }
  });

  it('warns once when MTLS_KEY_FILE is readable by group or others', async () => {
    const findings: Finding[] = [];
    const env: Env = {
      MTLS_CERT: one.fullChainPem,
      MTLS_KEY_FILE: await file('open-key.pem', one.keyPem, 0o644),
    };
    const source = envSource({ env, onWarning: (f) => findings.push(f) });
    await source.load();
    await source.load();
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ code: 'KEY_FILE_PERMISSIONS', severity: 'warning', field: 'key' });
    expect(findings[0]!.fix).toMatch(/chmod 600/);
    expect(source.warnings).toEqual(findings);
  });

  it('rejects names that are not environment variable names when built', () => {
    expect(() => envSource({ names: { cert: 'NOT-A-NAME' } })).toThrow(/not an environment variable name/);
    expect(() => envSource({ prefix: '1X' })).toThrow(MtlsError);
  });

  it('keeps the environment out of inspect and JSON', async () => {
    const env: Env = { MTLS_CERT: one.fullChainPem, MTLS_KEY: one.keyPem, MTLS_PASSPHRASE: 'hunter2-pass' };
    const source = envSource({ env });
    await source.load();
    expect(inspect(source)).toBe('EnvSource { id: "env:", kind: \'static\' }');
    leakCheck([one.keyPem, 'hunter2-pass']).check(source, 'envSource');
  });
});

// The conformance suite, once over inline variables and once over *_FILE variables.
runSourceConformance('envSource (inline variables)', async ({ material }) => {
  const env: Env = {};
  const write = async (m: CredentialMaterial) => {
    env.MTLS_CERT = text(m.cert);
    env.MTLS_KEY = text(m.key);
    env.MTLS_CA = text(m.ca as FieldValue);
  };
  await write(material);
  return {
    source: envSource({ env }),
    write,
    versionFollowsContent: true,
    async remove() {
      for (const k of Object.keys(env)) delete env[k];
    },
  };
});

runSourceConformance('envSource (*_FILE variables)', async ({ material }) => {
  const home = await mkdtemp(join(tmpdir(), 'mtlskit-env-conf-'));
  const paths = { cert: join(home, 'cert.pem'), key: join(home, 'key.pem'), ca: join(home, 'ca.pem') };
  const env: Env = { MTLS_CERT_FILE: paths.cert, MTLS_KEY_FILE: paths.key, MTLS_CA_FILE: paths.ca };
  let current = material;
  const write = async (m: CredentialMaterial) => {
    current = m;
    await writeFile(paths.cert, text(m.cert), { mode: 0o600 });
    await writeFile(paths.key, text(m.key), { mode: 0o600 });
    await writeFile(paths.ca, text(m.ca as FieldValue), { mode: 0o600 });
  };
  await write(material);
  let restoreUser: (() => void) | undefined;
  const slowKey = async () => {
    // MTLS_KEY_FILE names a FIFO without a writer: open() blocks, as on a hung network mount.
    await rm(paths.key);
    const why = makeFifo(paths.key);
    if (why) throw new Error(why);
    return async () => {
      await removeFifo(paths.key);
      await writeFile(paths.key, text(current.key), { mode: 0o600 });
    };
  };
  return {
    source: envSource({ env }),
    write,
    versionFollowsContent: true,
    async remove() {
      await rm(paths.cert, { force: true });
      await rm(paths.key, { force: true });
    },
    async makeUnreadable() {
      // Everything but the key readable by anyone: the key alone is what cannot be read.
      await chmod(home, 0o755);
      await chmod(paths.cert, 0o644);
      await chmod(paths.ca, 0o644);
      if (process.getuid?.() !== 0) {
        await chmod(paths.key, 0o000);
        return { code: 'ACCESS_DENIED' as const };
      }
      // Root reads whatever the mode: act as nobody while the suite loads (close() restores too).
      const acting = actAsNobody();
      if ('skip' in acting) return acting;
      restoreUser = acting;
      return { code: 'ACCESS_DENIED' as const, restore: acting };
    },
    ...(fifoUnsupported(tmpdir()) === undefined && { makeSlow: slowKey }),
    async close() {
      restoreUser?.();
      await rm(home, { recursive: true, force: true });
    },
  };
});
