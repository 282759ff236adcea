// Every way a call to Vault fails, with the real node-vault client: the code and retryability each
// maps to, a message that says what to do, and — inspected through every error — no token, secret id
// or JWT, although node-vault's errors carry the request headers and login body.
import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { MtlsError, type MtlsErrorCode } from '@mtlskit/core';
import { leakCheck, startVaultEmulator, TestCA } from '@mtlskit/testkit';
import nodeVault from 'node-vault';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JWT, ROOT_TOKEN, SECRET_ID, startVaultHarness, type VaultHarness } from './__tests__/harness.js';
import { toMtlsError } from './errors.js';

let vault: VaultHarness;
beforeEach(async () => {
  vault = await startVaultHarness();
  vault.emulator.putSecret('secret/app', { cert: 'c', key: 'k' });
});
afterEach(() => vault.close());

const check = leakCheck([ROOT_TOKEN, SECRET_ID, JWT]);

async function failure(promise: Promise<unknown>, where: string): Promise<MtlsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!MtlsError.is(err)) throw new Error(`${where}: expected an MtlsError, got ${String(err)}`);
  check.check(err, where);
  check.checkText(inspect(err, { depth: 20, showHidden: true }), `${where} (inspect)`);
  check.checkText(JSON.stringify(err), `${where} (JSON)`);
  return err;
}

/** A loopback port with nothing listening. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

const answers: Array<{
  name: string;
  fault: Parameters<VaultHarness['emulator']['fail']>[0];
  code: MtlsErrorCode;
  retryable: boolean;
  says: RegExp;
}> = [
  {
    name: '400 refusal',
    fault: { kind: 'error', status: 400, message: 'bad request' },
    code: 'SOURCE_UNAVAILABLE',
    retryable: false,
    says: /refused the call \(status 400\).*bad request/,
  },
  {
    name: '403',
    fault: 'denied',
    code: 'ACCESS_DENIED',
    retryable: false,
    says: /policy allows this path.*permission denied/,
  },
  { name: '404', fault: 'notFound', code: 'SOURCE_NOT_FOUND', retryable: false, says: /no such secret/ },
  {
    name: '429',
    fault: 'throttled',
    code: 'THROTTLED',
    retryable: true,
    says: /rate-limited.*rate limit quota exceeded/,
  },
  { name: '500', fault: 'serverError', code: 'SOURCE_UNAVAILABLE', retryable: true, says: /status 500/ },
  {
    name: '502',
    fault: { kind: 'serverError', status: 502 },
    code: 'SOURCE_UNAVAILABLE',
    retryable: true,
    says: /status 502/,
  },
  {
    name: 'truncated JSON',
    fault: 'malformed',
    code: 'SOURCE_UNAVAILABLE',
    retryable: true,
    says: /not Vault's JSON/,
  },
  {
    name: 'reset connection',
    fault: 'reset',
    code: 'SOURCE_UNAVAILABLE',
    retryable: true,
    says: /did not answer \(ECONNRESET\)/,
  },
  {
    name: 'a slow answer',
    fault: { kind: 'slow', delayMs: 5_000 },
    code: 'SOURCE_UNAVAILABLE',
    retryable: true,
    says: /within 2000 ms/,
  },
];

describe('Vault’s answers', () => {
  for (const a of answers) {
    it(`${a.name} → ${a.code}${a.retryable ? ' (retryable)' : ''}`, async () => {
      vault.emulator.fail({
        ...(typeof a.fault === 'string' ? { kind: a.fault } : a.fault),
        operation: 'ReadSecret',
      });
      const err = await failure(vault.source({ path: 'secret/app', kv: 2 }).load(), a.name);
      expect(err.code).toBe(a.code);
      expect(err.retryable).toBe(a.retryable);
      expect(err.message).toMatch(a.says);
      expect(err.sourceId).toBe('vault://secret/app?kv=2');
    });
  }

  it('a sealed Vault → SOURCE_UNAVAILABLE, retryable, saying so', async () => {
    vault.emulator.seal();
    const err = await failure(vault.source({ path: 'secret/app' }).load(), 'sealed');
    expect(err.code).toBe('SOURCE_UNAVAILABLE');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/is sealed — unseal it/);
  });

  it('a standby’s redirect is followed to the active node, token and namespace included', async () => {
    const standby = await startVaultEmulator();
    try {
      standby.redirectTo(vault.emulator.url);
      const source = vault.source({ path: 'secret/app', kv: 2, endpoint: standby.url });
      expect((await source.load()).version).toBe('1');
      expect(standby.log.last()?.status).toBe(307);
      expect(vault.emulator.log.last()?.headers['x-vault-token']).toBe(ROOT_TOKEN);
    } finally {
      await standby.close();
    }
  });

  it('a standby whose active node is down → SOURCE_UNAVAILABLE, retryable', async () => {
    vault.emulator.redirectTo(`http://127.0.0.1:${await deadPort()}`);
    const err = await failure(vault.source({ path: 'secret/app', kv: 2 }).load(), 'standby');
    expect(err.code).toBe('SOURCE_UNAVAILABLE');
    expect(err.retryable).toBe(true);
  });

  it('a redirect without a location → SOURCE_UNAVAILABLE naming the standby', async () => {
    vault.emulator.fail({ kind: 'error', status: 307, message: 'standby' });
    const err = await failure(vault.source({ path: 'secret/app', kv: 2 }).load(), 'bare 307');
    expect(err.code).toBe('SOURCE_UNAVAILABLE');
    expect(err.message).toMatch(/standby/);
  });
});

describe('transport failures', () => {
  it('connection refused → SOURCE_UNAVAILABLE, retryable, naming the address', async () => {
    const endpoint = `http://127.0.0.1:${await deadPort()}`;
    const err = await failure(vault.source({ path: 'secret/app', kv: 2, endpoint }).load(), 'refused');
    expect(err.code).toBe('SOURCE_UNAVAILABLE');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain(`Vault at ${endpoint} did not answer (ECONNREFUSED)`);
  });

  it('an AppRole login to a dead address shows neither the secret id nor the token', async () => {
    const endpoint = `http://127.0.0.1:${await deadPort()}`;
    const source = vault.source({
      path: 'secret/app',
      kv: 2,
      endpoint,
      auth: { method: 'approle', roleId: 'r', secretId: SECRET_ID },
    });
    const err = await failure(source.load(), 'login refused');
    expect(err.code).toBe('SOURCE_UNAVAILABLE');
    expect(err.message).toMatch(/log in with AppRole/);
  });

  it('the raw node-vault error does carry the secrets; the mapped one does not', async () => {
    const client = nodeVault({ endpoint: `http://127.0.0.1:${await deadPort()}`, token: ROOT_TOKEN });
    const raw = await client
      .write('auth/kubernetes/login', { role: 'web', jwt: JWT, secret_id: SECRET_ID })
      .catch((e: unknown) => e);
    const shown = inspect(raw, { depth: 10 });
    // What the redaction is for: axios keeps the whole request.
    expect(shown.includes(ROOT_TOKEN) || shown.includes(JWT)).toBe(true);
    const mapped = toMtlsError(raw, { sourceId: 'vault://x/y', action: 'log in', endpoint: 'here' });
    check.check(mapped, 'the mapped error');
    expect(mapped.code).toBe('SOURCE_UNAVAILABLE');
  });

  it('https:// to a Vault that speaks plain HTTP → SOURCE_UNAVAILABLE, not retried, naming the scheme', async () => {
    const err = await failure(
      vault.source({ path: 'secret/app', endpoint: vault.emulator.url.replace('http:', 'https:') }).load(),
      'https to http',
    );
    expect([err.code, err.retryable]).toEqual(['SOURCE_UNAVAILABLE', false]);
    expect(err.message).toMatch(/did not speak the protocol of the address .* http:\/\/ or https:\/\//);
  });

  it('a Vault certificate the client does not trust → SOURCE_UNAVAILABLE, not retried, naming VAULT_CACERT', async () => {
    const serverCa = await TestCA.create();
    const cert = await serverCa.issueServer({ commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'] });
    const tls = await startVaultHarness({ tls: { cert: cert.certPem, key: cert.keyPem } });
    try {
      tls.emulator.putSecret('secret/app', { cert: 'c', key: 'k' });
      const err = await failure(tls.source({ path: 'secret/app' }).load(), 'untrusted certificate');
      expect([err.code, err.retryable]).toEqual(['SOURCE_UNAVAILABLE', false]);
      expect(err.message).toMatch(
        /the TLS connection to Vault at https:.* failed \(.*\) — .*set VAULT_CACERT/,
      );
    } finally {
      await tls.close();
    }
  });

  it('an abort rejects at once with the abort, even though node-vault cannot be cancelled', async () => {
    vault.emulator.fail({ kind: 'slow', operation: 'ReadSecret' });
    const controller = new AbortController();
    const pending = vault.source({ path: 'secret/app', kv: 2 }).load({ signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBe(controller.signal.reason);
    expect((err as Error).name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(500);
  });
});

describe('the answers no emulator fault produces', () => {
  const ctx = {
    sourceId: 'vault://secret/app',
    action: 'read secret "secret/app"',
    endpoint: 'https://vault:8200',
  };
  const answer = (statusCode: number, message: string) =>
    Object.assign(new Error(message), { name: 'ApiResponseError', response: { statusCode, body: {} } });

  it('a refused login (400 naming the role or secret id) → ACCESS_DENIED saying to check the role', () => {
    const err = toMtlsError(answer(400, 'invalid role or secret ID'), {
      ...ctx,
      action: 'log in with AppRole',
    });
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toMatch(/^could not log in with AppRole: Vault refused the login — check the role/);
  });

  it('412 (a replica behind the index asked for) is retried; another 4xx is a refusal, not retried', () => {
    expect(toMtlsError(answer(412, 'index not yet reached'), ctx)).toMatchObject({
      code: 'SOURCE_UNAVAILABLE',
      retryable: true,
    });
    const refused = toMtlsError(answer(405, 'unsupported operation'), ctx);
    expect([refused.code, refused.retryable]).toEqual(['SOURCE_UNAVAILABLE', false]);
    expect(refused.message).toMatch(/refused the call \(status 405\).*\(Vault said: unsupported operation\)/);
  });

  it('a redirect loop names the standby, and a not-found adds the source’s hint', () => {
    const loop = toMtlsError(
      Object.assign(new Error('Maximum number of redirects exceeded'), { code: 'ERR_FR_TOO_MANY_REDIRECTS' }),
      ctx,
    );
    expect(loop.code).toBe('SOURCE_UNAVAILABLE');
    expect(loop.message).toMatch(/redirected the call \(a standby node, redirecting in a loop\)/);
    const hinted = toMtlsError(answer(404, ''), { ...ctx, notFoundHint: 'is the KV version right?' });
    expect(hinted.message).toMatch(/check the mount, the path and the version; is the KV version right\?$/);
  });
});
