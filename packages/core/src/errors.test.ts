import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { leakCheck, TestCA } from '@mtlskit/testkit';
import axios, { type AxiosError } from 'axios';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { STRUCTURED_KEY_LINES } from './__tests__/crafted.js';
import { ERROR_CODES, MtlsError, type MtlsErrorCode } from './errors.js';
import { RedactedError, redactCause, redactText } from './redact.js';

const VAULT_TOKEN = 'hvs.CAESIJx9kQ3vT0pSecretTokenValue1234567890abcdef';
const SECRET_ID = 'f4c1e2d3-approle-secret-id-9a8b7c6d5e4f';
const KEY_BODY = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDKeyBytesThatMustNeverLeak';

const DESIGN_MD = fileURLToPath(new URL('../../../docs/design.md', import.meta.url));
const CORE_README = fileURLToPath(new URL('../README.md', import.meta.url));

/**
 * The error-code table of a markdown document: the first table in the section under `heading` (the heading line
 * may go on, as in `## Errors (contract: one root class)`) whose header
 * starts `| code | retryable |`, as code → retryable. A row may name several codes
 * (`` `EXPIRED` / `NOT_YET_VALID` ``); extra columns are ignored.
 */
function codeTable(markdown: string, heading: string): Record<string, boolean> {
  const lines = markdown.split(/\r?\n/);
  const start = lines.findIndex((line) => line === heading || line.startsWith(`${heading} `));
  if (start < 0) throw new Error(`no "${heading}" section`);
  const end = lines.findIndex((line, i) => i > start && /^#{1,2} /.test(line));
  const section = lines.slice(start + 1, end < 0 ? undefined : end);
  const header = section.findIndex((line) => /^\|\s*code\s*\|\s*retryable\s*\|/.test(line));
  if (header < 0) throw new Error(`no "| code | retryable |" table in "${heading}"`);
  const table: Record<string, boolean> = {};
  for (const row of section.slice(header + 2)) {
    if (!row.startsWith('|')) break;
    const match = /^\|\s*((?:`[A-Z_]+`\s*\/\s*)*`[A-Z_]+`)\s*\|\s*(yes|no)\s*\|/.exec(row);
    if (!match) throw new Error(`unreadable row in the code table: ${row}`);
    for (const [, code] of (match[1] ?? '').matchAll(/`([A-Z_]+)`/g)) {
      if (code === undefined || code in table) throw new Error(`${code} twice in the code table`);
      table[code] = match[2] === 'yes';
    }
  }
  return table;
}

describe('MtlsError', () => {
  it('carries code, retryable from the code table, source id and field', () => {
    const err = new MtlsError('THROTTLED', 'AWS Secrets Manager throttled GetSecretValue; retry later.', {
      sourceId: 'aws-sm://prod/mtls',
      field: 'bundle',
    });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(MtlsError);
    expect(err.name).toBe('MtlsError');
    expect(err.code).toBe('THROTTLED');
    expect(err.retryable).toBe(true);
    expect(err.sourceId).toBe('aws-sm://prod/mtls');
    expect(err.field).toBe('bundle');
    expect(new MtlsError('KEY_MISMATCH', 'x').retryable).toBe(false);
    expect(new MtlsError('SOURCE_NOT_FOUND', 'x', { retryable: true }).retryable).toBe(true);
  });

  it('defines exactly the codes of the docs/design.md table, each with the retryability it states', () => {
    const documented = codeTable(readFileSync(DESIGN_MD, 'utf8'), '## Errors');
    const defined = Object.fromEntries(Object.entries(ERROR_CODES).map(([code, v]) => [code, v.retryable]));
    expect(defined).toEqual(documented);
  });

  it('the README of @mtlskit/core lists the same codes and retryability', () => {
    const documented = codeTable(readFileSync(CORE_README, 'utf8'), '## Errors');
    const defined = Object.fromEntries(Object.entries(ERROR_CODES).map(([code, v]) => [code, v.retryable]));
    expect(documented).toEqual(defined);
  });

  it('reads a code table the way the docs write it, shared rows included', () => {
    const doc = [
      '## Errors',
      '| code | retryable | meaning |',
      '|---|---|---|',
      '| `THROTTLED` | yes | rate-limited |',
      '| `EXPIRED` / `NOT_YET_VALID` | no | outside the validity |',
      '',
      '## Other',
      '| `KEY_MISMATCH` | no | in another section: ignored |',
    ].join('\n');
    expect(codeTable(doc, '## Errors')).toEqual({ THROTTLED: true, EXPIRED: false, NOT_YET_VALID: false });
    expect(() => codeTable(doc.replace('| yes |', '| maybe |'), '## Errors')).toThrow(/unreadable row/);
    expect(() => codeTable(doc.replace('`EXPIRED` /', '`THROTTLED` /'), '## Errors')).toThrow(
      /THROTTLED twice/,
    );
    expect(() => codeTable(doc, '## Missing')).toThrow(/no "## Missing" section/);
  });

  it('is recognised across module copies through its brand, and not for look-alikes', () => {
    const foreign = Object.assign(new Error('x'), { code: 'KEY_MISMATCH' });
    expect(foreign).not.toBeInstanceOf(MtlsError);
    const branded = Object.defineProperty(new Error('y'), Symbol.for('mtlskit.MtlsError'), { value: true });
    expect(branded).toBeInstanceOf(MtlsError);
    class Sub extends MtlsError {}
    expect(new Sub('CLOSED', 'closed')).toBeInstanceOf(Sub);
    expect(new MtlsError('CLOSED', 'closed')).not.toBeInstanceOf(Sub);
  });

  it('MtlsError.is narrows by code', () => {
    const err: unknown = new MtlsError('EXPIRED', 'expired');
    expect(MtlsError.is(err)).toBe(true);
    expect(MtlsError.is(err, 'EXPIRED', 'NOT_YET_VALID')).toBe(true);
    expect(MtlsError.is(err, 'KEY_MISMATCH')).toBe(false);
    expect(MtlsError.is(new Error('plain'))).toBe(false);
    if (MtlsError.is(err, 'EXPIRED', 'NOT_YET_VALID')) {
      expectTypeOf(err.code).toEqualTypeOf<'EXPIRED' | 'NOT_YET_VALID'>();
      expectTypeOf(err.retryable).toEqualTypeOf<boolean>();
    }
    if (MtlsError.is(err)) expectTypeOf(err.code).toEqualTypeOf<MtlsErrorCode>();
  });

  it('MtlsError.is answers for the error itself: a wrapper holding one in cause is not one', () => {
    // A wrapper that copies code and name from its cause, as axios does, is still not an MtlsError:
    // it has no retryable nor sourceId, so narrowing it would lie about its shape.
    const inner = new MtlsError('EXPIRED', 'expired', { sourceId: 'env:' });
    const wrapper = Object.assign(new Error('expired', { cause: inner }), {
      name: 'MtlsError',
      code: 'EXPIRED',
    });
    expect(MtlsError.is(wrapper)).toBe(false);
    expect(MtlsError.is(wrapper, 'EXPIRED')).toBe(false);
  });

  it('MtlsError.from finds the MtlsError along the cause chain, with one of the codes when given', () => {
    const expired = new MtlsError('EXPIRED', 'expired', { sourceId: 'env:' });
    expect(MtlsError.from(expired)).toBe(expired);
    const fetchFailed = new TypeError('fetch failed', { cause: expired });
    const twice = new Error('request failed', { cause: fetchFailed });
    expect(MtlsError.from(fetchFailed)).toBe(expired);
    expect(MtlsError.from(twice, 'EXPIRED', 'NOT_YET_VALID')).toBe(expired);
    expect(MtlsError.from(twice, 'CLOSED')).toBeUndefined();
    // The outermost match wins; a code filter looks further in.
    const outer = new MtlsError('SOURCE_UNAVAILABLE', 'vault down', {
      cause: new MtlsError('CLOSED', 'closed'),
    });
    expect(MtlsError.from(new Error('x', { cause: outer }))?.code).toBe('SOURCE_UNAVAILABLE');
    expect(MtlsError.from(new Error('x', { cause: outer }), 'CLOSED')?.code).toBe('CLOSED');
    for (const nothing of [undefined, null, 'EXPIRED', 42, new Error('plain'), { cause: 'EXPIRED' }]) {
      expect(MtlsError.from(nothing)).toBeUndefined();
    }
    const found = MtlsError.from(twice as unknown, 'EXPIRED');
    expectTypeOf(found).toEqualTypeOf<(MtlsError & { readonly code: 'EXPIRED' }) | undefined>();
  });

  it('MtlsError.from ends on a cycle, a chain too long and a cause getter that throws', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    Object.defineProperty(a, 'cause', { value: b });
    expect(MtlsError.from(a)).toBeUndefined();
    let deep: unknown = new MtlsError('CLOSED', 'closed');
    for (let i = 0; i < 8; i++) deep = new Error(`level ${i}`, { cause: deep });
    expect(MtlsError.from(deep)?.code).toBe('CLOSED');
    expect(MtlsError.from(new Error('too deep', { cause: deep }))).toBeUndefined();
    const hostile = Object.defineProperty(new Error('hostile'), 'cause', {
      get() {
        throw new Error('no');
      },
    });
    expect(MtlsError.from(hostile)).toBeUndefined();
  });

  it('serialises to JSON and inspect with code, source and message', () => {
    const err = new MtlsError(
      'SOURCE_NOT_FOUND',
      'Secret prod/mtls does not exist. Create it or fix the id.',
      {
        sourceId: 'aws-sm://prod/mtls',
      },
    );
    expect(JSON.parse(JSON.stringify(err))).toMatchObject({
      name: 'MtlsError',
      code: 'SOURCE_NOT_FOUND',
      retryable: false,
      sourceId: 'aws-sm://prod/mtls',
      message: 'Secret prod/mtls does not exist. Create it or fix the id.',
    });
    const shown = inspect(err);
    expect(shown).toContain('MtlsError [SOURCE_NOT_FOUND] (source aws-sm://prod/mtls)');
    expect(shown).toMatch(/\n\s+at /);
  });

  it('scrubs PEM blocks and tokens even from its own message', () => {
    const err = new MtlsError(
      'DECODE_FAILED',
      `cannot read -----BEGIN PRIVATE KEY-----\n${KEY_BODY}\n-----END PRIVATE KEY----- with token ${VAULT_TOKEN}`,
    );
    expect(err.message).toContain('[redacted PEM]');
    leakCheck([KEY_BODY, VAULT_TOKEN]).check(err, 'MtlsError');
  });
});

describe('redacted cause', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    // A Vault-like endpoint refusing an AppRole login, echoing nothing secret itself.
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: ['permission denied'] }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  async function vaultAxiosError(): Promise<AxiosError> {
    try {
      await axios.post(
        `${url}/v1/auth/approle/login`,
        { role_id: 'role', secret_id: SECRET_ID },
        { headers: { 'X-Vault-Token': VAULT_TOKEN }, proxy: false },
      );
    } catch (err) {
      return err as AxiosError;
    }
    throw new Error('expected the request to fail');
  }

  it('the raw axios error does leak the token and secret_id (why redaction exists)', async () => {
    const raw = await vaultAxiosError();
    expect(() => leakCheck([VAULT_TOKEN, SECRET_ID]).check(raw, 'raw axios error')).toThrow();
  });

  it('keeps name, code, status and message of an axios error and drops headers, body and config', async () => {
    const raw = await vaultAxiosError();
    const err = new MtlsError('ACCESS_DENIED', 'Vault refused the AppRole login; check role_id/secret_id.', {
      sourceId: 'vault://secret/mtls',
      cause: raw,
    });
    expect(err.cause).toBeInstanceOf(RedactedError);
    expect(err.cause).toMatchObject({ name: 'AxiosError', code: 'ERR_BAD_REQUEST', status: 403 });
    expect((err.cause as Error).message).toBe('Request failed with status code 403');
    const leaks = leakCheck([VAULT_TOKEN, SECRET_ID]);
    leaks.check(err, 'MtlsError with axios cause');
    leaks.checkText(inspect(err, { depth: 20, showHidden: true }), 'inspect(showHidden)');
    leaks.checkText(JSON.stringify(err), 'JSON');
    expect(inspect(err)).toContain('AxiosError (code ERR_BAD_REQUEST, status 403)');
  });

  it('reads AWS SDK style $metadata status and nested causes, three deep at most', () => {
    let deepest: Record<string, unknown> = { name: 'Inner', message: 'inner' };
    for (let i = 0; i < 6; i++) deepest = { name: `Level${i}`, message: `level ${i}`, cause: deepest };
    const aws = {
      name: 'ThrottlingException',
      message: 'Rate exceeded',
      $metadata: { httpStatusCode: 400 },
      cause: deepest,
    };
    const redacted = redactCause(aws) as RedactedError;
    expect(redacted).toMatchObject({ name: 'ThrottlingException', status: 400, message: 'Rate exceeded' });
    let depth = 0;
    for (let c: unknown = redacted; c instanceof RedactedError; c = c.cause) depth++;
    expect(depth).toBe(4);
  });

  it('turns non-errors into redacted strings and passes MtlsErrors through', () => {
    expect(redactCause(`token=${VAULT_TOKEN}`)).toBe('token=[redacted]');
    const inner = new MtlsError('CLOSED', 'closed');
    expect(redactCause(inner)).toBe(inner);
  });
});

describe('the source id', () => {
  it('hides Base64 lines that lack a digit or carry many slashes, as 1 PEM line in 50,000 does', () => {
    // Deterministic random bytes (SHA-256 in counter mode): the same 2,000 lines on every run.
    let counter = 0;
    const next = () => createHash('sha256').update(`redact-${counter++}`).digest().readUInt32BE(0);
    const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    const base64 = `${letters}0123456789+/`;
    for (let i = 0; i < 2_000; i++) {
      const alphabet = i % 2 === 0 ? `${letters}+/` : base64;
      let line = Array.from({ length: 64 }, () => alphabet[next() % alphabet.length]).join('');
      if (i % 2 === 1) line = line.replace(/^(.{9}).(.{9}).(.{9}).(.{9}).(.{9})./, '$1/$2/$3/$4/$5/');
      expect(redactText(`env:?cert=${line}`)).toBe('env:?cert=[redacted]');
    }
  });

  it('hides the first lines of a key, mostly fixed structure whose class changes look like a name', () => {
    // The opening of every PKCS#8 RSA 2048 key, and the second line of every AES-256 encrypted PKCS#8
    // key, with tails that bring the line's class-change rate to 0.25-0.3, under the 0.3 that random
    // Base64 clears (1 generated key in 300 had such a line, and it was shown before).
    for (const line of STRUCTURED_KEY_LINES) {
      expect(redactText(`env:?cert=${line}`)).toBe('env:?cert=[redacted]');
    }
    // Paths and names that happen to be 64 characters, or to open with MIG, stay readable.
    for (const name of [
      'projects/123456789012/secrets/paymentsClientCert/versions/latest',
      'secret/data/teams/payments/prod/clientCertificates/orderService1',
      'MIGRATION/prod/paymentsService2024/clientCertificate',
      'secret/data/Payments/ClientCertificateForOrderService2024ProdEU',
    ]) {
      expect(redactText(`not found: ${name}`)).toBe(`not found: ${name}`);
    }
  });

  it('is redacted as the message is, ordinary ids staying as they are', async () => {
    const { keyPem } = await (await TestCA.create()).issueClient({ keyType: 'rsa2048' });
    const lines = keyPem.split('\n').filter((l) => l.length === 64);
    for (const line of lines) {
      const err = new MtlsError('INVALID_REFERENCE', 'Invalid reference.', { sourceId: `env:?cert=${line}` });
      leakCheck([line]).check(err, 'an error whose source id holds a line of a key');
      expect(err.sourceId).toBe('env:?cert=[redacted]');
      expect(inspect(err)).toContain('(source env:?cert=[redacted])');
    }
    const token = 'hvs.CAESIJ3kq9Zf2sP0aQ1lW7mN8xYzAbCdEfGh';
    expect(new MtlsError('ACCESS_DENIED', 'x', { sourceId: `vault://kv/mtls?token=${token}` }).sourceId).toBe(
      'vault://kv/mtls?token=[redacted]',
    );
    for (const id of [
      'aws-sm://prod/mtls?region=eu-west-1',
      'file:/etc/tls',
      'env:?prefix=X_',
      'env:MTLS_BUNDLE',
      `aws-sm://arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/mtls-AbCdEf`,
      'gcp-sm://projects/my-project-123/secrets/mtls-client-cert/versions/3',
      'vault://secret/data/Teams/Payments/EU-West-1/Prod/Client-Certificates/V3',
      'azure-kv://myvault/mtls/0123456789abcdef0123456789abcdef',
      'file:?cert=/var/run/secrets/kubernetes.io/Prod2/MangopayClientCertificate2026.pem&key=/k.pem',
      'vault-pki://pki_int/sign/ClientRole2026?common_name=x.sandbox.mangopay.com',
    ]) {
      const err = new MtlsError('SOURCE_NOT_FOUND', 'x', { sourceId: id });
      expect(err.sourceId).toBe(id);
      expect(err.toJSON().sourceId).toBe(id);
    }
    expect(new MtlsError('CLOSED', 'x').sourceId).toBeUndefined();
  });
});

describe('redactText', () => {
  it('removes bearer tokens, keyed secrets and long random runs but keeps paths and ids', () => {
    const text = [
      'Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig',
      `secret_id=${SECRET_ID}`,
      'blob QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk=',
      'projects/my-project-123/secrets/mtls-client-cert/versions/latest',
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/mangopay/mtls-AbCdEf',
    ].join('\n');
    const out = redactText(text);
    expect(out).toContain('Bearer [redacted]');
    expect(out).toContain('secret_id=[redacted]');
    expect(out).toContain('blob [redacted]');
    expect(out).toContain('projects/my-project-123/secrets/mtls-client-cert/versions/latest');
    expect(out).toContain('arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/mangopay/mtls-AbCdEf');
    leakCheck([SECRET_ID, 'eyJhbGciOiJSUzI1NiJ9']).checkText(out, 'redactText output');
  });

  it('hides random 40-character Base64 (an AWS secret access key) more often than either rule alone', () => {
    // mulberry32 with a fixed seed: the same 2,000 keys every run.
    let state = 0x2026_1128;
    const random = () => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    };
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    // The rule redactText had before: upper and lower case and digits, at most one "/" in 16.
    const oldRule = (run: string) =>
      /[A-Z]/.test(run) &&
      /[a-z]/.test(run) &&
      /[0-9]/.test(run) &&
      run.split('/').length - 1 <= run.length / 16;
    const total = 2_000;
    let missed = 0;
    let missedBefore = 0;
    for (let i = 0; i < total; i++) {
      let key = '';
      for (let j = 0; j < 40; j++) key += alphabet[Math.floor(random() * 64)];
      if (redactText(`SignatureDoesNotMatch for key ${key} in eu-west-1`).includes(key)) missed++;
      if (!oldRule(key)) missedBefore++;
    }
    expect(missedBefore, 'the sample is not a lucky one').toBeGreaterThan(total * 0.015);
    expect(missed).toBeLessThan(missedBefore);
    expect(missed / total).toBeLessThan(0.02);
    // Names that long stay readable.
    for (const name of [
      'PaymentsServiceClientCertificateProd2026',
      'secret/data/Teams/Payments/EU-West-1/Prod',
      'MangopayClientCertificate2026ProductionEU',
    ]) {
      expect(redactText(`not found: ${name}`)).toBe(`not found: ${name}`);
    }
  });
});
