// The Vault emulator's wire, spoken by hand with fetch. The real node-vault client against it is
// tested in packages/vault, which depends on node-vault; the testkit does not.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import 'reflect-metadata';
import { webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { TestCA } from '../ca.js';
import { parseVaultDuration, startVaultEmulator, type VaultEmulator } from './vault.js';

interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: a test reading Vault's JSON answers field by field
  json: Record<string, any>;
  headers: Headers;
}

async function call(
  emulator: VaultEmulator,
  method: string,
  path: string,
  options: { token?: string | null; body?: unknown; namespace?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? emulator.rootToken : options.token;
  if (token !== null) headers['x-vault-token'] = token;
  if (options.namespace !== undefined) headers['x-vault-namespace'] = options.namespace;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${emulator.url}/v1/${path}`, {
    method,
    headers,
    redirect: 'manual',
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? {} : JSON.parse(text), headers: res.headers };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let emulator: VaultEmulator;
beforeEach(async () => {
  emulator = await startVaultEmulator({
    mounts: [{ path: 'secret' }, { path: 'kv1', version: 1 }, { path: 'team-a/kv' }],
    namespaces: ['ns1'],
  });
});
afterEach(() => emulator.close());

describe('Vault emulator: KV v2', () => {
  it('writes versions, reads the current one or a pinned one, and reports metadata', async () => {
    const w1 = await call(emulator, 'POST', 'secret/data/app/mtls', { body: { data: { cert: 'c1' } } });
    expect(w1.status).toBe(200);
    expect(w1.json.data.version).toBe(1);
    emulator.putSecret('secret/app/mtls', { cert: 'c2' });

    const current = await call(emulator, 'GET', 'secret/data/app/mtls');
    expect(current.json.data).toMatchObject({
      data: { cert: 'c2' },
      metadata: { version: 2, deletion_time: '' },
    });
    const pinned = await call(emulator, 'GET', 'secret/data/app/mtls?version=1');
    expect(pinned.json.data.data).toEqual({ cert: 'c1' });

    const meta = await call(emulator, 'GET', 'secret/metadata/app/mtls');
    expect(meta.json.data).toMatchObject({ current_version: 2, cas_required: false });
    expect(Object.keys(meta.json.data.versions)).toEqual(['1', '2']);
    expect(emulator.log.operations()).toEqual(['WriteSecret', 'ReadSecret', 'ReadSecret', 'ReadMetadata']);
    expect(emulator.log.last()?.secret).toBe('secret/app/mtls');
  });

  it('answers 404 with empty errors for an absent secret, and with the metadata for a deleted version', async () => {
    const absent = await call(emulator, 'GET', 'secret/data/nothing');
    expect(absent).toMatchObject({ status: 404, json: { errors: [] } });
    emulator.putSecret('secret/app', { cert: 'c' });
    emulator.deleteSecret('secret/app');
    const deleted = await call(emulator, 'GET', 'secret/data/app');
    expect(deleted.status).toBe(404);
    expect(deleted.json.data.metadata.deletion_time).not.toBe('');
    const meta = await call(emulator, 'GET', 'secret/metadata/app');
    expect(meta.json.data.versions['1'].deletion_time).not.toBe('');
  });

  it('enforces check-and-set', async () => {
    emulator.putSecret('secret/app', { cert: 'c' });
    const stale = await call(emulator, 'POST', 'secret/data/app', {
      body: { data: { cert: 'x' }, options: { cas: 0 } },
    });
    expect(stale).toMatchObject({
      status: 400,
      json: { errors: ['check-and-set parameter did not match the current version'] },
    });
    const fresh = await call(emulator, 'POST', 'secret/data/app', {
      body: { data: { cert: 'x' }, options: { cas: 1 } },
    });
    expect(fresh.json.data.version).toBe(2);
  });

  it('serves the version before the current one under a stale fault, and damaged values under a corrupt one', async () => {
    emulator.putSecret('secret/app', { cert: 'one' });
    emulator.putSecret('secret/app', { cert: 'two-two-two' });
    emulator.fail('stale');
    emulator.fail('corrupt');
    // The metadata read cannot show either fault: they wait for a read of the value.
    expect((await call(emulator, 'GET', 'secret/metadata/app')).json.data.current_version).toBe(2);
    expect((await call(emulator, 'GET', 'secret/data/app')).json.data.data).toEqual({ cert: 'one' });
    expect((await call(emulator, 'GET', 'secret/data/app')).json.data.data.cert).toMatch(/^tw#+wo$/);
  });
});

describe('Vault emulator: KV v2 custom_metadata', () => {
  it('keeps custom_metadata from a metadata write and returns it with every data and metadata read', async () => {
    emulator.putSecret('secret/app/mtls', { cert: 'c1' });
    const none = await call(emulator, 'GET', 'secret/data/app/mtls');
    expect(none.json.data.metadata.custom_metadata).toBeNull();

    const put = await call(emulator, 'POST', 'secret/metadata/app/mtls', {
      body: { custom_metadata: { 'mtlskit-current': 1, owner: 'ops' } },
    });
    expect(put.status).toBe(204);
    emulator.putSecret('secret/app/mtls', { cert: 'c2' });
    const custom = { 'mtlskit-current': '1', owner: 'ops' };
    const latest = await call(emulator, 'GET', 'secret/data/app/mtls');
    expect(latest.json.data.metadata).toMatchObject({ version: 2, custom_metadata: custom });
    const pinned = await call(emulator, 'GET', 'secret/data/app/mtls?version=1');
    expect(pinned.json.data.metadata).toMatchObject({ version: 1, custom_metadata: custom });
    const meta = await call(emulator, 'GET', 'secret/metadata/app/mtls');
    expect(meta.json.data).toMatchObject({ current_version: 2, custom_metadata: custom });
    const written = await call(emulator, 'POST', 'secret/data/app/mtls', { body: { data: { cert: 'c3' } } });
    expect(written.json.data).toMatchObject({ version: 3, custom_metadata: custom });

    // A write replaces the whole map; one without custom_metadata changes nothing.
    await call(emulator, 'POST', 'secret/metadata/app/mtls', { body: { max_versions: 5 } });
    expect(emulator.customMetadata('secret/app/mtls')).toEqual(custom);
    await call(emulator, 'POST', 'secret/metadata/app/mtls', { body: { custom_metadata: { a: 'b' } } });
    expect(emulator.customMetadata('secret/app/mtls')).toEqual({ a: 'b' });

    emulator.deleteSecret('secret/app/mtls', { versions: [1] });
    const deleted = await call(emulator, 'GET', 'secret/data/app/mtls?version=1');
    expect(deleted.status).toBe(404);
    expect(deleted.json.data.metadata.custom_metadata).toEqual({ a: 'b' });
    await call(emulator, 'DELETE', 'secret/metadata/app/mtls');
    expect(emulator.customMetadata('secret/app/mtls')).toBeNull();
  });

  it('validates custom_metadata as Vault does and needs create or update on the metadata path', async () => {
    emulator.putSecret('secret/app/mtls', { cert: 'c1' });
    const tooLong = await call(emulator, 'POST', 'secret/metadata/app/mtls', {
      body: { custom_metadata: { k: 'v'.repeat(513), '': 'x' } },
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.json.errors[0]).toMatch(/2 errors occurred/);
    expect(tooLong.json.errors[0]).toMatch(/length of value for key "k" is 513/);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    const tooMany = await call(emulator, 'POST', 'secret/metadata/app/mtls', {
      body: { custom_metadata: many },
    });
    expect(tooMany.json.errors[0]).toMatch(/at most 64 keys, provided 65/);
    expect(emulator.customMetadata('secret/app/mtls')).toBeNull();

    const reader = emulator.createToken({ policy: { 'secret/metadata/app/*': ['read'] } });
    const denied = await call(emulator, 'POST', 'secret/metadata/app/mtls', {
      token: reader,
      body: { custom_metadata: { a: 'b' } },
    });
    expect(denied.status).toBe(403);
    const writer = emulator.createToken({ policy: { 'secret/metadata/app/*': ['update'] } });
    const allowed = await call(emulator, 'POST', 'secret/metadata/app/mtls', {
      token: writer,
      body: { custom_metadata: { a: 'b' } },
    });
    expect(allowed.status).toBe(204);
    // Metadata alone makes a secret with no version yet, as in Vault.
    const fresh = await call(emulator, 'POST', 'secret/metadata/app/new', {
      token: writer,
      body: { custom_metadata: { a: 'b' } },
    });
    expect(fresh.status).toBe(403);
    await call(emulator, 'POST', 'secret/metadata/app/new', { body: { custom_metadata: { a: 'b' } } });
    const empty = await call(emulator, 'GET', 'secret/metadata/app/new');
    expect(empty.json.data).toMatchObject({ current_version: 0, versions: {}, custom_metadata: { a: 'b' } });
    expect((await call(emulator, 'GET', 'secret/data/app/new')).status).toBe(404);
  });
});

describe('Vault emulator: before 1.9 (withoutCustomMetadata)', () => {
  it('answers without custom_metadata and ignores it in a metadata write, with Vault’s warning', async () => {
    const old = await startVaultEmulator({ withoutCustomMetadata: true });
    try {
      old.putSecret('secret/app', { cert: 'c1' });
      const put = await call(old, 'POST', 'secret/metadata/app', { body: { custom_metadata: { a: 'b' } } });
      expect(put.status).toBe(200);
      expect(put.json.warnings).toEqual([
        'Endpoint ignored these unrecognized parameters: [custom_metadata]',
      ]);
      expect('custom_metadata' in (await call(old, 'GET', 'secret/metadata/app')).json.data).toBe(false);
      expect('custom_metadata' in (await call(old, 'GET', 'secret/data/app')).json.data.metadata).toBe(false);
    } finally {
      await old.close();
    }
  });
});

describe('Vault emulator: KV v1, mounts and namespaces', () => {
  it('reads and writes KV v1 without versions', async () => {
    const write = await call(emulator, 'POST', 'kv1/app', { body: { cert: 'c' } });
    expect(write.status).toBe(204);
    const read = await call(emulator, 'GET', 'kv1/app');
    expect(read.json.data).toEqual({ cert: 'c' });
    expect(read.json.lease_duration).toBeGreaterThan(0);
  });

  it('detects the mount and KV version of a path, nested mounts included', async () => {
    const v2 = await call(emulator, 'GET', 'sys/internal/ui/mounts/secret/app/mtls');
    expect(v2.json.data).toMatchObject({ path: 'secret/', type: 'kv', options: { version: '2' } });
    const v1 = await call(emulator, 'GET', 'sys/internal/ui/mounts/kv1/app');
    expect(v1.json.data).toMatchObject({ path: 'kv1/', options: null });
    const nested = await call(emulator, 'GET', 'sys/internal/ui/mounts/team-a/kv/app');
    expect(nested.json.data.path).toBe('team-a/kv/');
    const none = await call(emulator, 'GET', 'sys/internal/ui/mounts/nowhere/app');
    expect(none.status).toBe(403);
  });

  it('keeps namespaces apart, by header or path prefix, and refuses a child token in the parent', async () => {
    emulator.mount('secret', { namespace: 'ns1' });
    emulator.putSecret('secret/app', { cert: 'in-ns1' }, { namespace: 'ns1' });
    emulator.putSecret('secret/app', { cert: 'in-root' });
    const header = await call(emulator, 'GET', 'secret/data/app', { namespace: 'ns1' });
    expect(header.json.data.data.cert).toBe('in-ns1');
    const prefix = await call(emulator, 'GET', 'ns1/secret/data/app');
    expect(prefix.json.data.data.cert).toBe('in-ns1');
    expect(emulator.log.last()?.secret).toBe('ns1/secret/app');
    const child = emulator.createToken({ namespace: 'ns1' });
    expect((await call(emulator, 'GET', 'secret/data/app', { token: child })).status).toBe(403);
    expect((await call(emulator, 'GET', 'secret/data/app', { token: child, namespace: 'ns1' })).status).toBe(
      200,
    );
  });
});

describe('Vault emulator: tokens and login', () => {
  it('applies policies: the most specific pattern decides, and detection follows mount access', async () => {
    emulator.putSecret('secret/app/mtls', { cert: 'c' });
    const reader = emulator.createToken({
      policy: { 'secret/data/app/*': ['read'], 'secret/data/app/private': ['deny'] },
    });
    expect((await call(emulator, 'GET', 'secret/data/app/mtls', { token: reader })).status).toBe(200);
    expect((await call(emulator, 'GET', 'secret/data/app/private', { token: reader })).status).toBe(403);
    expect((await call(emulator, 'GET', 'secret/metadata/app/mtls', { token: reader })).status).toBe(403);
    expect(
      (await call(emulator, 'POST', 'secret/data/app/mtls', { token: reader, body: { data: {} } })).status,
    ).toBe(403);
    expect(
      (await call(emulator, 'GET', 'sys/internal/ui/mounts/secret/app/mtls', { token: reader })).status,
    ).toBe(200);
    const blind = emulator.createToken({
      policy: { 'secret/data/app/*': ['read'], 'sys/internal/ui/mounts/*': ['deny'] },
    });
    expect(
      (await call(emulator, 'GET', 'sys/internal/ui/mounts/secret/app/mtls', { token: blind })).status,
    ).toBe(403);
  });

  it('expires tokens (403 invalid token), renews them up to the max TTL, and refuses a missing token', async () => {
    const token = emulator.createToken({ ttl: 2, maxTtl: 3 });
    const lookup = await call(emulator, 'GET', 'auth/token/lookup-self', { token });
    expect(lookup.json.data).toMatchObject({ renewable: true, creation_ttl: 2 });
    await sleep(1_100);
    const renewed = await call(emulator, 'POST', 'auth/token/renew-self', { token, body: {} });
    // 2 s asked, about 1.9 s left before the max TTL of 3 s: capped, with Vault's warning.
    expect(renewed.json.auth.lease_duration).toBe(2);
    expect(renewed.json.warnings?.[0] ?? '').toMatch(/capped/);
    await sleep(2_000);
    const expired = await call(emulator, 'GET', 'secret/data/app', { token });
    expect(expired.status).toBe(403);
    expect(expired.json.errors[0]).toContain('invalid token');
    expect((await call(emulator, 'GET', 'secret/data/app', { token: null })).status).toBe(403);
  });

  it('logs in with AppRole and Kubernetes, and refuses wrong credentials as Vault does', async () => {
    const { roleId, secretIds } = emulator.addAppRole('payments', { tokenTtl: 60 });
    const ok = await call(emulator, 'POST', 'auth/approle/login', {
      token: null,
      body: { role_id: roleId, secret_id: secretIds[0] },
    });
    expect(ok.json.auth).toMatchObject({ lease_duration: 60, renewable: true });
    expect(emulator.token(ok.json.auth.client_token)?.via).toBe('approle');
    expect(emulator.log.last()).toMatchObject({ operation: 'AppRoleLogin', secret: 'payments' });
    const bad = await call(emulator, 'POST', 'auth/approle/login', {
      token: null,
      body: { role_id: roleId, secret_id: 'wrong' },
    });
    expect(bad).toMatchObject({ status: 400, json: { errors: ['invalid role or secret ID'] } });

    emulator.addKubernetesRole('web', { jwts: ['jwt-one'], tokenTtl: 30 });
    const k8s = await call(emulator, 'POST', 'auth/kubernetes/login', {
      token: null,
      body: { role: 'web', jwt: 'jwt-one' },
    });
    expect(k8s.json.auth.lease_duration).toBe(30);
    const wrongJwt = await call(emulator, 'POST', 'auth/kubernetes/login', {
      token: null,
      body: { role: 'web', jwt: 'x' },
    });
    expect(wrongJwt.status).toBe(403);
    const wrongRole = await call(emulator, 'POST', 'auth/kubernetes/login', {
      token: null,
      body: { role: 'x', jwt: 'x' },
    });
    expect(wrongRole.status).toBe(400);
  });

  it('refuses to renew a token that is not renewable', async () => {
    const token = emulator.createToken({ ttl: 60, renewable: false });
    const reply = await call(emulator, 'POST', 'auth/token/renew-self', { token, body: {} });
    expect(reply).toMatchObject({ status: 400, json: { errors: ['lease is not renewable'] } });
  });
});

describe('Vault emulator: availability and faults', () => {
  it('answers 503 while sealed, and 307 to the active node while a standby', async () => {
    emulator.seal();
    expect(await call(emulator, 'GET', 'secret/data/app')).toMatchObject({
      status: 503,
      json: { errors: ['Vault is sealed'] },
    });
    emulator.unseal();
    emulator.redirectTo('http://127.0.0.1:1');
    const redirected = await call(emulator, 'GET', 'secret/data/app?version=2');
    expect(redirected.status).toBe(307);
    expect(redirected.headers.get('location')).toBe('http://127.0.0.1:1/v1/secret/data/app?version=2');
  });

  it('renders injected faults with Vault error bodies', async () => {
    emulator.putSecret('secret/app', { cert: 'c' });
    emulator.fail({ kind: 'throttled', operation: 'ReadSecret' });
    emulator.fail({ kind: 'serverError', status: 502 });
    emulator.fail('denied');
    emulator.fail('notFound');
    const throttled = await call(emulator, 'GET', 'secret/data/app');
    expect(throttled.status).toBe(429);
    expect(throttled.json.errors[0]).toMatch(/rate limit quota exceeded/);
    expect((await call(emulator, 'GET', 'secret/data/app')).status).toBe(502);
    expect((await call(emulator, 'GET', 'secret/data/app')).status).toBe(403);
    expect(await call(emulator, 'GET', 'secret/data/app')).toMatchObject({
      status: 404,
      json: { errors: [] },
    });
  });

  it('serves HTTPS with a test CA certificate', async () => {
    const ca = await TestCA.create();
    const cert = await ca.issueServer();
    const tls = await startVaultEmulator({ tls: { cert: cert.fullChainPem, key: cert.keyPem } });
    try {
      expect(tls.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const { request } = await import('node:https');
      const status = await new Promise<number | undefined>((resolve, reject) => {
        request(`${tls.url}/v1/sys/health`, { ca: ca.rootPem }, (res) => {
          res.resume();
          resolve(res.statusCode);
        })
          .on('error', reject)
          .end();
      });
      expect(status).toBe(200);
    } finally {
      await tls.close();
    }
  });
});

describe('Vault emulator: PKI', () => {
  it('signs a CSR with the requested TTL, capped by the role, and issues with a key of its own', async () => {
    const ca = await TestCA.create({ commonName: 'vault pki root' });
    emulator.enablePki('pki', ca);
    emulator.addPkiRole('pki', 'client', { maxTtl: 60, notBeforeDuration: 0 });
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = (await webcrypto.subtle.generateKey(alg, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=from-csr',
      keys,
      signingAlgorithm: alg,
    });
    const signed = await call(emulator, 'POST', 'pki/sign/client', {
      body: { csr: csr.toString('pem'), common_name: 'svc.example.com', ttl: '2m' },
    });
    expect(signed.status).toBe(200);
    const cert = new X509Certificate(signed.json.data.certificate);
    expect(cert.subject).toBe('CN=svc.example.com');
    expect(cert.subjectAltName).toBe('DNS:svc.example.com');
    const lifetime = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 1000;
    expect(lifetime).toBeGreaterThanOrEqual(59);
    expect(lifetime).toBeLessThanOrEqual(61);
    expect(cert.checkIssued(new X509Certificate(ca.rootPem))).toBe(true);
    expect(signed.json.data.ca_chain).toEqual([ca.rootPem.trim()]);
    expect(signed.json.data.serial_number).toMatch(/^([0-9a-f]{2}:)+[0-9a-f]{2}$/);
    expect(emulator.log.last()).toMatchObject({ operation: 'PkiSign', secret: 'pki/client' });

    const issued = await call(emulator, 'POST', 'pki/issue/client', {
      body: { common_name: 'svc.example.com', ttl: 30 },
    });
    expect(issued.json.data.private_key).toMatch(/PRIVATE KEY/);
    expect(issued.json.data.private_key_type).toBe('ec');
    const refused = await call(emulator, 'POST', 'pki/issue/nobody', { body: { common_name: 'x' } });
    expect(refused).toMatchObject({ status: 400, json: { errors: ['unknown role: nobody'] } });
  });

  it('reads Vault durations', () => {
    expect([
      parseVaultDuration('72h'),
      parseVaultDuration('1h30m'),
      parseVaultDuration('90'),
      parseVaultDuration(5),
    ]).toEqual([259200, 5400, 90, 5]);
    expect(parseVaultDuration('soon')).toBeNaN();
  });
});
