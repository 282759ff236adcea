// Authentication with the real node-vault client against the emulator: tokens (value and Vault
// Agent's file), AppRole and Kubernetes logins, renewal at two thirds of the TTL, logging in again
// when renewal is refused or the max TTL is reached, one re-login after a dead token (not a loop),
// close() stopping the timer — and no token, secret id or JWT in any error.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { loadCredentials, MtlsError } from '@mtlskit/core';
import { type IssuedCert, leakCheck, TestCA, type VaultAppRoleOptions } from '@mtlskit/testkit';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  JWT,
  ROOT_TOKEN,
  SECRET_ID,
  sleep,
  startVaultHarness,
  until,
  type VaultHarness,
} from './__tests__/harness.js';

let alice: IssuedCert;
let vault: VaultHarness;
let dir: string;
const SECRETS = () => [ROOT_TOKEN, SECRET_ID, JWT, alice.keyPem];

beforeAll(async () => {
  alice = await (await TestCA.create()).issueClient({ commonName: 'alice' });
});
beforeEach(async () => {
  vault = await startVaultHarness();
  vault.emulator.putSecret('secret/app', { cert: alice.fullChainPem, key: alice.keyPem });
  dir = mkdtempSync(join(tmpdir(), 'mtlskit-vault-auth-'));
});
afterEach(async () => {
  await vault.close();
  rmSync(dir, { recursive: true, force: true });
});

const count = (operation: string) => vault.emulator.log.count({ operation });
const tokensSent = (operation = 'ReadSecret') =>
  vault.emulator.log.calls({ operation }).map((c) => c.headers['x-vault-token']);

/** Waits until the emulator has answered `n` logins, and the source has had a moment to take the token. */
async function answeredLogins(n: number, what: string, timeoutMs = 3_000): Promise<void> {
  await until(
    () => vault.emulator.log.calls({ operation: 'AppRoleLogin' })[n - 1]?.status !== undefined,
    what,
    timeoutMs,
  );
  await sleep(100);
}

async function loads(source: { load(): Promise<unknown> }) {
  const material = (await source.load()) as Parameters<typeof loadCredentials>[0];
  expect((await loadCredentials(material)).fingerprint256).toBe(alice.fingerprint256);
}

async function failure(promise: Promise<unknown>): Promise<MtlsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!MtlsError.is(err)) throw new Error(`expected an MtlsError, got ${String(err)}`);
  leakCheck(SECRETS()).check(err, 'the error');
  return err;
}

/** A source on secret/app logging in as AppRole "payments" (SECRET_ID its secret id, `role` its settings). */
function appRoleSource(role: Omit<VaultAppRoleOptions, 'secretIds'> = {}) {
  const { roleId } = vault.emulator.addAppRole('payments', { secretIds: [SECRET_ID], ...role });
  return vault.source({
    path: 'secret/app',
    kv: 2,
    auth: { method: 'approle', roleId, secretId: SECRET_ID },
  });
}

/** Writes a file the way Vault Agent's sink does: a new file renamed over the old one. */
function sink(path: string, token: string): void {
  writeFileSync(`${path}.tmp`, `${token}\n`);
  renameSync(`${path}.tmp`, path);
}

describe('tokens', () => {
  it('renews a token at two thirds of its TTL, as lookup-self reports it', async () => {
    const token = vault.emulator.createToken({ ttl: 3 });
    const source = vault.source({ path: 'secret/app', kv: 2, auth: { method: 'token', token } });
    const started = Date.now();
    await loads(source);
    await until(() => count('RenewSelf') === 1, 'the first renewal', 4_000);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThan(1_700);
    expect(elapsed).toBeLessThan(2_800);
    expect(count('LookupSelf')).toBe(1);
    expect(vault.emulator.token(token)!.expiresAt! - Date.now()).toBeGreaterThan(2_000);
  });

  it('reads a token file as Vault Agent writes it, and again when the agent replaces it', async () => {
    const file = join(dir, 'token');
    const first = vault.emulator.createToken();
    sink(file, first);
    const source = vault.source({
      path: 'secret/app',
      kv: 2,
      auth: { method: 'token', tokenFile: file, renew: false },
    });
    await loads(source);
    const second = vault.emulator.createToken();
    vault.emulator.revokeToken(first);
    sink(file, second);
    await loads(source);
    expect(tokensSent()).toEqual([first, second]);
  });

  it('reports a missing token file as retryable and reads it once it appears', async () => {
    const file = join(dir, 'not-yet');
    const source = vault.source({
      path: 'secret/app',
      kv: 2,
      auth: { method: 'token', tokenFile: file, renew: false },
    });
    const err = await failure(source.load());
    expect(err.code).toBe('SOURCE_UNAVAILABLE');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/Vault Agent/);
    sink(file, vault.emulator.createToken());
    await loads(source);
  });

  it('a dead token that cannot be replaced is ACCESS_DENIED, after one attempt', async () => {
    const token = vault.emulator.createToken();
    vault.emulator.revokeToken(token);
    const source = vault.source({
      path: 'secret/app',
      kv: 2,
      auth: { method: 'token', token, renew: false },
    });
    const err = await failure(source.load());
    expect(err.code).toBe('ACCESS_DENIED');
    leakCheck([token]).check(err, 'the error');
    expect(count('ReadSecret')).toBe(1);
  });
});

describe('AppRole', () => {
  it('logs in with a secret id given as a value, a file or a function, once for many calls', async () => {
    const file = join(dir, 'secret-id');
    writeFileSync(file, `${SECRET_ID}\n`);
    const { roleId } = vault.emulator.addAppRole('payments', { secretIds: [SECRET_ID], tokenTtl: 60 });
    for (const secretId of [
      { secretId: SECRET_ID },
      { secretIdFile: file },
      { secretId: async () => SECRET_ID },
    ]) {
      vault.emulator.log.clear();
      const source = vault.source({
        path: 'secret/app',
        kv: 2,
        auth: { method: 'approle', roleId, ...secretId },
      });
      await Promise.all([loads(source), loads(source), loads(source)]);
      await loads(source);
      expect(count('AppRoleLogin')).toBe(1);
      const issued = tokensSent();
      expect(new Set(issued).size).toBe(1);
      expect(vault.emulator.token(String(issued[0]))?.via).toBe('approle');
      await source.close();
    }
  });

  it('logs in on a custom mount in another namespace than the secret’s', async () => {
    vault.emulator.addNamespace('team-a');
    vault.emulator.addNamespace('team-a/payments');
    vault.emulator.mount('kv', { namespace: 'team-a/payments' });
    vault.emulator.putSecret(
      'kv/app',
      { cert: alice.fullChainPem, key: alice.keyPem },
      { namespace: 'team-a/payments' },
    );
    const { roleId } = vault.emulator.addAppRole('payments', {
      secretIds: [SECRET_ID],
      mount: 'ci-approle',
      namespace: 'team-a',
    });
    const source = vault.source({
      path: 'kv/app',
      kv: 2,
      namespace: 'team-a/payments',
      auth: { method: 'approle', roleId, secretId: SECRET_ID, mount: 'ci-approle', namespace: 'team-a' },
    });
    await loads(source);
    const [login, read] = vault.emulator.log.calls();
    expect(login).toMatchObject({ operation: 'AppRoleLogin', path: '/v1/auth/ci-approle/login' });
    expect(login?.headers['x-vault-namespace']).toBe('team-a');
    expect(read?.headers['x-vault-namespace']).toBe('team-a/payments');
  });

  it('a source closed while its secret id is read does not log in, and fails the call with CLOSED', async () => {
    const { roleId } = vault.emulator.addAppRole('payments', { secretIds: [SECRET_ID] });
    let source: { id: string; load(): Promise<unknown>; close(): Promise<void> } | undefined;
    source = vault.source({
      path: 'secret/app',
      kv: 2,
      auth: {
        method: 'approle',
        roleId,
        secretId: async () => {
          await source?.close();
          return SECRET_ID;
        },
      },
    });
    const err = await failure(source.load());
    expect(err.code).toBe('CLOSED');
    expect(err.sourceId).toBe(source.id);
    expect(err.message).toContain('was closed: create a new one');
    expect(count('AppRoleLogin')).toBe(0);
  });

  it('refuses a wrong secret id with ACCESS_DENIED and no secret in the error', async () => {
    const { roleId } = vault.emulator.addAppRole('payments', { secretIds: ['the-right-one'] });
    const source = vault.source({
      path: 'secret/app',
      kv: 2,
      auth: { method: 'approle', roleId, secretId: SECRET_ID },
    });
    const err = await failure(source.load());
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toMatch(/log in with AppRole/);
    expect(inspect(err, { depth: 10 })).not.toContain(SECRET_ID);
  });

  it('renews at two thirds of the TTL, and logs in again when the max TTL caps the renewal', async () => {
    const source = appRoleSource({ tokenTtl: 3, tokenMaxTtl: 4 });
    await loads(source);
    // 2 s: renewal, granted 2 s of the 3 asked (max TTL 4 s); 2/3 of that later: a new login.
    await until(() => count('RenewSelf') === 1, 'the renewal', 3_000);
    await answeredLogins(2, 'the second login');
    await loads(source);
    const [first, second] = vault.emulator.log
      .calls({ operation: 'ReadSecret' })
      .map((c) => c.headers['x-vault-token']);
    expect(second).not.toBe(first);
    expect(vault.emulator.log.calls().every((c) => c.status !== 403)).toBe(true);
  });

  it('logs in again when Vault refuses to renew', async () => {
    const source = appRoleSource({ tokenTtl: 2 });
    await loads(source);
    vault.emulator.fail({
      kind: 'error',
      status: 400,
      operation: 'RenewSelf',
      message: 'lease is not renewable',
    });
    await until(() => count('AppRoleLogin') === 2, 'the login after the refused renewal', 3_000);
    expect(count('RenewSelf')).toBe(1);
  });

  it('logs in again before expiry when a renewal fails and no time is left to retry it', async () => {
    const source = appRoleSource({ tokenTtl: 3 });
    await loads(source);
    vault.emulator.fail({ kind: 'serverError', status: 503, operation: 'RenewSelf' });
    await answeredLogins(2, 'the login after the failed renewal');
    expect(count('RenewSelf')).toBe(1);
    const first = tokensSent()[0];
    await loads(source);
    expect(tokensSent()[1]).not.toBe(first);
    expect(vault.emulator.token(String(first))!.expiresAt! > Date.now()).toBe(true);
  });

  it('a 403 after the token died logs in once and succeeds; concurrent callers share the login', async () => {
    const source = appRoleSource({ tokenTtl: 600 });
    await loads(source);
    vault.emulator.revokeToken(String(tokensSent()[0]));
    await Promise.all(Array.from({ length: 8 }, () => loads(source)));
    expect(count('AppRoleLogin')).toBe(2);
  });

  it('a 403 the policy explains (valid token) does not log in again', async () => {
    const { roleId } = vault.emulator.addAppRole('payments', {
      secretIds: [SECRET_ID],
      policy: { 'secret/data/other': ['read'] },
    });
    const source = vault.source({
      path: 'secret/app',
      kv: 2,
      auth: { method: 'approle', roleId, secretId: SECRET_ID },
    });
    const err = await failure(source.load());
    expect(err.code).toBe('ACCESS_DENIED');
    expect(vault.emulator.log.operations()).toEqual(['AppRoleLogin', 'ReadSecret', 'LookupSelf']);
  });

  it('a token refused again after the new login is final: one re-login, not a loop', async () => {
    const { roleId } = vault.emulator.addAppRole('payments', { secretIds: [SECRET_ID] });
    vault.emulator.fail({
      kind: 'denied',
      operation: 'ReadSecret',
      times: Number.POSITIVE_INFINITY,
      message: '2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n',
    });
    const source = vault.source({
      path: 'secret/app',
      kv: 2,
      auth: { method: 'approle', roleId, secretId: SECRET_ID },
    });
    const err = await failure(source.load());
    expect(err.code).toBe('ACCESS_DENIED');
    expect(vault.emulator.log.operations()).toEqual([
      'AppRoleLogin',
      'ReadSecret',
      'AppRoleLogin',
      'ReadSecret',
    ]);
  });

  it('close() stops the renewal timer', async () => {
    const source = appRoleSource({ tokenTtl: 1 });
    await loads(source);
    await source.close();
    await sleep(1_200);
    expect(count('RenewSelf') + count('AppRoleLogin')).toBe(1);
    expect((await failure(source.load())).code).toBe('CLOSED');
  });
});

describe('Kubernetes', () => {
  it('logs in with the projected service-account token, read again at each login', async () => {
    const file = join(dir, 'sa-token');
    sink(file, JWT);
    vault.emulator.addKubernetesRole('web', { jwts: [JWT, `${JWT}-rotated`], tokenTtl: 600 });
    const source = vault.source({
      path: 'secret/app',
      kv: 2,
      auth: { method: 'kubernetes', role: 'web', jwtFile: file },
    });
    await loads(source);
    sink(file, `${JWT}-rotated`);
    vault.emulator.revokeToken(String(tokensSent()[0]));
    await loads(source);
    expect(
      vault.emulator.log.calls({ operation: 'KubernetesLogin' }).map((c) => (c.body as { jwt: string }).jwt),
    ).toEqual([JWT, `${JWT}-rotated`]);
  });

  it('refuses an unknown role or a JWT Vault does not accept, without showing the JWT', async () => {
    vault.emulator.addKubernetesRole('web', { jwts: ['another'] });
    const wrongJwt = vault.source({
      path: 'secret/app',
      kv: 2,
      auth: { method: 'kubernetes', role: 'web', jwt: JWT },
    });
    expect((await failure(wrongJwt.load())).code).toBe('ACCESS_DENIED');
    const wrongRole = vault.source({
      path: 'secret/app',
      kv: 2,
      auth: { method: 'kubernetes', role: 'nope', jwt: JWT },
    });
    expect((await failure(wrongRole.load())).code).toBe('ACCESS_DENIED');
    const noFile = vault.source({
      path: 'secret/app',
      kv: 2,
      auth: { method: 'kubernetes', role: 'web', jwtFile: join(dir, 'absent') },
    });
    expect((await failure(noFile.load())).code).toBe('SOURCE_UNAVAILABLE');
  });
});
