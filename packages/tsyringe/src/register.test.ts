// Through a real tsyringe container and real mTLS: the resolver a class is injected with presents the
// certificate registered under its name; child containers (one per tenant) hold their own resolvers,
// fall back to the parent's for names they do not register, and dispose() closes a container's own
// resolvers only. The server is the testkit's, which reports the client certificate it saw.
import 'reflect-metadata';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CredentialMaterial,
  type CredentialSource,
  MtlsError,
  type TlsResolver,
  tlsResolversFromEnv,
} from '@mtlskit/core';
import {
  httpsRequest,
  type IssuedCert,
  type MtlsTestServer,
  startMtlsServer,
  TestCA,
} from '@mtlskit/testkit';
import { type DependencyContainer, injectable, container as rootContainer } from 'tsyringe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAYMENTS_URL, PaymentsClient, tenantScope } from './__tests__/example.js';
import { injectTlsResolver, registerTlsResolvers, tlsResolverToken } from './index.js';

const INVALID_OPTION = 'INVALID_OPTION';

let ca: TestCA;
let server: MtlsTestServer;
const certs: Record<string, IssuedCert> = {};
const dirs: Record<string, string> = {};
let temp: string;

beforeAll(async () => {
  ca = await TestCA.create();
  server = await startMtlsServer({ clientCa: ca });
  temp = mkdtempSync(join(tmpdir(), 'mtlskit-tsyringe-'));
  for (const name of ['acme', 'globex', 'platform']) {
    certs[name] = await ca.issueClient({ commonName: name });
    const dir = mkdtempSync(join(temp, `${name}-`));
    writeFileSync(join(dir, 'tls.crt'), certs[name]!.certPem);
    writeFileSync(join(dir, 'tls.key'), certs[name]!.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'ca.crt'), server.caPem);
    dirs[name] = dir;
  }
});
afterAll(async () => {
  await server.close();
  rmSync(temp, { recursive: true, force: true });
});

const fileRef = (name: string) => `file:${dirs[name]}`;

/** The CN of the client certificate the server saw on a request through the resolver's agent. */
async function presentedBy(tls: TlsResolver): Promise<string> {
  const response = await httpsRequest(`${server.url}/whoami`, { agent: tls.agent() });
  expect(response.status).toBe(200);
  return (JSON.parse(response.body) as { cn: string }).cn;
}

@injectable()
class Reporter {
  constructor(
    @injectTlsResolver() readonly tenant: TlsResolver,
    @injectTlsResolver('platform') readonly platform: TlsResolver,
  ) {}

  async whoami(): Promise<{ tenant: string; platform: string }> {
    const [tenant, platform] = await Promise.all([
      this.tenant.fetch(`${server.url}/tenant`).then((r) => r.json() as Promise<{ cn: string }>),
      this.platform.fetch(`${server.url}/platform`).then((r) => r.json() as Promise<{ cn: string }>),
    ]);
    return { tenant: tenant.cn, platform: platform.cn };
  }
}

/** A source that counts its loads: registering must not load. */
class CountingSource implements CredentialSource {
  loads = 0;
  constructor(
    readonly id: string,
    readonly material: CredentialMaterial,
  ) {}
  async load(): Promise<CredentialMaterial> {
    this.loads++;
    return this.material;
  }
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

/** The INVALID_OPTION MtlsError `fn` throws. */
function refusal(fn: () => unknown): MtlsError {
  const err = thrown(fn);
  expect(MtlsError.is(err, INVALID_OPTION)).toBe(true);
  return err as MtlsError;
}

describe('registerTlsResolvers in a real container', () => {
  it('injects the resolver registered under each name, and its requests present that certificate', async () => {
    const root = rootContainer.createChildContainer();
    registerTlsResolvers(root, { default: fileRef('acme'), platform: fileRef('platform') });
    try {
      const reporter = root.resolve(Reporter);
      expect(await reporter.whoami()).toEqual({ tenant: 'acme', platform: 'platform' });
      expect(await presentedBy(reporter.platform)).toBe('platform');
      // One resolver per name per container: every resolution hands out the same one.
      expect(root.resolve(Reporter).tenant).toBe(reporter.tenant);
      expect(root.resolve<TlsResolver>(tlsResolverToken('default'))).toBe(reporter.tenant);
      expect(tlsResolverToken()).toBe(tlsResolverToken('default'));
    } finally {
      await root.dispose();
    }
  });

  it('registering loads nothing; the first resolution creates the resolver', async () => {
    const source = new CountingSource('memory:acme', {
      cert: certs.acme!.certPem,
      key: certs.acme!.keyPem,
      ca: server.caPem,
    });
    const scope = rootContainer.createChildContainer();
    const set = registerTlsResolvers(scope, { default: source, platform: fileRef('platform') });
    try {
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(source.loads).toBe(0);
      expect(set.health().default?.ready).toBe(false);
      expect(await presentedBy(scope.resolve<TlsResolver>(tlsResolverToken()))).toBe('acme');
      expect(source.loads).toBe(1);
      expect(set.health().platform?.lastRefreshAt).toBeUndefined();
    } finally {
      await scope.dispose();
    }
  });

  it('dispose() closes the container’s resolvers, and again is harmless', async () => {
    const scope = rootContainer.createChildContainer();
    registerTlsResolvers(scope, { default: fileRef('acme') });
    const tls = scope.resolve<TlsResolver>(tlsResolverToken());
    expect(await presentedBy(tls)).toBe('acme');
    await scope.dispose();
    expect(tls.health().closed).toBe(true);
    await expect(tls.credentials()).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(scope.dispose()).resolves.toBeUndefined();
  });
});

describe('child containers, one per tenant', () => {
  it('give each tenant its own resolver, share the parent’s for names they do not register, and close only their own', async () => {
    const root = rootContainer.createChildContainer();
    registerTlsResolvers(root, { platform: fileRef('platform') });
    const acme = root.createChildContainer();
    const globex = root.createChildContainer();
    registerTlsResolvers(acme, { default: fileRef('acme') });
    registerTlsResolvers(globex, { default: fileRef('globex') });

    const [a, g] = [acme.resolve(Reporter), globex.resolve(Reporter)];
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : g).whoami().then((r) => [i % 2, r] as const)),
    );
    for (const [tenant, seen] of results) {
      expect(seen).toEqual({ tenant: tenant === 0 ? 'acme' : 'globex', platform: 'platform' });
    }
    // The name only the parent registered resolves to the parent's resolver, in both children.
    const parentPlatform = root.resolve<TlsResolver>(tlsResolverToken('platform'));
    expect(a.platform).toBe(parentPlatform);
    expect(g.platform).toBe(parentPlatform);
    expect(a.tenant).not.toBe(g.tenant);

    await acme.dispose();
    expect(a.tenant.health().closed).toBe(true);
    expect(g.tenant.health().closed).toBe(false);
    expect(parentPlatform.health().closed).toBe(false);
    expect(await g.whoami()).toEqual({ tenant: 'globex', platform: 'platform' });

    // A new tenant scope after one was disposed gets a fresh resolver of its own.
    const acmeAgain = root.createChildContainer();
    registerTlsResolvers(acmeAgain, { default: fileRef('acme') });
    const a2 = acmeAgain.resolve(Reporter);
    expect(a2.tenant).not.toBe(a.tenant);
    expect(await a2.whoami()).toEqual({ tenant: 'acme', platform: 'platform' });

    await Promise.all([globex.dispose(), acmeAgain.dispose()]);
    expect(parentPlatform.health().closed).toBe(false);
    await root.dispose();
    expect(parentPlatform.health().closed).toBe(true);
  });

  it('a child registering a name its parent has gets its own resolver for it, the parent’s staying open', async () => {
    const parent = rootContainer.createChildContainer();
    registerTlsResolvers(parent, { default: fileRef('platform') });
    const child = parent.createChildContainer();
    registerTlsResolvers(child, { default: fileRef('acme') });
    const mine = child.resolve<TlsResolver>(tlsResolverToken());
    const theirs = parent.resolve<TlsResolver>(tlsResolverToken());
    expect(await presentedBy(mine)).toBe('acme');
    expect(await presentedBy(theirs)).toBe('platform');
    await child.dispose();
    expect(mine.health().closed).toBe(true);
    expect(await presentedBy(theirs)).toBe('platform');
    await parent.dispose();
  });
});

describe('the README example', () => {
  it('is this file, verbatim', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('./__tests__/example.ts', import.meta.url), 'utf8');
    const block = /<!-- example: src\/__tests__\/example\.ts[^>]*-->\n```ts\n([\s\S]*?)```/.exec(readme);
    expect(block?.[1]).toBe(example);
  });

  it('runs: a PaymentsClient per tenant scope, each presenting its tenant’s certificate', async () => {
    const root = rootContainer.createChildContainer();
    const acme = tenantScope(root, { credential: fileRef('acme'), baseUrl: server.url });
    const globex = tenantScope(root, { credential: fileRef('globex'), baseUrl: server.url });
    try {
      const [fromAcme, fromGlobex] = await Promise.all([
        acme.resolve(PaymentsClient).payout('po_1'),
        globex.resolve(PaymentsClient).payout('po 2'),
      ]);
      expect(fromAcme).toMatchObject({ cn: 'acme' });
      expect(fromGlobex).toMatchObject({ cn: 'globex' });
      expect(server.requests.map((r) => r.path)).toEqual(
        expect.arrayContaining(['/payouts/po_1', '/payouts/po%202']),
      );
      expect(acme.resolve(PAYMENTS_URL)).toBe(server.url);
    } finally {
      await Promise.all([acme.dispose(), globex.dispose()]);
    }
  });
});

describe('without decorators (TC39 standard decorators, or none)', () => {
  it('a factory registration with tlsResolverToken injects the same resolver', async () => {
    class Plain {
      constructor(readonly tls: TlsResolver) {}
    }
    const scope = rootContainer.createChildContainer();
    registerTlsResolvers(scope, { globex: fileRef('globex') });
    scope.register(Plain, { useFactory: (c) => new Plain(c.resolve(tlsResolverToken('globex'))) });
    try {
      const plain = scope.resolve(Plain);
      expect(plain.tls).toBe(scope.resolve(tlsResolverToken('globex')));
      expect(await presentedBy(plain.tls)).toBe('globex');
    } finally {
      await scope.dispose();
    }
  });
});

describe('what registerTlsResolvers refuses', () => {
  it('a name registered twice on one container, naming it', async () => {
    const scope = rootContainer.createChildContainer();
    registerTlsResolvers(scope, { eu: fileRef('acme') });
    const err = refusal(() => registerTlsResolvers(scope, { us: fileRef('acme'), eu: fileRef('globex') }));
    expect(err.message).toMatch(/named "eu" is already registered on this container/);
    // Nothing of the refused call was registered.
    expect(scope.isRegistered(tlsResolverToken('us'))).toBe(false);
    await scope.dispose();
  });

  it('one set in two containers, and shared options with a set', async () => {
    const set = tlsResolversFromEnv({ MTLS_SOURCE: fileRef('acme') });
    const one = rootContainer.createChildContainer();
    const two = rootContainer.createChildContainer();
    registerTlsResolvers(one, set);
    expect(refusal(() => registerTlsResolvers(two, set)).message).toMatch(
      /already registered on a container/,
    );
    expect(
      refusal(() => registerTlsResolvers(two, tlsResolversFromEnv({ MTLS_SOURCE: 'env:' }), { jitter: 0 }))
        .message,
    ).toMatch(/shared options apply to a config object/);
    expect(refusal(() => registerTlsResolvers({} as DependencyContainer, {})).message).toMatch(
      /needs a tsyringe container/,
    );
    for (const config of [null, undefined, 'file:/etc/tls']) {
      expect(refusal(() => registerTlsResolvers(two, config as never)).message).toMatch(
        /needs an object of name → credential/,
      );
    }
    // Nothing of the refused calls was registered on `two`.
    expect(two.isRegistered(tlsResolverToken())).toBe(false);
    // The set from the environment works like a config object, and the container closes it.
    const tls = one.resolve<TlsResolver>(tlsResolverToken());
    expect(await presentedBy(tls)).toBe('acme');
    await one.dispose();
    expect(set.health().default?.closed).toBe(true);
    await two.dispose();
  });

  it('an unregistered name is tsyringe’s error, naming the token', () => {
    const scope = rootContainer.createChildContainer();
    expect(thrown(() => scope.resolve(tlsResolverToken('nowhere'))).message).toContain(
      'Symbol(mtlskit.TlsResolver:nowhere)',
    );
  });
});
