// The emulator's wire, spoken by hand (HTTPS with node:https, trusting the emulator's CA). The real
// SecretClient against it is tested in packages/azure, which depends on the SDK; the testkit does not.
import { request } from 'node:https';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type IssuedCert, TestCA } from '../ca.js';
import { hasOpenssl } from '../openssl.js';
import {
  type AzureKeyVaultEmulator,
  PEM_CONTENT_TYPE,
  PKCS12_CONTENT_TYPE,
  startAzureKeyVaultEmulator,
} from './azure-key-vault.js';
import { corruptValue } from './faults.js';

const TOKEN = 'Bearer test-token';
const API = 'api-version=2025-07-01';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown> | undefined;
}

function send(
  emulator: AzureKeyVaultEmulator,
  method: string,
  path: string,
  opts: { body?: unknown; authorization?: string | null } = {},
): Promise<Reply> {
  const authorization = opts.authorization === undefined ? TOKEN : opts.authorization;
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${emulator.url}${path}`,
      {
        method,
        ca: emulator.caPem,
        headers: {
          ...(authorization === null ? {} : { authorization }),
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            json: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const errorOf = (reply: Reply) =>
  (reply.json as { error: { code: string; message: string; innererror?: { code: string } } }).error;

let ca: TestCA;
let leaf: IssuedCert;
let emulator: AzureKeyVaultEmulator;
beforeAll(async () => {
  ca = await TestCA.create();
  leaf = await ca.issueClient({ commonName: 'kv client' });
});
beforeEach(async () => {
  emulator = await startAzureKeyVaultEmulator({ ca });
});
afterEach(() => emulator.close());

describe('Azure Key Vault emulator', () => {
  it('serves HTTPS with a certificate of the given CA, and challenges a request without a token', async () => {
    expect(emulator.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(emulator.caPem).toBe(ca.rootPem);
    emulator.putSecret('mtls', 'value');
    const reply = await send(emulator, 'GET', `/secrets/mtls/?${API}`, { authorization: null });
    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toBe(
      `Bearer authorization="https://login.microsoftonline.com/${emulator.tenantId}", resource="https://vault.azure.net"`,
    );
    expect(emulator.log.last()).toMatchObject({ operation: 'Challenge', secret: 'mtls', status: 401 });
  });

  it('answers the newest version, or one by id, with its id, content type and attributes', async () => {
    const v1 = emulator.putSecret('mtls', 'first', { contentType: 'application/json' });
    const v2 = emulator.putSecret('mtls', 'second');
    expect(v1.id).toMatch(/^[0-9a-f]{32}$/);

    const newest = await send(emulator, 'GET', `/secrets/mtls/?${API}`);
    expect(newest.status).toBe(200);
    expect(newest.json).toEqual({
      value: 'second',
      id: `${emulator.url}/secrets/mtls/${v2.id}`,
      attributes: {
        enabled: true,
        created: Math.floor(v2.createdAt.getTime() / 1000),
        updated: Math.floor(v2.createdAt.getTime() / 1000),
        recoveryLevel: 'Recoverable+Purgeable',
        recoverableDays: 90,
      },
    });
    // The path as the SDK may encode it.
    const byId = await send(emulator, 'GET', `/secrets/mt%6Cs/${v1.id}?api%2Dversion=2025-07-01`);
    expect(byId.json).toMatchObject({
      value: 'first',
      contentType: 'application/json',
      id: emulator.idOf('mtls', v1.id),
    });
    expect(emulator.log.operations()).toEqual(['GetSecret', 'GetSecret']);
  });

  it('answers Key Vault’s 404 for an unknown secret or version and 400 for a malformed name', async () => {
    emulator.putSecret('mtls', 'value');
    for (const path of ['/secrets/absent/', `/secrets/mtls/${'0'.repeat(32)}`]) {
      const reply = await send(emulator, 'GET', `${path}?${API}`);
      expect(reply.status).toBe(404);
      expect(errorOf(reply)).toMatchObject({
        code: 'SecretNotFound',
        message: expect.stringContaining('was not found'),
      });
    }
    const bad = await send(emulator, 'GET', `/secrets/bad_name/?${API}`);
    expect(bad.status).toBe(400);
    expect(errorOf(bad).code).toBe('BadParameter');
  });

  it('refuses to read a disabled version, and the newest one disabled refuses reads without a version', async () => {
    const v1 = emulator.putSecret('mtls', 'first');
    const v2 = emulator.putSecret('mtls', 'staged', { enabled: false });
    const newest = await send(emulator, 'GET', `/secrets/mtls/?${API}`);
    expect(newest.status).toBe(403);
    expect(errorOf(newest)).toEqual({
      code: 'Forbidden',
      message: 'Operation get is not allowed on a disabled secret.',
      innererror: { code: 'SecretDisabled' },
    });
    expect((await send(emulator, 'GET', `/secrets/mtls/${v1.id}?${API}`)).json).toMatchObject({
      value: 'first',
    });

    const enabled = await send(emulator, 'PATCH', `/secrets/mtls/${v2.id}?${API}`, {
      body: { attributes: { enabled: true } },
    });
    expect(enabled.json).toMatchObject({ id: emulator.idOf('mtls', v2.id), attributes: { enabled: true } });
    expect(enabled.json).not.toHaveProperty('value');
    expect((await send(emulator, 'GET', `/secrets/mtls/?${API}`)).json).toMatchObject({ value: 'staged' });
  });

  it('writes a new version with setSecret, keeping its content type and enabled flag', async () => {
    const reply = await send(emulator, 'PUT', `/secrets/mtls?${API}`, {
      body: { value: 'written', contentType: PEM_CONTENT_TYPE, attributes: { enabled: false } },
    });
    expect(reply.status).toBe(200);
    const id = String(reply.json?.id);
    const version = id.split('/').at(-1)!;
    expect(reply.json).toMatchObject({
      value: 'written',
      contentType: PEM_CONTENT_TYPE,
      attributes: { enabled: false },
    });
    expect(emulator.secrets.latest('mtls')).toMatchObject({ id: version, value: 'written', enabled: false });
    expect(emulator.log.last()).toMatchObject({ operation: 'SetSecret', body: { value: 'written' } });

    const empty = await send(emulator, 'PUT', `/secrets/mtls?${API}`, { body: { contentType: 'x' } });
    expect(empty.status).toBe(400);
  });

  it('updates one version’s tags and content type (replacing the tags), never without a version', async () => {
    const v1 = emulator.putSecret('mtls', 'one', { tags: { a: '1' } });
    emulator.putSecret('mtls', 'two');
    const reply = await send(emulator, 'PATCH', `/secrets/mtls/${v1.id}?${API}`, {
      body: { tags: { b: '2' }, attributes: { enabled: false } },
    });
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({ tags: { b: '2' }, attributes: { enabled: false } });
    expect(reply.json).not.toHaveProperty('value');
    expect(emulator.tagsOf('mtls', v1.id)).toEqual({ b: '2' });
    expect(emulator.secrets.get('mtls', { versionId: v1.id })?.enabled).toBe(false);
    // A later read of the version shows the update; a PATCH of only the attributes keeps the tags.
    await send(emulator, 'PATCH', `/secrets/mtls/${v1.id}?${API}`, {
      body: { attributes: { enabled: true } },
    });
    expect((await send(emulator, 'GET', `/secrets/mtls/${v1.id}?${API}`)).json).toMatchObject({
      value: 'one',
      tags: { b: '2' },
    });
    expect((await send(emulator, 'PATCH', `/secrets/mtls?${API}`, { body: { tags: {} } })).status).toBe(405);
    const tooMany = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, 'x']));
    const refused = await send(emulator, 'PATCH', `/secrets/mtls/${v1.id}?${API}`, {
      body: { tags: tooMany },
    });
    expect([refused.status, errorOf(refused).code]).toEqual([400, 'BadParameter']);
    expect(emulator.log.operations()).toEqual([
      'UpdateSecret',
      'UpdateSecret',
      'GetSecret',
      'UpdateSecret',
      'UpdateSecret',
    ]);
  });

  it('lists the versions’ properties without values, disabled ones included, 25 a page in id order', async () => {
    const t0 = Date.UTC(2026, 0, 1);
    const made = Array.from({ length: 27 }, (_, i) =>
      emulator.putSecret('many', `v${i}`, { createdAt: new Date(t0 + i * 1000), enabled: i !== 26 }),
    );
    const first = await send(emulator, 'GET', `/secrets/many/versions?${API}`);
    expect(first.status).toBe(200);
    const page1 = first.json as { value: Record<string, unknown>[]; nextLink: string | null };
    expect(page1.value).toHaveLength(25);
    expect(page1.value.some((v) => 'value' in v)).toBe(false);
    const next = new URL(page1.nextLink!);
    const second = await send(emulator, 'GET', `${next.pathname}${next.search}`);
    const page2 = second.json as {
      value: { id: string; attributes: { enabled: boolean; created: number } }[];
      nextLink: string | null;
    };
    expect(page2.value).toHaveLength(2);
    expect(page2.nextLink).toBeNull();
    const ids = [...page1.value, ...page2.value].map((v) => String(v.id).split('/').at(-1)!);
    expect(ids).toEqual(made.map((v) => v.id).sort());
    const last = [...page1.value, ...page2.value].find((v) => String(v.id).endsWith(made[26]!.id)) as {
      attributes: { enabled: boolean; created: number };
    };
    expect(last.attributes).toMatchObject({ enabled: false, created: (t0 + 26_000) / 1000 });
    const small = await send(emulator, 'GET', `/secrets/many/versions?${API}&maxresults=2`);
    expect((small.json as { value: unknown[] }).value).toHaveLength(2);
    expect((await send(emulator, 'GET', `/secrets/many/versions?${API}&maxresults=26`)).status).toBe(400);
    expect((await send(emulator, 'GET', `/secrets/none/versions?${API}`)).status).toBe(404);
    expect(emulator.log.operations()[0]).toBe('ListSecretVersions');
  });

  it('refuses a token outside acceptTokens with Key Vault’s 401 invalid_token', async () => {
    const strict = await startAzureKeyVaultEmulator({ ca, acceptTokens: ['good'] });
    try {
      strict.putSecret('mtls', 'value');
      expect(
        (await send(strict, 'GET', `/secrets/mtls/?${API}`, { authorization: 'Bearer good' })).status,
      ).toBe(200);
      const refused = await send(strict, 'GET', `/secrets/mtls/?${API}`, { authorization: 'Bearer other' });
      expect(refused.status).toBe(401);
      expect(refused.headers['www-authenticate']).toContain('error="invalid_token"');
      expect(errorOf(refused).code).toBe('Unauthorized');
    } finally {
      await strict.close();
    }
  });

  it.each([
    ['pkcs12', PKCS12_CONTENT_TYPE],
    ['pem', PEM_CONTENT_TYPE],
  ] as const)('imports a certificate as Key Vault stores its secret (%s)', async (format, contentType) => {
    const version = await emulator.importCertificate('client-cert', leaf, { format });
    const reply = await send(emulator, 'GET', `/secrets/client-cert/?${API}`);
    expect(reply.json).toMatchObject({
      contentType,
      managed: true,
      kid: `${emulator.url}/keys/client-cert/${version.id}`,
    });
    const value = String(reply.json?.value);
    if (format === 'pem') {
      // The key first, then the chain.
      expect(value.indexOf('PRIVATE KEY')).toBeLessThan(value.indexOf('CERTIFICATE'));
      expect(value).toBe(leaf.keyPem + leaf.fullChainPem);
    } else {
      expect(Buffer.from(value, 'base64').subarray(0, 1)[0]).toBe(0x30);
    }
  });

  it('imports a certificate whose key is not exportable as the certificates alone', async () => {
    await emulator.importCertificate('pem-cert', leaf, { format: 'pem', exportable: false });
    const pem = String((await send(emulator, 'GET', `/secrets/pem-cert/?${API}`)).json?.value);
    expect(pem).toBe(leaf.fullChainPem);
    expect(pem).not.toContain('PRIVATE KEY');
    if (!hasOpenssl()) return;
    await emulator.importCertificate('pfx-cert', leaf, { exportable: false });
    const pfx = String((await send(emulator, 'GET', `/secrets/pfx-cert/?${API}`)).json?.value);
    expect(pfx).not.toBe(String((await leaf.pkcs12('')).toString('base64')));
  });

  it('renders injected faults as Key Vault does', async () => {
    emulator.putSecret('mtls', 'value');
    const cases: Array<[Parameters<AzureKeyVaultEmulator['fail']>[0], number, string, string | undefined]> = [
      ['notFound', 404, 'SecretNotFound', undefined],
      ['denied', 403, 'Forbidden', 'ForbiddenByRbac'],
      ['throttled', 429, 'Throttled', undefined],
      ['serverError', 500, 'InternalServerError', undefined],
      [{ kind: 'serverError', status: 503 }, 503, 'InternalServerError', undefined],
      [{ kind: 'error', code: 'ForbiddenByFirewall' }, 403, 'Forbidden', 'ForbiddenByFirewall'],
      [{ kind: 'error', code: 'AccessDenied' }, 403, 'Forbidden', 'AccessDenied'],
      [{ kind: 'error', code: 'BadParameter', status: 400 }, 400, 'BadParameter', undefined],
    ];
    for (const [fault, status, code, inner] of cases) {
      emulator.fail(fault);
      const reply = await send(emulator, 'GET', `/secrets/mtls/?${API}`);
      expect(reply.status).toBe(status);
      expect(errorOf(reply).code).toBe(code);
      expect(errorOf(reply).innererror?.code).toBe(inner);
    }
    emulator.fail({ kind: 'error', code: 'ForbiddenByFirewall' });
    const firewall = await send(emulator, 'GET', `/secrets/mtls/?${API}`);
    expect(errorOf(firewall).message).toContain('Client address is not authorized');
  });

  it('damages the value of the next read, not of a write; a stale read serves the version before the newest', async () => {
    const v1 = emulator.putSecret('mtls', 'the first value of the secret');
    emulator.fail('corrupt');
    await send(emulator, 'PUT', `/secrets/other?${API}`, { body: { value: 'x' } });
    const damaged = await send(emulator, 'GET', `/secrets/mtls/?${API}`);
    expect(damaged.json?.value).toBe(corruptValue('the first value of the secret'));

    emulator.fail('stale');
    // No version before the only one: the fault waits.
    expect((await send(emulator, 'GET', `/secrets/mtls/?${API}`)).json?.value).toBe(
      'the first value of the secret',
    );
    emulator.putSecret('mtls', 'second');
    const stale = await send(emulator, 'GET', `/secrets/mtls/?${API}`);
    expect(stale.json).toMatchObject({
      value: 'the first value of the secret',
      id: emulator.idOf('mtls', v1.id),
    });
    expect(emulator.log.calls().map((c) => c.fault)).toEqual([undefined, 'corrupt', undefined, 'stale']);
  });
});
