import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { awsSecretsManagerSource } from '@mtlskit/aws';
import { createTlsResolver, MtlsError } from '@mtlskit/core';
import {
  type AwsSecretsManagerEmulator,
  httpsRequest,
  type IssuedCert,
  leakCheck,
  type MtlsTestServer,
  startAwsSecretsManagerEmulator,
  startMtlsServer,
  TestCA,
  trackConnections,
} from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, cli, tempDir, withFiles } from '../__tests__/harness.js';
import {
  completeRenewal,
  loadPending,
  pendingSource,
  promoteRenewal,
  rollbackRenewal,
  startRenewal,
} from '../renewal.js';

const AWS_ENV = {
  AWS_ACCESS_KEY_ID: 'AKIDMTLSKITTEST',
  AWS_SECRET_ACCESS_KEY: 'mtlskit-test-secret',
  AWS_EC2_METADATA_DISABLED: 'true',
};
const NAME = 'CN=client-42.sandbox.mangopay.com, O=Mangopay, C=LU';
const DNS = 'client-42.sandbox.mangopay.com';
/** Another ClientId's name, for a certificate the CA issues under a name other than the CSR's. */
const OTHER_NAME = {
  subject: 'CN=client-43.sandbox.mangopay.com',
  dnsNames: ['client-43.sandbox.mangopay.com'],
};

let aws: AwsSecretsManagerEmulator;
let net: ReturnType<typeof trackConnections>;
let ca: TestCA;
let server: MtlsTestServer;
let old: IssuedCert;
let saved: NodeJS.ProcessEnv;
beforeAll(async () => {
  net = trackConnections();
  aws = await startAwsSecretsManagerEmulator({ region: 'eu-west-1' });
  ca = await TestCA.create();
  server = await startMtlsServer({ clientCa: ca });
  old = await ca.issueClient({ subject: NAME, dnsNames: [DNS], validForSeconds: 30 * 86_400 });
  saved = { ...process.env };
  Object.assign(process.env, AWS_ENV); // the AWS SDK reads its credentials from process.env
});
afterAll(async () => {
  process.env = saved;
  await server?.close();
  await aws?.close();
  net?.stop();
  expect(net.offLoopback()).toEqual([]);
});

const ref = (name: string) => `aws-sm://${name}?region=eu-west-1&endpoint=${aws.url}&maxAttempts=1`;
const seed = (name: string) =>
  aws.putSecret(name, JSON.stringify({ cert: old.fullChainPem, key: old.keyPem, ca: server.caPem }));
const renew = (args: string[]) => cli(['renew', ...args], { env: AWS_ENV });
/** `mtlskit check --pending` of a secret against `url` (the test server by default). */
const checkPending = (name: string, url = server.url, ...more: string[]) =>
  cli(['check', '--source', ref(name), '--pending', '--url', url, ...more], { env: AWS_ENV });
/** The emulated secret `name`, read through the AWS adapter as an application would. */
const sourceOf = (name: string) =>
  awsSecretsManagerSource({ secretId: name, region: 'eu-west-1', endpoint: aws.url, maxAttempts: 1 });
/** A PEM (or any text) written to a temporary cert.pem, for --cert. */
const certFile = async (pem: string) => join(await withFiles({ 'cert.pem': pem }), 'cert.pem');
/** The version holding `label`, and what it stores, as the emulator sees it. */
const labelled = (name: string, label: string) => aws.secrets.get(name, { label });
const pendingKeyPem = (name: string): string =>
  JSON.parse(String(labelled(name, 'AWSPENDING')!.value)).key as string;

/** Requests the testkit server one after another through a resolver's agent until stopped. */
function continuousClient(reference: string) {
  const resolver = createTlsResolver({
    source: sourceOf(reference),
    refreshIntervalMs: 50,
    jitter: 0,
  });
  const seen: string[] = [];
  const failures: unknown[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const r = await httpsRequest(`${server.url}/ping`, { agent: resolver.agent() });
        if (r.status !== 200) failures.push(r.status);
        else seen.push(JSON.parse(r.body).fingerprint256 as string);
      } catch (err) {
        failures.push(err);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  return {
    seen,
    failures,
    /** Resolves once a request was served with `fingerprint` (after `from` requests). */
    async until(fingerprint: string, timeoutMs = 10_000) {
      const from = seen.length;
      const deadline = Date.now() + timeoutMs;
      while (!seen.slice(from).includes(fingerprint)) {
        if (Date.now() > deadline) throw new Error(`the client never saw ${fingerprint}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      running = false;
      await loop;
      await resolver.close();
    },
  };
}

describe('mtlskit renew (AWS Secrets Manager emulator)', () => {
  it('start → complete → check --pending → promote → rollback while a client makes requests: none fails', async () => {
    seed('app/mtls');
    const client = continuousClient('app/mtls');
    const outputs: CliResult[] = [];
    let newKey = '';
    try {
      await client.until(old.fingerprint256);
      const dir = await tempDir();
      const csrFile = join(dir, 'renewal.csr');

      const start = await renew(['start', '--source', ref('app/mtls'), '--out', csrFile, '--json']);
      outputs.push(start);
      expect(start.code, start.stderr).toBe(0);
      const started = JSON.parse(start.stdout);
      newKey = pendingKeyPem('app/mtls');
      // The pending version holds the new key alone; the current one is untouched.
      expect(labelled('app/mtls', 'AWSPENDING')!.id).toBe(started.pendingVersion);
      expect(labelled('app/mtls', 'AWSCURRENT')!.value).toContain(old.certPem.trim().split('\n')[1]);
      expect(Object.keys(JSON.parse(String(labelled('app/mtls', 'AWSPENDING')!.value)))).toEqual(['key']);
      expect(started).toMatchObject({ subject: NAME, subjectAltName: `DNS:${DNS}` });
      // Nothing but the CSR reached the disk.
      expect(await readdir(dir)).toEqual(['renewal.csr']);
      const csr = await readFile(csrFile, 'utf8');

      // Before the certificate is in, the pending version cannot be checked nor promoted.
      const early = await checkPending('app/mtls');
      outputs.push(early);
      expect(early.code).toBe(1);
      expect(early.stderr).toMatch(/MISSING_FIELD/);
      const earlyPromote = await renew(['promote', '--source', ref('app/mtls')]);
      outputs.push(earlyPromote);
      expect(earlyPromote.code).toBe(1);
      expect(earlyPromote.stderr).toMatch(/MISSING_FIELD.*renew complete/);

      const signed = await ca.signCsr(csr, { validForSeconds: 365 * 86_400 });
      const complete = await renew([
        'complete',
        '--source',
        ref('app/mtls'),
        '--cert',
        await certFile(signed.fullChainPem),
        '--json',
      ]);
      outputs.push(complete);
      expect(complete.code, complete.stderr).toBe(0);
      const completed = JSON.parse(complete.stdout);
      expect(completed.fingerprint256).toBe(signed.fingerprint256);
      expect(labelled('app/mtls', 'AWSPENDING')!.id).toBe(completed.pendingVersion);

      // A real handshake with the pending credential; running clients still use the old one.
      const requestsBefore = server.requests.length;
      const check = await checkPending('app/mtls', `${server.url}/check`, '--json');
      outputs.push(check);
      expect(check.code, check.stderr).toBe(0);
      expect(JSON.parse(check.stdout)).toMatchObject({
        status: 'accepted',
        clientCertificate: { fingerprint256: signed.fingerprint256 },
      });
      const checkRequest = server.requests.slice(requestsBefore).find((r) => r.path === '/check');
      expect(checkRequest?.peerFingerprint256).toBe(signed.fingerprint256);
      expect(client.seen.at(-1)).toBe(old.fingerprint256);

      const promote = await renew(['promote', '--source', ref('app/mtls'), '--json']);
      outputs.push(promote);
      expect(promote.code, promote.stderr).toBe(0);
      const promoted = JSON.parse(promote.stdout);
      expect(promoted).toMatchObject({ current: completed.pendingVersion });
      expect(labelled('app/mtls', 'AWSCURRENT')!.id).toBe(completed.pendingVersion);
      expect(labelled('app/mtls', 'AWSPREVIOUS')!.id).toBe(promoted.previous);
      expect(labelled('app/mtls', 'AWSPENDING')).toBeUndefined();
      await client.until(signed.fingerprint256);

      const rollback = await renew(['rollback', '--source', ref('app/mtls'), '--json']);
      outputs.push(rollback);
      expect(rollback.code, rollback.stderr).toBe(0);
      expect(JSON.parse(rollback.stdout)).toMatchObject({
        current: promoted.previous,
        previous: completed.pendingVersion,
      });
      await client.until(old.fingerprint256);
    } finally {
      await client.stop();
    }
    expect(client.failures).toEqual([]);
    expect(client.seen.length).toBeGreaterThan(10);
    // The server saw exactly the old certificate, then the new one, then the old one again.
    const order = client.seen.filter((f, i) => i === 0 || client.seen[i - 1] !== f);
    expect(order.slice(0, 3)).toEqual([old.fingerprint256, expect.any(String), old.fingerprint256]);
    const leaks = leakCheck([old.keyPem, newKey]);
    for (const [i, o] of outputs.entries()) {
      leaks.checkText(o.stdout, `output ${i} (stdout)`);
      leaks.checkText(o.stderr, `output ${i} (stderr)`);
    }
  });

  it('refuses a certificate of another key, of another name, or without clientAuth, and keeps the pending key', async () => {
    seed('refuse/mtls');
    const start = await renew(['start', '--source', ref('refuse/mtls'), '--json']);
    expect(start.code, start.stderr).toBe(0);
    const { csr, pendingVersion } = JSON.parse(start.stdout);
    const otherCsr = (await renewOf('refuse/other')).csrPem;
    const cases: [string, string, RegExp][] = [
      ['another key', (await ca.signCsr(otherCsr)).certPem, /KEY_MISMATCH/],
      ['another name', (await ca.signCsr(csr, OTHER_NAME)).certPem, /IDENTITY_MISMATCH/],
      ['no clientAuth', (await ca.signCsr(csr, { clientAuth: false })).certPem, /NO_CLIENT_AUTH/],
      ['not a certificate', 'hello, not a certificate', /DECODE_FAILED/],
    ];
    const leaks = leakCheck([old.keyPem, pendingKeyPem('refuse/mtls')]);
    for (const [what, pem, code] of cases) {
      const r = await renew(['complete', '--source', ref('refuse/mtls'), '--cert', await certFile(pem)]);
      expect(r.code, what).toBe(1);
      expect(r.stderr, what).toMatch(code);
      leaks.checkText(r.stderr + r.stdout, what);
      expect(labelled('refuse/mtls', 'AWSPENDING')!.id, what).toBe(pendingVersion);
    }
    // The expected name can be given: the same certificate of another name is then accepted.
    const renamed = await ca.signCsr(csr, OTHER_NAME);
    const ok = await renew([
      'complete',
      '--source',
      ref('refuse/mtls'),
      '--cert',
      await certFile(renamed.certPem),
      '--client-id',
      'client-43',
    ]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('refuses promote of another version, rollback without a previous version, and complete without a pending one (exit 4)', async () => {
    seed('none/mtls');
    const complete = await renew([
      'complete',
      '--source',
      ref('none/mtls'),
      '--cert',
      await certFile(old.certPem),
    ]);
    expect(complete.code).toBe(4);
    expect(complete.stderr).toMatch(/SOURCE_NOT_FOUND.*no pending version.*renew start/);
    const rollback = await renew(['rollback', '--source', ref('none/mtls')]);
    expect(rollback.code).toBe(4);
    expect(rollback.stderr).toMatch(/SOURCE_NOT_FOUND.*no previous version/);
    const check = await checkPending('none/mtls');
    for (const r of [complete, rollback, check])
      leakCheck([old.keyPem]).checkText(r.stdout + r.stderr, 'refusal');
    expect(check.code).toBe(4);
    expect(check.stderr).toMatch(/no pending version/);

    const { csrPem } = await renewOf('none/mtls');
    const signed = await ca.signCsr(csrPem);
    expect(
      (await renew(['complete', '--source', ref('none/mtls'), '--cert', await certFile(signed.certPem)]))
        .code,
    ).toBe(0);
    const wrong = await renew(['promote', '--source', ref('none/mtls'), '--version', 'not-the-pending-one']);
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/SOURCE_NOT_FOUND.*not not-the-pending-one/);
    expect(labelled('none/mtls', 'AWSCURRENT')!.value).toContain('BEGIN');
    expect(JSON.parse(String(labelled('none/mtls', 'AWSCURRENT')!.value)).cert).toBe(old.fullChainPem);
  });

  it('refuses stores that cannot stage, and misused options (exit 2)', async () => {
    const files = await withFiles({ 'certificate.pem': old.certPem, 'private.key': old.keyPem });
    const cases: [string[], RegExp][] = [
      [['start', '--source', `file:${files}`], /INVALID_OPTION.*cannot hold a pending version/],
      [
        [
          'start',
          '--source',
          `aws-sm://?cert=a&key=b&region=eu-west-1&endpoint=${aws.url}`,
          '--client-id',
          'x',
        ],
        /INVALID_OPTION.*one secret holding the whole credential/,
      ],
      [
        ['start', '--source', `${ref('x')}&versionStage=AWSPENDING`, '--client-id', 'x'],
        /INVALID_OPTION.*staging label AWSPENDING/,
      ],
      [['finish', '--source', ref('x')], /Unknown step "finish"/],
      [['start', '--source', ref('x'), '--cert', 'c.pem'], /--cert does not go with renew start/],
      [['complete', '--source', ref('x')], /needs --cert FILE/],
      [['start', '--source', ref('x'), '--client-id', 'a', '--subject', 'CN=b'], /not both/],
    ];
    for (const [args, message] of cases) {
      const r = await renew(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      leakCheck([old.keyPem]).checkText(r.stdout + r.stderr, args.join(' '));
    }
  });

  it('renews a secret with no current credential yet when the name is given (first issue)', async () => {
    aws.putSecret('first/mtls', JSON.stringify({ note: 'placeholder' }), { stages: ['AWSPREVIOUS'] });
    const nameless = await renew(['start', '--source', ref('first/mtls')]);
    expect(nameless.code).toBe(4);
    expect(nameless.stderr).toMatch(/SOURCE_NOT_FOUND|no current certificate/);
    const start = await renew([
      'start',
      '--source',
      ref('first/mtls'),
      '--subject',
      'CN=first.example.com',
      '--san',
      'first.example.com',
      '--json',
    ]);
    expect(start.code, start.stderr).toBe(0);
    const signed = await ca.signCsr(JSON.parse(start.stdout).csr);
    const cert = await certFile(signed.certPem);
    const unnamed = await renew(['complete', '--source', ref('first/mtls'), '--cert', cert]);
    expect(unnamed.code).toBe(2);
    expect(unnamed.stderr).toMatch(/INVALID_OPTION.*say which name it must carry/);
    const named = await renew([
      'complete',
      '--source',
      ref('first/mtls'),
      '--cert',
      cert,
      '--subject',
      'CN=first.example.com',
      '--san',
      'DNS:first.example.com',
    ]);
    expect(named.code, named.stderr).toBe(0);
    expect((await renew(['promote', '--source', ref('first/mtls')])).code).toBe(0);
    const leaks = leakCheck([pendingKeyOfCurrent('first/mtls')]);
    for (const r of [nameless, start, unnamed, named])
      leaks.checkText(r.stdout + r.stderr, 'first issue output');
  });

  it('is listed in the help, with each step', async () => {
    const help = await cli(['renew', '--help']);
    expect(help.code).toBe(0);
    for (const step of ['start', 'complete', 'promote', 'rollback'])
      expect(help.stdout).toContain(`mtlskit renew ${step}`);
    expect((await cli(['--help'])).stdout).toMatch(/renew\s+Staged renewal/);
    expect((await cli(['check', '--help'])).stdout).toContain('--pending');
  });

  it('writes the key to disk only when asked (--key-out, mode 0600), and prints the CSR without --out', async () => {
    seed('keyout/mtls');
    const dir = await tempDir();
    const r = await renew([
      'start',
      '--source',
      ref('keyout/mtls'),
      '--key-out',
      join(dir, 'new.key'),
      '--client-id',
      'client-42',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    expect((await stat(join(dir, 'new.key'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, 'new.key'), 'utf8')).toBe(pendingKeyPem('keyout/mtls'));
    leakCheck([pendingKeyPem('keyout/mtls')]).checkText(r.stdout + r.stderr, 'start output');
  });
});

describe('@mtlskit/cli/renewal (library)', () => {
  it('runs the same steps on a source object; results and errors carry no key', async () => {
    seed('lib/mtls');
    const source = sourceOf('lib/mtls');
    try {
      const started = await startRenewal(source);
      expect(started.identity).toEqual({
        subject: [
          ['CN', DNS],
          ['O', 'Mangopay'],
          ['C', 'LU'],
        ],
        san: [`DNS:${DNS}`],
      });
      const secrets = [old.keyPem, pendingKeyPem('lib/mtls')];
      const leaks = leakCheck(secrets);
      leaks.check(started, 'startRenewal result');
      const incomplete = await loadPending(source).catch((e: unknown) => e);
      expect(MtlsError.is(incomplete, 'MISSING_FIELD')).toBe(true);
      leaks.check(incomplete, 'loadPending error');
      const signed = await ca.signCsr(started.csrPem);
      const completed = await completeRenewal(source, signed.fullChainPem);
      leaks.check(completed, 'completeRenewal result');
      expect(await loadPending(source)).toEqual({
        version: completed.version,
        certificate: completed.certificate,
      });
      // A resolver can read the pending version explicitly.
      const trial = createTlsResolver({ source: pendingSource(source), mode: 'on-access' });
      expect((await trial.credentials()).fingerprint256).toBe(signed.fingerprint256);
      await trial.close();
      const promoted = await promoteRenewal(source, { version: completed.version });
      leaks.check(promoted, 'promoteRenewal result');
      expect(promoted.current).toBe(completed.version);
      const back = await rollbackRenewal(source);
      expect(back).toEqual({ current: promoted.previous, previous: completed.version });
      const again = await promoteRenewal(source).catch((e: unknown) => e);
      expect(MtlsError.is(again, 'SOURCE_NOT_FOUND')).toBe(true);
      leaks.check(again, 'promote without pending');
    } finally {
      await source.close();
    }
  });
});

/** Starts a renewal of a fresh secret through the library (for a CSR of another key). */
async function renewOf(name: string) {
  seed(name);
  const source = sourceOf(name);
  try {
    return await startRenewal(source);
  } finally {
    await source.close();
  }
}

function pendingKeyOfCurrent(name: string): string {
  return JSON.parse(String(labelled(name, 'AWSCURRENT')!.value)).key as string;
}
