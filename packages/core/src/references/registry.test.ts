import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MtlsError } from '../errors.js';
import { removeTranspiledCore, transpiledCore } from '../sources/__tests__/node-child.js';
import { loadCredentials } from '../validation/load.js';
import {
  type AdapterImporter,
  createImporter,
  listSchemes,
  registerScheme,
  registerSourceFactory,
  type SchemeAdapter,
  type SourceDeps,
  sourceFromReference,
} from './registry.js';
import { defineScheme, KNOWN_SCHEMES, schemeStore } from './scheme.js';

let ca: TestCA;
let client: IssuedCert;
let project: string;

/** Writes a package into the fake project's node_modules: `files` maps file names to their code. */
async function installPackage(name: string, files: Record<string, string>): Promise<void> {
  const dir = join(project, 'node_modules', ...name.split('/'));
  await mkdir(dir, { recursive: true });
  const exports = Object.fromEntries(
    Object.keys(files).map((f) => [f === 'index.js' ? '.' : `./${f.replace(/\.js$/, '')}`, `./${f}`]),
  );
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name, type: 'module', exports }));
  for (const [file, code] of Object.entries(files)) await writeFile(join(dir, file), code);
}

beforeAll(async () => {
  ca = await TestCA.create();
  client = await ca.issueClient({ commonName: 'registry client' });
  // An application directory: @mtlskit/core (a second, compiled copy), a working @mtlskit/aws, a
  // @mtlskit/gcp whose own dependency is missing, a @mtlskit/vault that registers nothing, and no
  // @mtlskit/azure at all.
  project = await mkdtemp(join(tmpdir(), 'mtlskit-app-'));
  await chmod(project, 0o755);
  await mkdir(join(project, 'node_modules', '@mtlskit'), { recursive: true });
  await symlink(await transpiledCore(), join(project, 'node_modules', '@mtlskit', 'core'));
  await installPackage('@mtlskit/aws', {
    'scheme.js': `import { defineScheme } from '@mtlskit/core/adapter';
      export const awsSm = defineScheme({
        scheme: 'aws-sm',
        packageName: '@mtlskit/aws',
        slashes: true,
        options: { roleArn: { type: 'string', description: 'A role to assume before reading.' } },
        build: (c) => ({ secretId: c.path }),
      });`,
    'index.js': `import { registerSourceFactory } from '@mtlskit/core/adapter';
      import { awsSm } from './scheme.js';
      registerSourceFactory(awsSm, (ref, deps) => ({
        id: 'aws-sm://' + ref.target.secretId,
        kind: 'static',
        async load() {
          return { bundle: deps.env.FAKE_AWS_BUNDLE, version: ref.options.roleArn ?? 'no-role' };
        },
      }));`,
  });
  await installPackage('@mtlskit/gcp', {
    'scheme.js': `import 'google-gax-is-not-installed'; export const x = 1;`,
    'index.js': 'export const x = 1;',
  });
  await installPackage('@mtlskit/vault', {
    'scheme.js': 'export const nothing = true;',
    'index.js': 'export const nothing = true;',
  });
});

afterAll(async () => {
  await rm(project, { recursive: true, force: true });
  await removeTranspiledCore();
});

afterEach(() => {
  for (const scheme of ['aws-sm', 'azure-kv', 'gcp-sm', 'vault', 'vault-pki', 'mem'])
    schemeStore().delete(scheme);
});

async function rejectionOf(promise: Promise<unknown>): Promise<MtlsError> {
  const err = await promise.then(
    () => undefined,
    (e) => e,
  );
  expect(err).toBeInstanceOf(MtlsError);
  return err as MtlsError;
}

/**
 * An importer that fails as Node's import() does for a package that is not installed, and records
 * what was asked. (Resolving from an empty directory is no proof under vitest, whose aliases find
 * the workspace's own packages from anywhere.)
 */
function notInstalled(): AdapterImporter & { calls: string[] } {
  const calls: string[] = [];
  const importer = async (name: string) => {
    calls.push(name);
    throw Object.assign(
      new Error(
        `Cannot find package '${name.replace(/\/scheme$/, '')}' imported from ${join(tmpdir(), 'mtlskit-nowhere', 'index.js')}`,
      ),
      { code: 'ERR_MODULE_NOT_FOUND' },
    );
  };
  return Object.assign(importer, { calls });
}

/** An importer that registers `adapter` under the package name it is asked for, and records the names. */
function registering<S extends string>(
  adapter: Omit<SchemeAdapter<S>, 'packageName'>,
): AdapterImporter & { calls: string[] } {
  const calls: string[] = [];
  const importer = async (name: string) => {
    calls.push(name);
    registerScheme({ ...adapter, packageName: name.replace(/\/scheme$/, '') });
  };
  return Object.assign(importer, { calls });
}

describe('sourceFromReference: adapter packages', () => {
  it('imports the adapter package of a known scheme, which registers itself through its own copy of core', async () => {
    const bundle = JSON.stringify({ cert: client.fullChainPem, key: client.keyPem });
    const source = await sourceFromReference(
      'aws-sm://prod/mtls?roleArn=arn:aws:iam::123456789012:role/mtls',
      {
        importer: createImporter(project),
        env: { FAKE_AWS_BUNDLE: bundle },
      },
    );
    expect(source.id).toBe('aws-sm://prod/mtls');
    const material = await source.load();
    // The adapter saw its own extra option: the package was loaded before the reference was checked.
    expect(material.version).toBe('arn:aws:iam::123456789012:role/mtls');
    expect((await loadCredentials(material)).fingerprint256).toBe(client.fingerprint256);
  });

  it('says which package to install, with the exact command, when the adapter is not installed', async () => {
    // (Resolving from the fake project is no proof under vitest, whose aliases find the workspace's
    // own @mtlskit/azure: the importer fails as Node's import() does.)
    const importer = notInstalled();
    const err = await rejectionOf(sourceFromReference('azure-kv://myvault/mtls', { importer }));
    expect(importer.calls).toEqual(['@mtlskit/azure/scheme']);
    expect(err.code).toBe('ADAPTER_NOT_INSTALLED');
    expect(err.retryable).toBe(false);
    expect(err.sourceId).toBe('azure-kv://myvault/mtls');
    expect(err.message).toBe(
      'The azure-kv: scheme needs @mtlskit/azure, which is not installed. Install it: npm install @mtlskit/azure (pnpm add @mtlskit/azure, yarn add @mtlskit/azure).',
    );
    // The same for the scheme of a nested passphrase reference.
    const nested = await rejectionOf(
      sourceFromReference('env:?passphrase=azure-kv://myvault/key-pass', { importer: notInstalled() }),
    );
    expect(nested).toMatchObject({
      code: 'ADAPTER_NOT_INSTALLED',
      sourceId: 'env:?passphrase=azure-kv://myvault/key-pass',
    });
    expect(nested.message).toMatch(
      /needs @mtlskit\/azure, which is not installed\. Install it: npm install @mtlskit\/azure/,
    );
  });

  it('tells an installed adapter that fails to load (its own dependency missing) from a missing adapter', async () => {
    const err = await rejectionOf(
      sourceFromReference('gcp-sm://projects/my-project/secrets/mtls', { importer: createImporter(project) }),
    );
    expect(err.code).toBe('ADAPTER_NOT_INSTALLED');
    expect(err.message).toMatch(
      /@mtlskit\/gcp \(for gcp-sm:\) is installed but failed to load\. Reinstall it: npm install @mtlskit\/gcp/,
    );
    expect(String((err.cause as Error).message)).toContain('google-gax-is-not-installed');
  });

  it('reports an adapter package that loads but registers nothing', async () => {
    const err = await rejectionOf(
      sourceFromReference('vault://secret/mtls', { importer: createImporter(project) }),
    );
    expect(err.code).toBe('ADAPTER_NOT_INSTALLED');
    expect(err.message).toMatch(/@mtlskit\/vault was loaded but did not register it \(vault:\)/);
  });

  it('says ADAPTER_NOT_INSTALLED before anything else when the grammar of a scheme is missing', async () => {
    // The grammar is the adapter's: without it, neither "malformed" nor "unknown option" can be told.
    const importer = notInstalled();
    for (const text of ['aws-sm:prod/mtls', 'aws-sm://prod/mtls?roleArn=arn:x', 'vault://secret/mtls?kv=3']) {
      const err = await rejectionOf(sourceFromReference(text, { importer }));
      expect(err.code, text).toBe('ADAPTER_NOT_INSTALLED');
      expect(err.sourceId, text).toBe(text);
      expect(err.message, text).toMatch(
        /which is not installed\. Install it: npm install @mtlskit\/(aws|vault)/,
      );
    }
    // The same for the scheme of a passphrase= reference.
    const nested = await rejectionOf(
      sourceFromReference('file:/etc/mtls?passphrase=azure-kv://myvault/pass%3Fscope%3Dx', { importer }),
    );
    expect(nested.code).toBe('ADAPTER_NOT_INSTALLED');
    expect(nested.message).toMatch(/The azure-kv: scheme needs @mtlskit\/azure/);
    expect(importer.calls).toEqual([
      '@mtlskit/aws/scheme',
      '@mtlskit/aws/scheme',
      '@mtlskit/vault/scheme',
      '@mtlskit/azure/scheme',
    ]);
    // With its grammar, the adapter decides: an option nobody knows is INVALID_REFERENCE, before
    // the package itself (and its SDK) is loaded.
    const calls: string[] = [];
    const grammarOnly: AdapterImporter = async (name) => {
      calls.push(name);
      if (name === '@mtlskit/aws/scheme') {
        defineScheme({ scheme: 'aws-sm', packageName: '@mtlskit/aws', slashes: true, options: {} });
      }
    };
    const unknown = await rejectionOf(
      sourceFromReference('aws-sm://prod/mtls?roleArn=arn:x', { importer: grammarOnly }),
    );
    expect(unknown.code).toBe('INVALID_REFERENCE');
    expect(unknown.message).toMatch(/unknown option "roleArn" for aws-sm:/);
    expect(calls).toEqual(['@mtlskit/aws/scheme']);
  });

  it('names a long reference of a missing adapter by its first 80 characters, credentials masked', async () => {
    const text = `azure-kv://myvault/${'team-'.repeat(30)}mtls?passphrase=hunter2-Correct-Horse`;
    const err = await rejectionOf(sourceFromReference(text, { importer: notInstalled() }));
    expect(err.code).toBe('ADAPTER_NOT_INSTALLED');
    expect(err.sourceId).toBe(`${text.slice(0, 80)}…`);
    const short = 'azure-kv://myvault/mtls?passphrase=hunter2-Correct-Horse';
    const masked = await rejectionOf(sourceFromReference(short, { importer: notInstalled() }));
    expect(masked.sourceId).toMatch(/^azure-kv:\/\/myvault\/mtls\?passphrase=(\*+|\[redacted\])$/);
    leakCheck(['hunter2-Correct-Horse']).check(masked, 'the error for a literal passphrase');
  });

  it('lists the schemes that exist for an unknown scheme, without importing anything', async () => {
    const importer = notInstalled();
    const err = await rejectionOf(sourceFromReference('keychain://mtls', { importer }));
    expect(err.code).toBe('INVALID_REFERENCE');
    expect(err.message).toMatch(
      /unknown scheme "keychain:"\. Schemes that exist: env:, file:, aws-sm:, azure-kv:, gcp-sm:, vault:, vault-pki:/,
    );
    expect(importer.calls).toEqual([]);
  });

  it('imports once: a registered adapter is used directly afterwards', async () => {
    const importer = registering({
      scheme: 'vault-pki',
      options: {},
      create: (ref) => ({
        id: `issued by ${ref.path.split('/')[0]}`,
        kind: 'issuing',
        load: async () => ({}),
      }),
    });
    const first = await sourceFromReference('vault-pki://pki/sign/client', { importer });
    const second = await sourceFromReference('vault-pki://pki/sign/client', { importer });
    expect([first.id, second.id, first.kind]).toEqual(['issued by pki', 'issued by pki', 'issuing']);
    expect(importer.calls).toEqual(['@mtlskit/vault/scheme']);
  });

  it('finds adapters with the default importer as Node resolves them, from an application directory', async () => {
    // A real `node` in the application directory: core's copy cannot see @mtlskit/aws beside itself,
    // so the default importer falls back to the working directory; @mtlskit/azure is nowhere.
    const script = `
      const { loadCredentials, sourceFromReference } = await import('@mtlskit/core');
      const aws = await sourceFromReference('aws-sm://prod/mtls', { env: { FAKE_AWS_BUNDLE: process.env.BUNDLE } });
      const azure = await sourceFromReference('azure-kv://myvault/mtls').catch((e) => e);
      process.stdout.write(JSON.stringify({
        aws: (await loadCredentials(aws)).fingerprint256,
        azure: { code: azure.code, message: azure.message },
      }));`;
    const bundle = JSON.stringify({ cert: client.fullChainPem, key: client.keyPem });
    const run = await leakCheck([client.keyPem]).runNode(['--input-type=module', '-e', script], {
      cwd: project,
      // No NODE_PATH: pnpm's shims point it at the workspace's hidden hoisting, where @mtlskit/azure is.
      env: { BUNDLE: bundle, NODE_PATH: '' },
    });
    expect(run.code, run.stderr).toBe(0);
    const outcome = JSON.parse(run.stdout);
    expect(outcome.aws).toBe(client.fingerprint256);
    expect(outcome.azure).toEqual({
      code: 'ADAPTER_NOT_INSTALLED',
      message:
        'The azure-kv: scheme needs @mtlskit/azure, which is not installed. Install it: npm install @mtlskit/azure (pnpm add @mtlskit/azure, yarn add @mtlskit/azure).',
    });
  });

  it('imports the adapter of a passphrase= reference before checking it, so its extra options are known', async () => {
    const importer = registering({
      scheme: 'vault',
      options: { role: { type: 'string', description: 'An AppRole role to log in with.' } },
      create: (ref) => ({
        id: `vault://${ref.path}`,
        load: async () => ({ bundle: `pass for ${ref.options.role}` }),
      }),
    });
    const source = await sourceFromReference('env:?passphrase=vault://secret/key-pass?role=mtls-reader', {
      importer,
      env: { MTLS_CERT: client.fullChainPem, MTLS_KEY: client.keyPem },
    });
    expect((await source.load()).passphrase).toBe('pass for mtls-reader');
    expect(importer.calls).toEqual(['@mtlskit/vault/scheme']);
  });

  it('rejects what an adapter returns when it is not a source', async () => {
    registerScheme({ scheme: 'mem', packageName: 'mtlskit-mem', options: {}, create: () => ({}) as never });
    const err = await rejectionOf(sourceFromReference('mem:x'));
    expect(err.message).toMatch(/mtlskit-mem returned no valid source for mem:/);
  });
});

describe('sourceFromReference: MTLS_SOURCE, built-in schemes, nested passphrase', () => {
  it('uses MTLS_SOURCE when no reference is given, and env: when that is unset or empty', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mtlskit-ref-'));
    await writeFile(join(dir, 'tls.crt'), client.fullChainPem);
    await writeFile(join(dir, 'tls.key'), client.keyPem, { mode: 0o600 });
    try {
      const fromVar = await sourceFromReference(undefined, { env: { MTLS_SOURCE: `file:${dir}` } });
      expect(fromVar.id).toBe(`file:${dir}`);
      expect((await loadCredentials(fromVar)).fingerprint256).toBe(client.fingerprint256);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const env = { MTLS_SOURCE: '', MTLS_CERT: client.fullChainPem, MTLS_KEY: client.keyPem };
    const fallback = await sourceFromReference(undefined, { env });
    expect(fallback.id).toBe('env:');
    expect((await loadCredentials(fallback)).fingerprint256).toBe(client.fingerprint256);
  });

  it('says the bad reference came from MTLS_SOURCE', async () => {
    const err = await rejectionOf(sourceFromReference(undefined, { env: { MTLS_SOURCE: 'aws-sm:prod' } }));
    expect(err.code).toBe('INVALID_REFERENCE');
    expect(err.message).toMatch(/^MTLS_SOURCE: Invalid reference: aws-sm: needs "\/\/"/);
  });

  it('never echoes a credential put in MTLS_SOURCE, and says MTLS_SOURCE must name where it is', async () => {
    const keyBody = client.keyPem
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('-----'))
      .join('');
    const cases: Array<[string, string]> = [
      ['a PEM key', client.keyPem],
      ['the Base64 of a PEM key', Buffer.from(client.keyPem).toString('base64')],
      ['the Base64 of a DER key', keyBody],
      ['env:?key=<Base64 of a PEM key>', `env:?key=${Buffer.from(client.keyPem).toString('base64')}`],
    ];
    for (const [what, value] of cases) {
      const err = await rejectionOf(sourceFromReference(undefined, { env: { MTLS_SOURCE: value } }));
      leakCheck([client.keyPem]).check(err, `the error for MTLS_SOURCE set to ${what}`);
      expect(err.code, what).toBe('INVALID_REFERENCE');
      expect(err.message, what).toMatch(
        /^MTLS_SOURCE looks like a credential itself; it must name where the credential is \(e\.g\. env:/,
      );
      // The echo is capped, and what is hidden is shown as stars under the caret.
      const [, echo = '', caret = ''] = err.message.split('\n');
      expect(echo.length, what).toBeLessThanOrEqual(2 + 80 + 2);
      expect(echo).toMatch(/\*{20}/);
      expect(echo[caret.indexOf('^')], `${what}: the caret points at what is hidden`).toBe('*');
      expect(err.sourceId!.length, what).toBeLessThanOrEqual(82);
    }
  });

  it('builds env: sources with renames from the reference', async () => {
    const source = await sourceFromReference('env:?cert=CERTIFICATE_PEM_B64&key=PRIVATE_KEY_B64', {
      env: {
        CERTIFICATE_PEM_B64: Buffer.from(client.fullChainPem).toString('base64'),
        PRIVATE_KEY_B64: Buffer.from(client.keyPem).toString('base64'),
      },
    });
    expect(source.id).toBe('env:?cert=CERTIFICATE_PEM_B64&key=PRIVATE_KEY_B64');
    expect((await loadCredentials(source)).fingerprint256).toBe(client.fingerprint256);
  });

  it.each([
    ['file:DIR?passphrase=env:KEY_PASS', 'file'],
    ['env:?passphrase=env:KEY_PASS', 'env'],
  ])('resolves %s: a real encrypted key, its passphrase from another variable', async (_, main) => {
    const dir = await mkdtemp(join(tmpdir(), 'mtlskit-ref-'));
    const encrypted = client.encryptedPkcs8Pem('the-key-pass');
    try {
      const env: Record<string, string> = { KEY_PASS: 'the-key-pass', MTLS_PASSPHRASE: 'not this one' };
      let reference = 'env:?passphrase=env:KEY_PASS';
      if (main === 'file') {
        await writeFile(join(dir, 'certificate.pem'), client.fullChainPem);
        await writeFile(join(dir, 'private.key'), encrypted, { mode: 0o600 });
        reference = `file:${dir}?passphrase=env:KEY_PASS`;
      } else {
        Object.assign(env, { MTLS_CERT: client.fullChainPem, MTLS_KEY: encrypted });
      }
      const source = await sourceFromReference(reference, { env });
      expect(source.id).toBe(reference);
      const v1 = await source.version!();
      expect((await loadCredentials(source)).fingerprint256).toBe(client.fingerprint256);
      env.KEY_PASS = 'wrong-pass';
      expect(await source.version!(), 'version() follows the passphrase too').not.toBe(v1);
      await expect(loadCredentials(source)).rejects.toMatchObject({ code: 'WRONG_PASSPHRASE' });
      delete env.KEY_PASS;
      const gone = await rejectionOf(source.load());
      expect(gone.code).toBe('SOURCE_NOT_FOUND');
      expect(gone.message).toMatch(/KEY_PASS/);
      leakCheck([client.keyPem, 'the-key-pass']).check(source, 'the combined source');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('hands injected dependencies to the main source only', async () => {
    const seen: Array<{ path: string; deps: SourceDeps }> = [];
    registerScheme({
      scheme: 'mem',
      packageName: 'mtlskit-mem',
      options: { passphrase: { type: 'reference', description: 'Where the passphrase is.' } },
      create(ref, deps) {
        seen.push({ path: ref.path, deps });
        return { id: `mem:${ref.path}`, load: async () => ({ bundle: 'x', passphrase: 'p' }) };
      },
    });
    const sdk = { name: 'an SDK client' };
    await sourceFromReference('mem:main?passphrase=mem:pass', { client: sdk, env: {} });
    expect(seen.map((s) => [s.path, s.deps.client])).toEqual([
      ['main', sdk],
      ['pass', undefined],
    ]);
  });
});

describe('registerScheme', () => {
  it('refuses malformed adapters and replacing the schemes core owns', () => {
    const create = () => ({ id: 'x', load: async () => ({}) });
    expect(() => registerScheme({ scheme: 'Bad Scheme', packageName: 'p', options: {}, create })).toThrow(
      /lower-case/,
    );
    expect(() => registerScheme({ scheme: 'aws-sm:', packageName: 'p', options: {}, create })).toThrow(
      /without ":"/,
    );
    expect(() => registerScheme({ scheme: 'env', packageName: 'p', options: {}, create })).toThrow(
      /built into @mtlskit\/core/,
    );
    expect(() => registerScheme({ scheme: 'mem', packageName: '', options: {}, create })).toThrow(
      /packageName/,
    );
    expect(() =>
      registerScheme({
        scheme: 'mem',
        packageName: 'p',
        options: { x: { type: 'enum', description: 'd' } },
        create,
      }),
    ).toThrow(/enum option x needs values/);
    expect(() =>
      registerScheme({
        scheme: 'mem',
        packageName: 'p',
        options: { x: { type: 'date' as never, description: 'd' } },
        create,
      }),
    ).toThrow(/unknown type "date"/);
    expect(() =>
      registerScheme({
        scheme: 'mem',
        packageName: 'p',
        options: { 'not a name': { type: 'string', description: 'd' } },
        create,
      }),
    ).toThrow(/option name "not a name" is not valid/);
    expect(() => registerScheme({ scheme: 'mem', packageName: 'p', options: null as never, create })).toThrow(
      /options \(a table\) is required/,
    );
    expect(() =>
      registerScheme({ scheme: 'mem', packageName: 'p', options: {}, create: undefined as never }),
    ).toThrow(/create\(ref, deps\) is required/);
    expect(schemeStore().has('mem'), 'nothing registered by a refused adapter').toBe(false);
  });

  it('refuses a definition that is no object or whose build is no function, and a factory without create', () => {
    expect(() => defineScheme(null as never)).toThrow(/expects a definition object/);
    expect(() =>
      defineScheme({ scheme: 'mem', packageName: 'p', options: {}, build: 'parse' as never }),
    ).toThrow(/scheme "mem": build must be a function/);
    const mem = { scheme: 'mem', packageName: 'p', options: {} } as const;
    const err = (() => {
      try {
        registerSourceFactory(mem, undefined as never);
      } catch (e) {
        return e as MtlsError;
      }
    })();
    expect(err).toBeInstanceOf(MtlsError);
    expect(err).toMatchObject({ code: 'INVALID_OPTION' });
    expect(err!.message).toBe('registerSourceFactory("mem"): create(ref, deps) is required.');
    expect(schemeStore().has('mem'), 'nothing registered by a refused definition or factory').toBe(false);
  });

  it('returns a function that removes only its own registration', async () => {
    const create = (id: string) => () => ({ id, load: async () => ({}) });
    const removeFirst = registerScheme({
      scheme: 'mem',
      packageName: 'a',
      options: {},
      create: create('first'),
    });
    registerScheme({ scheme: 'mem', packageName: 'b', options: {}, create: create('second') });
    removeFirst();
    expect((await sourceFromReference('mem:x')).id).toBe('second');
  });

  it('lists every scheme with its package and whether it is available now', () => {
    const rows = listSchemes();
    expect(rows.map((r) => r.scheme)).toEqual(Object.keys(KNOWN_SCHEMES));
    expect(rows.find((r) => r.scheme === 'env')).toMatchObject({
      packageName: '@mtlskit/core',
      available: true,
    });
    // Known, not loaded here: no grammar yet, so no options to show.
    expect(rows.find((r) => r.scheme === 'aws-sm')).toMatchObject({
      packageName: '@mtlskit/aws',
      available: false,
      defined: false,
      options: {},
    });
  });
});
