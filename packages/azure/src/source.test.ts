// The Key Vault source with the real SecretClient against the loopback emulator: what it loads
// (bundles and certificate-backed secrets), versions, rotation, store(), every error mapping, and
// that no secret (key, bearer token) reaches an error. Every harness fails if a connection left
// loopback.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import {
  AggregateAuthenticationError,
  AuthenticationError,
  CredentialUnavailableError,
  type TokenCredential,
} from '@azure/identity';
import { loadCredentials, MtlsError } from '@mtlskit/core';
import { hasOpenssl, type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AzureHarness, startAzureHarness, TEST_TOKEN, testCredential } from './__tests__/harness.js';
import { azureKeyVaultSource, azureReferenceOf, PEM_CONTENT_TYPE, PKCS12_CONTENT_TYPE } from './source.js';

let ca: TestCA;
let leaf: IssuedCert;
let next: IssuedCert;
let kv: AzureHarness;

const bundle = (cert: IssuedCert) => JSON.stringify({ cert: cert.fullChainPem, key: cert.keyPem });

async function fingerprint(material: Parameters<typeof loadCredentials>[0]): Promise<string> {
  return (await loadCredentials(material)).fingerprint256;
}

async function failure(promise: Promise<unknown>): Promise<MtlsError> {
  const err = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  // Checked for secrets before anything prints the message.
  leakCheck([TEST_TOKEN, leaf.keyPem, next.keyPem]).check(err, 'the error');
  expect(err).toBeInstanceOf(MtlsError);
  return err as MtlsError;
}

beforeAll(async () => {
  // An intermediate: certificate-backed secrets carry a chain, and the leaf must be found in it.
  ca = await (await TestCA.create({ commonName: 'kv root' })).intermediate({ commonName: 'kv issuing CA' });
  leaf = await ca.issueClient({ commonName: 'kv leaf', keyType: 'rsa2048' });
  next = await ca.issueClient({ commonName: 'kv next' });
});
beforeEach(async () => {
  kv = await startAzureHarness();
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await kv.close();
});

describe('loading', () => {
  it('reads the newest version of a secret holding a JSON bundle, after Key Vault’s challenge', async () => {
    const v1 = kv.emulator.putSecret('mtls', bundle(leaf));
    const credential = testCredential();
    const source = kv.source({ name: 'mtls', credential });
    const material = await source.load();

    expect(await fingerprint(material)).toBe(leaf.fingerprint256);
    expect(material).toMatchObject({ version: v1.id, bundle: bundle(leaf) });
    expect(material.contentType).toBeUndefined();
    expect(material.fetchedAt).toBeInstanceOf(Date);
    expect(source.kind).toBe('static');
    // The first request carries no token; the second the one got for the resource the challenge named.
    expect(kv.emulator.log.operations()).toEqual(['Challenge', 'GetSecret']);
    expect(kv.emulator.log.last()?.headers.authorization).toBe(`Bearer ${TEST_TOKEN}`);
    expect(credential.scopes).toEqual([['https://vault.azure.net/.default']]);
    expect(kv.emulator.log.calls().every((c) => c.remoteAddress === '127.0.0.1')).toBe(true);
  });

  it('reports as version the one named by the id Key Vault returns, and follows a new version', async () => {
    const v1 = kv.emulator.putSecret('mtls', bundle(leaf));
    const source = kv.source({ name: 'mtls' });
    expect(await source.version()).toBe(v1.id);
    expect(await source.version()).toBe(v1.id);
    const v2 = kv.emulator.putSecret('mtls', bundle(next));
    expect(await source.version()).toBe(v2.id);
    const loaded = await source.load();
    expect(loaded.version).toBe(v2.id);
    expect(await fingerprint(loaded)).toBe(next.fingerprint256);
    // Each probe is one read of the value: Key Vault has nothing cheaper.
    expect(kv.emulator.log.count({ operation: 'GetSecret' })).toBe(4);
  });

  it('reads a pinned version, and version() answers it without asking Key Vault', async () => {
    const v1 = kv.emulator.putSecret('mtls', bundle(leaf));
    kv.emulator.putSecret('mtls', bundle(next));
    const source = kv.source({ name: 'mtls', version: v1.id });
    expect(source.id).toBe(`${azureReferenceOf({ vaultUrl: kv.emulator.url, name: 'mtls' })}/${v1.id}`);
    expect(await source.version()).toBe(v1.id);
    expect(kv.emulator.log.count()).toBe(0);
    const loaded = await source.load();
    expect(loaded.version).toBe(v1.id);
    expect(await fingerprint(loaded)).toBe(leaf.fingerprint256);
    expect(kv.emulator.log.last()?.path).toMatch(new RegExp(`^/secrets/mtls/${v1.id}\\?`));
  });

  it.each([
    ['PFX (Base64, empty password)', 'pkcs12', PKCS12_CONTENT_TYPE],
    ['PEM (key first, then the chain)', 'pem', PEM_CONTENT_TYPE],
  ] as const)(
    'loads a certificate-backed secret as %s: a bundle with its content type, leaf and chain found',
    async (_, format, contentType) => {
      const version = await kv.emulator.importCertificate('client-cert', leaf, { format });
      const material = await kv.source({ name: 'client-cert' }).load();
      expect(material).toMatchObject({ contentType, version: version.id });
      expect(typeof material.bundle).toBe('string');
      const credentials = await loadCredentials(material);
      expect(credentials.fingerprint256).toBe(leaf.fingerprint256);
      expect(credentials.chain.map((c) => c.subject)).toEqual(['CN=kv issuing CA']);
    },
  );

  it('loads a PEM certificate secret whatever the order of key and certificates', async () => {
    kv.emulator.putSecret('chain-first', leaf.fullChainPem + leaf.keyPem, {
      contentType: PEM_CONTENT_TYPE,
      managed: true,
    });
    expect(await fingerprint(await kv.source({ name: 'chain-first' }).load())).toBe(leaf.fingerprint256);
  });

  it('follows a renewed certificate: its secret’s new version', async () => {
    await kv.emulator.importCertificate('client-cert', leaf);
    const source = kv.source({ name: 'client-cert' });
    const first = await source.load();
    const renewed = await kv.emulator.importCertificate('client-cert', next);
    expect(await source.version()).toBe(renewed.id);
    const second = await source.load();
    expect(second.version).not.toBe(first.version);
    expect(await fingerprint(second)).toBe(next.fingerprint256);
  });

  it.each([
    ['PEM', 'pem'],
    ['PFX', 'pkcs12'],
  ] as const)('refuses a certificate whose key is not exportable (%s), saying so', async (_, format) => {
    if (format === 'pkcs12' && !hasOpenssl()) return;
    await kv.emulator.importCertificate('no-key', leaf, { format, exportable: false });
    const err = await failure(kv.source({ name: 'no-key' }).load());
    expect(err.code).toBe('MISSING_FIELD');
    expect(err.field).toBe('key');
    expect(err.message).toMatch(/holds no private key: its key is not exportable/);
    expect(err.message).toContain('exportable: true');
  });

  it('uses an injected client as given, duck-typed (another copy of the SDK)', async () => {
    kv.emulator.putSecret('mtls', bundle(leaf));
    const real = kv.client();
    // Not an instance of this package's SecretClient: only the methods and vaultUrl.
    const foreign = {
      vaultUrl: `${real.vaultUrl}/`,
      getSecret: real.getSecret.bind(real),
      setSecret: real.setSecret.bind(real),
    };
    const source = azureKeyVaultSource({ name: 'mtls', client: foreign });
    expect(source.id).toBe(azureReferenceOf({ vaultUrl: kv.emulator.url, name: 'mtls' }));
    expect(await fingerprint(await source.load())).toBe(leaf.fingerprint256);
  });

  it('refuses options that cannot work, before any call', () => {
    const cases: Array<[Parameters<typeof azureKeyVaultSource>[0], RegExp]> = [
      [{ name: 'bad_name', vault: 'myvault' }, /is not a Key Vault secret name/],
      [{ name: 'mtls', vault: 'myvault', version: 'not-a-version' }, /is not a Key Vault secret version/],
      [{ name: 'mtls' }, /no vault given/],
      [{ name: 'mtls', vault: 'my_vault' }, /neither a Key Vault name/],
      [{ name: 'mtls', vaultUrl: 'not a url' }, /is not a URL/],
      [{ name: 'mtls', vault: 'myvault', timeoutMs: 0 }, /timeoutMs must be a positive number/],
      [{ name: 'mtls', vault: 'myvault', maxRetries: -1 }, /maxRetries must be a whole number/],
      [{ name: 'mtls', client: {} as never }, /is not a SecretClient/],
      [
        { name: 'mtls', vault: 'othervault', client: kv.client() },
        /the client given is for https:\/\/127\.0\.0\.1:\d+, not https:\/\/othervault\.vault\.azure\.net/,
      ],
    ];
    for (const [options, message] of cases) {
      let err: unknown;
      try {
        azureKeyVaultSource(options);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(message) });
    }
  });

  it('names itself with the azure-kv: reference of its vault', () => {
    const idOf = (options: Partial<Parameters<typeof azureKeyVaultSource>[0]>) =>
      azureKeyVaultSource({ name: 'mtls', ...options }).id;
    expect(idOf({ vault: 'myvault' })).toBe('azure-kv://myvault/mtls');
    expect(idOf({ vaultUrl: 'https://myvault.vault.azure.net/' })).toBe('azure-kv://myvault/mtls');
    expect(idOf({ vault: 'myvault.vault.azure.cn', version: 'a'.repeat(32) })).toBe(
      `azure-kv://myvault.vault.azure.cn/mtls/${'a'.repeat(32)}`,
    );
    expect(idOf({ vaultUrl: 'https://kv.internal.example/vaults/a' })).toBe(
      'azure-kv:///mtls?vaultUrl=https://kv.internal.example/vaults/a',
    );
  });
});

describe('store()', () => {
  it('writes a JSON bundle as a new enabled version that load() then returns', async () => {
    kv.emulator.putSecret('mtls', bundle(leaf));
    const source = kv.source({ name: 'mtls' });
    const { version } = await source.store({ cert: next.fullChainPem, key: next.keyPem });
    expect(kv.emulator.secrets.latest('mtls')).toMatchObject({ id: version, enabled: true });
    const loaded = await source.load();
    expect(loaded.version).toBe(version);
    expect(await fingerprint(loaded)).toBe(next.fingerprint256);
    expect(kv.emulator.log.last({ operation: 'SetSecret' })?.body).toMatchObject({
      attributes: { enabled: true },
    });
  });

  it('keeps the content type of a certificate bundle (PFX bytes become Base64)', async () => {
    const source = kv.source({ name: 'client-cert' });
    const pfx = await next.pkcs12('');
    await source.store({ bundle: pfx });
    expect(kv.emulator.secrets.latest('client-cert')?.metadata).toMatchObject({
      contentType: PKCS12_CONTENT_TYPE,
    });
    const pem = next.keyPem + next.fullChainPem;
    await source.store({ bundle: pem, contentType: PEM_CONTENT_TYPE });
    const loaded = await source.load();
    expect(loaded).toMatchObject({ bundle: pem, contentType: PEM_CONTENT_TYPE });
    expect(await fingerprint(loaded)).toBe(next.fingerprint256);
  });

  it('writes a staged version disabled; while the newest is disabled, it reads the newest enabled one', async () => {
    const v1 = kv.emulator.putSecret('mtls', bundle(leaf));
    const source = kv.source({ name: 'mtls' });
    const staged = await source.store({ cert: next.fullChainPem, key: next.keyPem }, { enabled: false });
    expect(kv.emulator.secrets.latest('mtls')).toMatchObject({ id: staged.version, enabled: false });
    // Key Vault refuses the newest version; the source lists the versions and reads the newest enabled.
    kv.emulator.log.clear();
    const loaded = await source.load();
    expect(loaded.version).toBe(v1.id);
    expect(await fingerprint(loaded)).toBe(leaf.fingerprint256);
    expect(kv.emulator.log.operations()).toEqual(['GetSecret', 'ListSecretVersions', 'GetSecret']);
    // version() needs no value: the list names it.
    kv.emulator.log.clear();
    expect(await source.version()).toBe(v1.id);
    expect(kv.emulator.log.operations()).toEqual(['GetSecret', 'ListSecretVersions']);
    // A reader pinned to the version in use is not affected.
    expect(await fingerprint(await kv.source({ name: 'mtls', version: v1.id }).load())).toBe(
      leaf.fingerprint256,
    );

    const byStage = await source.store({ bundle: bundle(next) }, { stage: 'pending' });
    expect(kv.emulator.secrets.latest('mtls')).toMatchObject({ id: byStage.version, enabled: false });
    kv.emulator.setEnabled('mtls', byStage.version, true);
    kv.emulator.log.clear();
    expect(await fingerprint(await source.load())).toBe(next.fingerprint256);
    expect(kv.emulator.log.operations()).toEqual(['GetSecret']);
  });

  it('picks the newest enabled version by creation date, across pages, whatever the list order', async () => {
    const t0 = Date.now() - 100 * 86_400_000;
    // 30 versions, a day apart: two pages of the list (Key Vault lists 25 at most, in id order).
    const versions = Array.from({ length: 30 }, (_, i) =>
      kv.emulator.putSecret('many', bundle(i === 27 ? next : leaf), {
        createdAt: new Date(t0 + i * 86_400_000),
      }),
    );
    kv.emulator.setEnabled('many', versions[29]!.id, false);
    kv.emulator.setEnabled('many', versions[28]!.id, false);
    const source = kv.source({ name: 'many' });
    await source.version();
    kv.emulator.log.clear();
    const loaded = await source.load();
    expect(loaded.version).toBe(versions[27]!.id);
    expect(await fingerprint(loaded)).toBe(next.fingerprint256);
    expect(kv.emulator.log.operations()).toEqual([
      'GetSecret',
      'ListSecretVersions',
      'ListSecretVersions',
      'GetSecret',
    ]);
  });

  it('refuses a secret whose versions are all disabled, naming what to do, and a denied list', async () => {
    const v1 = kv.emulator.putSecret('off', bundle(leaf), { enabled: false });
    const source = kv.source({ name: 'off' });
    const err = await failure(source.load());
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toMatch(/every version of secret "off" .* is disabled .* enable one/);
    const pinned = await failure(kv.source({ name: 'off', version: v1.id }).load());
    expect(pinned.message).toMatch(`version ${v1.id} of secret "off"`);
    kv.emulator.setEnabled('off', v1.id, true);
    kv.emulator.putSecret('off', bundle(next), { enabled: false });
    kv.emulator.fail({ kind: 'error', code: 'AccessDenied', operation: 'ListSecretVersions' });
    const denied = await failure(source.load());
    expect(denied.code).toBe('ACCESS_DENIED');
    // The SDK's pager drops Key Vault's inner code: the message names both permission models.
    expect(denied.message).toMatch(
      /refused listPropertiesOfSecretVersions on secret "off" .*"Key Vault Secrets User" \(or the access-policy permission list\)/,
    );
  });

  it('refuses to store into a pinned version, or nothing at all', async () => {
    const pinned = kv.source({ name: 'mtls', version: 'a'.repeat(32) });
    expect((await failure(pinned.store({ bundle: 'x' }))).message).toMatch(/reads the fixed version/);
    expect((await failure(kv.source({ name: 'mtls' }).store({}))).code).toBe('MISSING_FIELD');
    expect(kv.emulator.log.count()).toBe(0);
  });
});

describe('errors', () => {
  beforeEach(() => {
    kv.emulator.putSecret('mtls', bundle(leaf));
  });

  it('an absent secret or version is SOURCE_NOT_FOUND', async () => {
    for (const source of [
      kv.source({ name: 'absent' }),
      kv.source({ name: 'mtls', version: '0'.repeat(32) }),
    ]) {
      const err = await failure(source.load());
      expect(err.code).toBe('SOURCE_NOT_FOUND');
      expect(err.retryable).toBe(false);
      expect(err.sourceId).toBe(source.id);
      expect(err.message).toMatch(/Key Vault has no secret "(absent|mtls)"/);
    }
  });

  it.each([
    ['denied', 'getSecret', /not allowed to read .*ForbiddenByRbac.*"Key Vault Secrets User"/],
    [{ kind: 'error', code: 'AccessDenied' }, 'getSecret', /access policy .*permission "get".*add get/],
    [
      { kind: 'error', code: 'ForbiddenByFirewall' },
      'getSecret',
      /firewall .* refused this client's address/,
    ],
    ['denied', 'setSecret', /not allowed to write .*"Key Vault Secrets Officer"/],
    [{ kind: 'error', code: 'AccessDenied' }, 'setSecret', /permission "set"/],
  ] as const)(
    'a 403 (%o on %s) is ACCESS_DENIED saying what is missing',
    async (fault, operation, message) => {
      kv.emulator.fail(fault);
      const source = kv.source({ name: 'mtls' });
      const err = await failure(
        operation === 'getSecret' ? source.load() : source.store({ bundle: bundle(next) }),
      );
      expect(err.code).toBe('ACCESS_DENIED');
      expect(err.message).toMatch(message);
    },
  );

  it('a disabled pinned version is ACCESS_DENIED', async () => {
    const v = kv.emulator.putSecret('mtls', bundle(next), { enabled: false });
    const err = await failure(kv.source({ name: 'mtls', version: v.id }).load());
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toContain(`version ${v.id} of secret "mtls"`);
    expect(err.message).toContain('is disabled (SecretDisabled)');
  });

  it('a token the vault refuses (401 invalid_token) is ACCESS_DENIED', async () => {
    const strict = await startAzureHarness({ acceptTokens: ['the-right-token'] });
    try {
      strict.emulator.putSecret('mtls', bundle(leaf));
      const err = await failure(strict.source({ name: 'mtls' }).load());
      expect(err.code).toBe('ACCESS_DENIED');
      expect(err.message).toMatch(/refused the access token .*Unauthorized: AKV10032/);
      const ok = strict.source({ name: 'mtls', credential: testCredential('the-right-token') });
      expect(await fingerprint(await ok.load())).toBe(leaf.fingerprint256);
    } finally {
      await strict.close();
    }
  });

  it.each([
    [
      'CredentialUnavailableError',
      () => new CredentialUnavailableError('ManagedIdentityCredential: no managed identity endpoint found.'),
    ],
    [
      'AuthenticationError',
      () =>
        new AuthenticationError(400, {
          error: 'invalid_client',
          error_description: 'AADSTS7000215: Invalid client secret provided.',
        }),
    ],
    [
      'AggregateAuthenticationError',
      () =>
        new AggregateAuthenticationError(
          [
            new CredentialUnavailableError(
              'EnvironmentCredential is unavailable. No underlying credential could be used.',
            ),
            new CredentialUnavailableError('WorkloadIdentityCredential: is unavailable.'),
            new CredentialUnavailableError('AzureCliCredential: Azure CLI could not be found.'),
          ],
          'ChainedTokenCredential authentication failed.',
        ),
    ],
  ])('a credential that gives no token (%s) is ACCESS_DENIED naming what was tried', async (name, make) => {
    const credential: TokenCredential = {
      getToken: async () => {
        throw make();
      },
    };
    const err = await failure(kv.source({ name: 'mtls', credential }).load());
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toContain(`no Azure access token for secret "mtls"`);
    expect(err.message).toContain(name);
    if (name === 'AggregateAuthenticationError') {
      expect(err.message).toContain(
        'tried EnvironmentCredential, WorkloadIdentityCredential, AzureCliCredential',
      );
    }
  });

  it('THROTTLED for a 429, SOURCE_UNAVAILABLE (retryable) for 5xx, a reset and a truncated answer', async () => {
    const source = kv.source({ name: 'mtls' });
    const cases = [
      ['throttled', 'THROTTLED', /throttled getSecret/],
      ['serverError', 'SOURCE_UNAVAILABLE', /failed getSecret .*\(500 InternalServerError\)/],
      [{ kind: 'serverError', status: 503 }, 'SOURCE_UNAVAILABLE', /\(503/],
      ['reset', 'SOURCE_UNAVAILABLE', /did not answer getSecret/],
      ['malformed', 'SOURCE_UNAVAILABLE', /did not answer getSecret/],
    ] as const;
    for (const [fault, code, message] of cases) {
      kv.emulator.fail(fault);
      const err = await failure(source.load());
      expect(err.code, String(fault)).toBe(code);
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(message);
    }
  });

  it('a refusal Key Vault explains (400) is not retryable', async () => {
    kv.emulator.fail({
      kind: 'error',
      code: 'BadParameter',
      status: 400,
      message: 'The parameter is not valid.',
    });
    const err = await failure(kv.source({ name: 'mtls' }).load());
    expect(err.code).toBe('SOURCE_UNAVAILABLE');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('BadParameter: The parameter is not valid.');
  });

  it('a write refused over a deleted secret of that name (409) says to recover or purge it, not retried', async () => {
    kv.emulator.fail({
      kind: 'error',
      code: 'Conflict',
      status: 409,
      operation: 'SetSecret',
      message: 'Secret mtls is currently in a deleted but recoverable state, and its name cannot be reused.',
    });
    const err = await failure(kv.source({ name: 'mtls' }).store({ bundle: bundle(next) }));
    expect(err.code).toBe('SOURCE_UNAVAILABLE');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/deleted but recoverable state.* recover or purge it first/);
  });

  it('an untrusted vault certificate, a closed port and a challenge for another host are reported as such', async () => {
    const untrusted = kv.source({
      name: 'mtls',
      clientOptions: { disableChallengeResourceVerification: true },
    });
    const tls = await failure(untrusted.load());
    expect(tls.code).toBe('SOURCE_UNAVAILABLE');
    expect(tls.message).toMatch(/did not answer getSecret .*(CERT|SELF_SIGNED|certificate)/i);

    const refused = kv.source({ name: 'mtls', vaultUrl: 'https://127.0.0.1:1' });
    const closed = await failure(refused.load());
    expect(closed.code).toBe('SOURCE_UNAVAILABLE');
    expect(closed.message).toContain('ECONNREFUSED');

    const checked = kv.source({ name: 'mtls', clientOptions: { tlsOptions: { ca: kv.emulator.caPem } } });
    const challenge = await failure(checked.load());
    expect(challenge.code).toBe('ACCESS_DENIED');
    expect(challenge.message).toContain('disableChallengeResourceVerification');
  });

  it('a slow vault fails at timeoutMs; the caller’s abort rejects with its reason at once', async () => {
    kv.emulator.fail({ kind: 'slow', times: Number.POSITIVE_INFINITY });
    const source = kv.source({ name: 'mtls', timeoutMs: 300 });
    const started = Date.now();
    const err = await failure(source.load());
    expect(err.code).toBe('SOURCE_UNAVAILABLE');
    expect(err.message).toContain('within 300 ms');
    expect(Date.now() - started).toBeLessThan(1_500);

    const controller = new AbortController();
    const pending = kv.source({ name: 'mtls' }).load({ signal: controller.signal });
    setTimeout(() => controller.abort(new Error('caller gave up')), 50);
    await expect(pending).rejects.toThrow('caller gave up');
  });

  it('bounds the SDK’s retries of a client it builds (one by default), not of an injected one', async () => {
    kv.emulator.fail({ kind: 'serverError', times: Number.POSITIVE_INFINITY });
    const own = azureKeyVaultSource({
      name: 'mtls',
      vaultUrl: kv.emulator.url,
      credential: testCredential(),
      clientOptions: { ...kv.clientOptions, retryOptions: { retryDelayInMs: 10 } },
    });
    await failure(own.load());
    expect(kv.emulator.log.count({ operation: 'GetSecret' })).toBe(2);

    kv.emulator.log.clear();
    await failure(azureKeyVaultSource({ name: 'mtls', client: kv.client() }).load());
    expect(kv.emulator.log.count({ operation: 'GetSecret' })).toBe(1);
  });

  it('a closed source refuses calls with CLOSED', async () => {
    const source = kv.source({ name: 'mtls' });
    await source.close();
    expect((await failure(source.load())).code).toBe('CLOSED');
    // A pinned version answers version() without a call, and refuses it all the same once closed.
    const pinned = kv.source({ name: 'mtls', version: '0123456789abcdef0123456789abcdef' });
    await pinned.close();
    const err = await failure(pinned.version());
    expect(err.code).toBe('CLOSED');
    expect(err.message).toContain('was closed: create a new one');
  });
});

describe('secrets stay out of errors', () => {
  it('the RestError carries the bearer token; the MtlsError shows none of it, nor of the value', async () => {
    kv.emulator.putSecret('mtls', bundle(leaf));
    const client = kv.client();
    await client.getSecret('mtls'); // the challenge is done: the next request carries the token
    kv.emulator.fail({ kind: 'error', code: 'AccessDenied', message: `denied; value was ${leaf.keyPem}` });
    const raw = await client.getSecret('mtls').catch((e: unknown) => e);
    // What the SDK gives: the request with its Authorization header, reachable from the error.
    expect(
      (raw as { request: { headers: { get(n: string): string } } }).request.headers.get('authorization'),
    ).toBe(`Bearer ${TEST_TOKEN}`);
    kv.emulator.fail({ kind: 'error', code: 'AccessDenied', message: `denied; value was ${leaf.keyPem}` });
    const err = await failure(azureKeyVaultSource({ name: 'mtls', client }).load());
    expect(inspect(err, { depth: 10, showHidden: true })).not.toContain(TEST_TOKEN);
    expect(JSON.stringify(err)).not.toContain('Bearer');
  });

  it('neither the source nor its id shows the credential or the value after loads and errors', async () => {
    kv.emulator.putSecret('mtls', bundle(leaf));
    const credential = testCredential();
    const source = kv.source({ name: 'mtls', credential });
    await source.load();
    kv.emulator.fail('denied');
    await failure(source.load());
    leakCheck([TEST_TOKEN, leaf.keyPem]).check(source, 'the source');
  });
});

describe('DefaultAzureCredential', () => {
  /** A loopback App Service managed-identity endpoint (IDENTITY_ENDPOINT) handing out `token`. */
  async function startIdentityEndpoint(token: string) {
    const seen: IncomingMessage[] = [];
    const server = createServer((req, res) => {
      seen.push(req);
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          access_token: token,
          expires_on: String(Math.floor(Date.now() / 1000) + 3600),
          resource: 'https://vault.azure.net',
          token_type: 'Bearer',
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/msi/token`,
      seen,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }

  it('is imported and used when neither client nor credential is given (managed identity)', async () => {
    kv.emulator.putSecret('mtls', bundle(leaf));
    const identity = await startIdentityEndpoint(TEST_TOKEN);
    try {
      vi.stubEnv('AZURE_TOKEN_CREDENTIALS', 'ManagedIdentityCredential');
      vi.stubEnv('IDENTITY_ENDPOINT', identity.url);
      vi.stubEnv('IDENTITY_HEADER', 'mtlskit-identity-header');
      const source = azureKeyVaultSource({
        name: 'mtls',
        vaultUrl: kv.emulator.url,
        clientOptions: kv.clientOptions,
      });
      expect(await fingerprint(await source.load())).toBe(leaf.fingerprint256);
      expect(identity.seen.length).toBeGreaterThan(0);
      expect(identity.seen[0]?.headers['x-identity-header']).toBe('mtlskit-identity-header');
      expect(identity.seen[0]?.url).toContain('resource=https%3A%2F%2Fvault.azure.net');
      expect(kv.emulator.log.last()?.headers.authorization).toBe(`Bearer ${TEST_TOKEN}`);
    } finally {
      await identity.close();
    }
  });

  it('with no credential available, ACCESS_DENIED names the credentials it tried', async () => {
    kv.emulator.putSecret('mtls', bundle(leaf));
    vi.stubEnv('AZURE_TOKEN_CREDENTIALS', 'EnvironmentCredential');
    for (const name of [
      'AZURE_TENANT_ID',
      'AZURE_CLIENT_ID',
      'AZURE_CLIENT_SECRET',
      'AZURE_CLIENT_CERTIFICATE_PATH',
      'AZURE_USERNAME',
    ]) {
      vi.stubEnv(name, undefined as unknown as string);
    }
    const source = azureKeyVaultSource({
      name: 'mtls',
      vaultUrl: kv.emulator.url,
      clientOptions: kv.clientOptions,
    });
    const err = await failure(source.load());
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toMatch(/no Azure access token .*tried EnvironmentCredential/);
  });

  it('an AZURE_TOKEN_CREDENTIALS it cannot use is ACCESS_DENIED saying where to look', async () => {
    vi.stubEnv('AZURE_TOKEN_CREDENTIALS', 'NoSuchCredential');
    const err = await failure(azureKeyVaultSource({ name: 'mtls', vaultUrl: kv.emulator.url }).load());
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toContain('Invalid value for AZURE_TOKEN_CREDENTIALS = NoSuchCredential');
  });
});

afterAll(() => undefined);
