// mangopaySdkConfig and attachMangopay against the real mangopay4-nodejs-sdk (no network here: what
// the SDK builds from the options, and what attachMangopay changes on an instance). The calls over
// mTLS are in tests/mangopay.
import type https from 'node:https';
import { inspect } from 'node:util';
import { createTlsResolver, type Finding, type TlsResolver } from '@mtlskit/core';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import Mangopay from 'mangopay4-nodejs-sdk';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMangopayResolver } from './resolver.js';
import { attachMangopay, mangopaySdkConfig } from './sdk.js';

type Sdk = Mangopay & {
  httpsAgent: https.Agent & { options: Record<string, unknown> };
  requestOptions: { headers: Record<string, string>; path: Record<string, string> };
};

let ca: TestCA;
let serverCa: TestCA;
let sandbox: IssuedCert;
let production: IssuedCert;
let plain: IssuedCert;
const open: TlsResolver[] = [];

function named(name: string) {
  return ca.issueClient({ keyType: 'rsa2048', subject: `CN=${name}, O=Mangopay, C=LU`, dnsNames: [name] });
}

function resolverFor(cert: IssuedCert, withCa = true): TlsResolver {
  const r = createTlsResolver({
    source: {
      id: 'test:inline',
      load: async () => ({
        cert: cert.certPem,
        key: cert.keyPem,
        ...(withCa ? { ca: serverCa.rootPem } : {}),
      }),
    },
  });
  open.push(r);
  return r;
}

function sdk(config: Record<string, unknown> = {}): Sdk {
  return new Mangopay({
    clientId: 'acme123',
    clientApiKey: 'api-key-of-acme123',
    baseUrl: 'https://api-mtls.sandbox.mangopay.com',
    ...config,
  } as never) as Sdk;
}

beforeAll(async () => {
  ca = await TestCA.create();
  serverCa = await TestCA.create({ commonName: 'server CA' });
  [sandbox, production, plain] = await Promise.all([
    named('acme123.sandbox.mangopay.com'),
    named('acme123.prod.mangopay.com'),
    ca.issueClient({ keyType: 'rsa2048', commonName: 'client.example.com' }),
  ]);
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

describe('mangopaySdkConfig', () => {
  it('gives Base64 cert, key and ca that the SDK turns into its agent, and the sandbox mTLS base URL', async () => {
    const config = await mangopaySdkConfig(resolverFor(sandbox));
    expect(config.baseUrl).toBe('https://api-mtls.sandbox.mangopay.com');
    expect(config.passphrase).toBeUndefined();
    const api = sdk({ ...config });
    const options = api.httpsAgent.options;
    expect(options.cert).toBe(sandbox.certPem);
    expect(options.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(options.ca).toBe(serverCa.rootPem);
    expect(options.minVersion).toBe('TLSv1.2');
  });

  it('takes the environment from the certificate’s name: production gets api-mtls.mangopay.com', async () => {
    expect((await mangopaySdkConfig(resolverFor(production))).baseUrl).toBe('https://api-mtls.mangopay.com');
  });

  it('leaves ca out when the credential has none (the system roots apply)', async () => {
    const config = await mangopaySdkConfig(resolverFor(sandbox, false));
    expect('ca' in config).toBe(false);
  });

  it('refuses a certificate of another ClientId or environment', async () => {
    await expect(mangopaySdkConfig(resolverFor(sandbox), { clientId: 'other42' })).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
      message: expect.stringContaining('is for ClientId "acme123", not "other42"'),
    });
    await expect(
      mangopaySdkConfig(resolverFor(sandbox), { clientId: 'acme123', environment: 'production' }),
    ).rejects.toMatchObject({ code: 'IDENTITY_MISMATCH' });
  });

  it('uses the identity of a Mangopay resolver', async () => {
    const r = createMangopayResolver({
      source: { id: 'test:prod', load: async () => ({ cert: production.certPem, key: production.keyPem }) },
      clientId: 'acme123',
      environment: 'production',
    });
    open.push(r);
    expect((await mangopaySdkConfig(r)).baseUrl).toBe('https://api-mtls.mangopay.com');
    await expect(
      mangopaySdkConfig(r, { baseUrl: 'https://api-mtls.sandbox.mangopay.com' }),
    ).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('sandbox mTLS host, but the certificate is for production'),
    });
  });

  it('needs an environment or a base URL for a certificate whose name does not say', async () => {
    await expect(mangopaySdkConfig(resolverFor(plain))).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining("pass { environment: 'sandbox' | 'production' } or a baseUrl"),
    });
    const local = await mangopaySdkConfig(resolverFor(plain), { baseUrl: 'https://127.0.0.1:9443' });
    expect(local.baseUrl).toBe('https://127.0.0.1:9443');
  });

  it('throws for the plain host by default, or hands the finding to onWarning', async () => {
    const baseUrl = 'https://api.sandbox.mangopay.com';
    await expect(mangopaySdkConfig(resolverFor(sandbox), { baseUrl })).rejects.toThrow(/without mTLS/);
    const warnings: Finding[] = [];
    const config = await mangopaySdkConfig(resolverFor(sandbox), {
      baseUrl,
      baseUrlCheck: 'warn',
      onWarning: (f) => warnings.push(f),
    });
    expect(config.baseUrl).toBe(baseUrl);
    expect(warnings.map((f) => f.code)).toEqual(['INVALID_OPTION']);
  });
});

describe('attachMangopay', () => {
  it('gives the instance the resolver’s agent (keep-alive) in place of the one the SDK built', () => {
    const r = resolverFor(sandbox);
    const api = sdk();
    const own = api.httpsAgent;
    expect(own.options.keepAlive).toBeFalsy();
    expect(attachMangopay(api, r)).toBe(api);
    expect(api.httpsAgent).toBe(r.agent());
    expect(api.httpsAgent).not.toBe(own);
  });

  it('gives the instance its own request options: ClientId in paths, no token of another instance', () => {
    const a = sdk({ clientId: 'alpha1' });
    const b = sdk({ clientId: 'beta2' });
    // The SDK shares one requestOptions object through its prototype: the last instance's ClientId wins.
    expect(a.requestOptions).toBe(b.requestOptions);
    expect(a.requestOptions.path.clientId).toBe('beta2');
    b.requestOptions.headers.Authorization = 'Bearer token-of-beta2';
    attachMangopay(a, resolverFor(sandbox));
    expect(Object.hasOwn(a, 'requestOptions')).toBe(true);
    expect(a.requestOptions.path.clientId).toBe('alpha1');
    expect(a.requestOptions.headers.Authorization).toBeUndefined();
    expect(a.requestOptions.headers['User-Agent']).toMatch(/^Mangopay-SDK\//);
    expect(b.requestOptions.path.clientId).toBe('beta2');
  });

  it('leaves the shared options alone with isolate: false', () => {
    const a = sdk({ clientId: 'alpha1' });
    attachMangopay(a, resolverFor(sandbox), { isolate: false });
    expect(Object.hasOwn(a, 'requestOptions')).toBe(false);
  });

  it('refuses the SDK’s default base URL, which has no mTLS', () => {
    const api = new Mangopay({ clientId: 'acme123', clientApiKey: 'api-key-of-acme123' }) as Sdk;
    expect(api.config.baseUrl).toBe('https://api.sandbox.mangopay.com');
    expect(() => attachMangopay(api, resolverFor(sandbox))).toThrow(/without mTLS/);
  });

  it('checks the base URL against a Mangopay resolver’s environment and its ClientId against the SDK’s', () => {
    const r = createMangopayResolver({
      source: 'env:?prefix=UNUSED_',
      clientId: 'acme123',
      environment: 'production',
    });
    open.push(r);
    expect(() => attachMangopay(sdk(), r)).toThrow(
      /sandbox mTLS host, but the certificate is for production/,
    );
    expect(() =>
      attachMangopay(sdk({ clientId: 'other42', baseUrl: 'https://api-mtls.mangopay.com' }), r),
    ).toThrow(
      expect.objectContaining({ code: 'IDENTITY_MISMATCH', message: expect.stringContaining('"other42"') }),
    );
    const warnings: Finding[] = [];
    attachMangopay(sdk(), r, { baseUrlCheck: 'warn', onWarning: (f) => warnings.push(f) });
    expect(warnings).toHaveLength(1);
  });

  it('refuses what is not an SDK instance or not a resolver', () => {
    expect(() => attachMangopay({} as never, resolverFor(sandbox))).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => attachMangopay(sdk(), {} as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
  });

  it('puts no key in the instance: nothing secret under util.inspect', async () => {
    const r = resolverFor(sandbox);
    await r.credentials();
    const api = attachMangopay(sdk(), r);
    leakCheck([sandbox.keyPem, sandbox.keyDer]).checkText(
      inspect(api, { depth: 6, showHidden: true }),
      'the SDK instance',
    );
  });
});
