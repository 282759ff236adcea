// The fault matrix (issue 20): every source × every fault, through a real resolver. Each cell
//   1. makes the first load meet the fault: it must fail with the documented MtlsError code;
//   2. loads a good credential, makes a refresh meet the fault: the refresh fails with that code, the
//      last good credential keeps serving, health() is stale with the code and `refreshFailed`
//      reports it (docs/resolver.md, "When a refresh fails");
//   3. clears the fault: the resolver's own retry (no refresh() call) serves a good credential again.
// The adapters run their real vendor SDK over loopback against the testkit emulators, behind a TCP
// gate that can refuse connections (unreachable). No unhandled rejection may happen meanwhile.
// The observed table is docs/reliability.md's "Fault matrix": MTLSKIT_WRITE_DOCS=1 writes it,
// otherwise the committed table must equal what this run observed.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CredentialSource,
  createTlsResolver,
  envSource,
  fileSource,
  MtlsError,
  type MtlsErrorCode,
  type RefreshFailedEvent,
  type TlsResolver,
  withPassphrase,
} from '@mtlskit/core';
import {
  corruptValue,
  type FaultSpec,
  type IssuedCert,
  type LoopbackEmulator,
  TestCA,
  until,
} from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAwsHarness } from '../../packages/aws/src/__tests__/harness.js';
import { startAzureHarness } from '../../packages/azure/src/__tests__/harness.js';
import { emulatorClientOptions, startGcpHarness } from '../../packages/gcp/src/__tests__/harness.js';
import { ROOT_TOKEN, startVaultHarness } from '../../packages/vault/src/__tests__/harness.js';
import { vaultPkiSource } from '../../packages/vault/src/pki.js';
import {
  type Cell,
  committedMatrix,
  FAULTS,
  type Fault,
  JsonRewriter,
  type Observed,
  renderMatrix,
  TcpGate,
  writeMatrix,
} from './faults-support.js';

/** A source's own deadline per call; the resolver's is above it (the file and env sources have none). */
const SOURCE_TIMEOUT_MS = 1_000;
const RESOLVER = {
  refreshIntervalMs: 60_000,
  jitter: 0,
  loadTimeoutMs: 2_000,
  backoff: { initialMs: 100, maxMs: 400 },
};
const RECOVERY_MS = 15_000;

/** A good credential, with its key also encrypted under a passphrase of its own. */
interface Pair {
  cert: string;
  key: string;
  fingerprint256: string;
  passphrase: string;
  encryptedKey: string;
}

/** What a row stores: a certificate and key (perhaps a bad combination), and the encrypted form. */
interface Fields {
  cert: string;
  key: string;
  encryptedKey?: string;
  passphrase?: string;
}

interface Plan {
  /** The code docs/errors.md gives for this fault. */
  expect: MtlsErrorCode;
  apply(): unknown;
  /** Clears the fault; returns the credential the source now holds when clearing stored a new one. */
  clear(): Promise<Pair | undefined> | Pair | undefined;
}

interface Row {
  name: string;
  issuing?: boolean;
  /** A fresh source for one resolver of this fault's cell. */
  source(fault: Fault): CredentialSource;
  write(fields: Fields): unknown;
  faults: Record<Fault, Plan | string>;
  close(): Promise<unknown>;
}

let ca: TestCA;
const fieldsOf = (p: Pair): Fields => ({ ...p });

async function pair(validity: { notBefore?: Date; notAfter?: Date } = {}): Promise<Pair> {
  const issued: IssuedCert = await ca.issueClient({ commonName: 'fault matrix', ...validity });
  const passphrase = randomBytes(12).toString('base64url');
  const encryptedKey = createPrivateKey(issued.keyPem)
    .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase })
    .toString();
  return {
    cert: issued.fullChainPem,
    key: issued.keyPem,
    fingerprint256: issued.fingerprint256,
    passphrase,
    encryptedKey,
  };
}

const DAY = 86_400_000;
const expiredPair = () =>
  pair({ notBefore: new Date(Date.now() - 2 * DAY), notAfter: new Date(Date.now() - DAY) });

/** The faults every static row stores the same way: a bad credential written, a good one after it. */
function storedFaults(row: Pick<Row, 'write'>): Pick<Record<Fault, Plan>, 'mismatched' | 'expired'> {
  const thenGood = async () => {
    const good = await pair();
    await row.write(fieldsOf(good));
    return good;
  };
  return {
    mismatched: {
      expect: 'KEY_MISMATCH',
      apply: async () => {
        const [a, b] = [await pair(), await pair()];
        await row.write({
          ...fieldsOf(a),
          key: b.key,
          encryptedKey: b.encryptedKey,
          passphrase: b.passphrase,
        });
      },
      clear: thenGood,
    },
    expired: {
      expect: 'EXPIRED',
      apply: async () => row.write(fieldsOf(await expiredPair())),
      clear: thenGood,
    },
  };
}

/** An emulator fault on every call until cleared. */
function injected(emulator: LoopbackEmulator, spec: FaultSpec, expect: MtlsErrorCode): Plan {
  let fault: { clear(): void } | undefined;
  return {
    expect,
    apply: () => {
      fault = emulator.fail({ ...spec, times: Number.POSITIVE_INFINITY });
    },
    clear: () => {
      fault?.clear();
      return undefined;
    },
  };
}

/** The store's answers damaged in transit while a new version is there: recovery serves that version. */
function corruptedInTransit(
  row: Pick<Row, 'write'>,
  emulator: LoopbackEmulator,
  expect: MtlsErrorCode,
): Plan {
  let fault: { clear(): void } | undefined;
  let stored: Pair | undefined;
  return {
    expect,
    apply: async () => {
      stored = await pair();
      await row.write(fieldsOf(stored));
      fault = emulator.fail({ kind: 'corrupt', times: Number.POSITIVE_INFINITY });
    },
    clear: () => {
      fault?.clear();
      return stored;
    },
  };
}

function unreachable(gate: TcpGate): Plan {
  return {
    expect: 'SOURCE_UNAVAILABLE',
    apply: () => gate.down(),
    clear: async () => {
      await gate.up();
      return undefined;
    },
  };
}

/** The emulator faults every network row shows the same way. */
function networkFaults(
  emulator: LoopbackEmulator,
  gate: TcpGate,
): Pick<Record<Fault, Plan>, 'unreachable' | 'slow' | '403' | '404' | '429' | '5xx'> {
  return {
    unreachable: unreachable(gate),
    slow: injected(emulator, { kind: 'slow' }, 'SOURCE_UNAVAILABLE'),
    '403': injected(emulator, { kind: 'denied' }, 'ACCESS_DENIED'),
    '404': injected(emulator, { kind: 'notFound' }, 'SOURCE_NOT_FOUND'),
    '429': injected(emulator, { kind: 'throttled' }, 'THROTTLED'),
    '5xx': injected(emulator, { kind: 'serverError', status: 503 }, 'SOURCE_UNAVAILABLE'),
  };
}

// ---- local files: what can really go wrong with them -------------------------------------------

const scratch = mkdtempSync(join(tmpdir(), 'mtlskit-faults-'));
let scratchFiles = 0;

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.${scratchFiles++}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/**
 * A path whose open() blocks, as on a hung network mount: a FIFO nobody writes to. `release()` opens
 * its writing end once, so a read blocked on it ends (and the thread libuv lent it is freed).
 */
function hungPath(path: string): { release(): void } {
  const fifo = `${path}.${scratchFiles++}.fifo`;
  execFileSync('mkfifo', [fifo]);
  renameSync(fifo, path);
  return {
    release() {
      try {
        closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // ENXIO: nobody is blocked on it.
      }
    },
  };
}

/**
 * A path this process may not read. File modes stop any user but root; root (as in CI containers)
 * is refused by the kernel only for what its own rules forbid, so there the path is a symlink to a
 * write-only sysctl, which open() for reading refuses with EACCES even to root.
 */
const runsAsRoot = process.getuid?.() === 0;
function unreadable(path: string, content: string): void {
  rmSync(path, { force: true });
  if (runsAsRoot) symlinkSync('/proc/sys/vm/compact_memory', path);
  else {
    writeFileSync(path, content);
    chmodSync(path, 0o000);
  }
}

function envRow(): Row {
  const vars: Record<string, string | undefined> = {};
  const dir = join(scratch, 'env');
  execFileSync('mkdir', ['-p', dir]);
  const row: Row = {
    name: 'env (`env:`)',
    source: () => envSource({ env: vars, onWarning: () => {} }),
    write(f) {
      for (const name of Object.keys(vars)) delete vars[name];
      vars.MTLS_CERT = f.cert;
      vars.MTLS_KEY = f.key;
    },
    close: async () => {},
    faults: {
      ...storedFaults({ write: (f) => row.write(f) }),
      unreachable: 'the environment is the process’s own memory: there is nothing to reach',
      slow: (() => {
        let hung: { release(): void } | undefined;
        return {
          expect: 'SOURCE_UNAVAILABLE',
          apply: () => {
            const path = join(dir, `cert-${scratchFiles++}.pem`);
            hung = hungPath(path);
            vars.MTLS_CERT_FILE = path;
          },
          clear: () => {
            delete vars.MTLS_CERT_FILE;
            hung?.release();
            return undefined;
          },
        } satisfies Plan;
      })(),
      '403': {
        expect: 'ACCESS_DENIED',
        apply: () => {
          const path = join(dir, `key-${scratchFiles++}.pem`);
          unreadable(path, vars.MTLS_KEY ?? '');
          vars.MTLS_KEY_FILE = path;
        },
        clear: () => {
          delete vars.MTLS_KEY_FILE;
          return undefined;
        },
      },
      '404': {
        expect: 'SOURCE_NOT_FOUND',
        apply: () => {
          delete vars.MTLS_CERT;
          delete vars.MTLS_KEY;
        },
        clear: async () => {
          const good = await pair();
          row.write(fieldsOf(good));
          return good;
        },
      },
      '429': 'no service to rate-limit the calls',
      '5xx': 'no server that could fail',
      corrupt: {
        expect: 'DECODE_FAILED',
        apply: async () => {
          const p = await pair();
          row.write({ ...fieldsOf(p), cert: corruptValue(p.cert) });
        },
        clear: async () => {
          const good = await pair();
          row.write(fieldsOf(good));
          return good;
        },
      },
      'half-rotated': {
        expect: 'KEY_MISMATCH',
        // MTLS_CERT already the new certificate, MTLS_KEY still the old key.
        apply: async () => {
          vars.MTLS_CERT = (await pair()).cert;
        },
        clear: async () => {
          const good = await pair();
          row.write(fieldsOf(good));
          return good;
        },
      },
    },
  };
  return row;
}

function fileRow(): Row {
  const dir = join(scratch, 'file');
  execFileSync('mkdir', ['-p', dir]);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  let hung: { release(): void } | undefined;
  const thenGood = async () => {
    const good = await pair();
    row.write(fieldsOf(good));
    return good;
  };
  const row: Row = {
    name: 'file (`file:`)',
    source: () => fileSource({ cert, key, onWarning: () => {} }),
    write(f) {
      hung?.release();
      writeAtomically(key, f.key);
      writeAtomically(cert, f.cert);
    },
    close: async () => {
      hung?.release();
    },
    faults: {
      ...storedFaults({ write: (f) => row.write(f) }),
      unreachable:
        'a local path has no network; a network mount that stops answering blocks the read: the “slow” column',
      slow: {
        expect: 'SOURCE_UNAVAILABLE',
        apply: () => {
          hung = hungPath(cert);
        },
        clear: thenGood,
      },
      '403': {
        expect: 'ACCESS_DENIED',
        apply: () => unreadable(key, 'unreadable'),
        clear: thenGood,
      },
      '404': {
        expect: 'SOURCE_NOT_FOUND',
        apply: () => {
          rmSync(cert, { force: true });
          rmSync(key, { force: true });
        },
        clear: thenGood,
      },
      '429': 'no service to rate-limit the calls',
      '5xx': 'no server that could fail',
      corrupt: {
        expect: 'DECODE_FAILED',
        apply: async () => {
          const p = await pair();
          row.write({ ...fieldsOf(p), cert: corruptValue(p.cert) });
        },
        clear: thenGood,
      },
      'half-rotated': {
        expect: 'KEY_MISMATCH',
        // The writer (not an atomic one) has replaced the certificate, not yet the key.
        apply: async () => writeAtomically(cert, (await pair()).cert),
        clear: thenGood,
      },
    },
  };
  return row;
}

// ---- the vault adapters ----------------------------------------------------------------------------

const bundleOf = (f: Fields) => JSON.stringify({ cert: f.cert, key: f.key });
const encryptedBundleOf = (f: Fields) => JSON.stringify({ cert: f.cert, key: f.encryptedKey ?? f.key });

/** Half a rotation of a bundle whose passphrase lives in its own secret: the bundle is new, the passphrase not yet. */
function newBundleOldPassphrase(row: Row & { writeBundleOnly(f: Fields): unknown }): Plan {
  return {
    expect: 'WRONG_PASSPHRASE',
    apply: async () => row.writeBundleOnly(fieldsOf(await pair())),
    clear: async () => {
      const good = await pair();
      await row.write(fieldsOf(good));
      return good;
    },
  };
}

async function awsRow(): Promise<Row> {
  const aws = await startAwsHarness();
  const gate = await TcpGate.open(aws.emulator);
  const endpoint = `http://127.0.0.1:${gate.port}`;
  const row: Row = {
    name: 'AWS Secrets Manager (`aws-sm:`)',
    source: (fault) =>
      aws.source({
        endpoint,
        timeoutMs: SOURCE_TIMEOUT_MS,
        onWarning: () => {},
        // A half rotation needs fields in secrets of their own: cert=ID&key=ID.
        ...(fault === 'half-rotated'
          ? { secrets: { cert: 'mtls-cert', key: 'mtls-key' } }
          : { secretId: 'mtls' }),
      }),
    write(f) {
      aws.emulator.putSecret('mtls', bundleOf(f));
      aws.emulator.putSecret('mtls-cert', f.cert);
      aws.emulator.putSecret('mtls-key', f.key);
    },
    close: async () => {
      await aws.close();
      await gate.close();
    },
    faults: {
      ...networkFaults(aws.emulator, gate),
      ...storedFaults({ write: (f) => row.write(f) }),
      corrupt: corruptedInTransit({ write: (f) => row.write(f) }, aws.emulator, 'DECODE_FAILED'),
      'half-rotated': {
        expect: 'KEY_MISMATCH',
        apply: async () => aws.emulator.putSecret('mtls-cert', (await pair()).cert),
        clear: async () => {
          const good = await pair();
          row.write(fieldsOf(good));
          return good;
        },
      },
    },
  };
  return row;
}

/**
 * A row for a store that holds a bundle: `mtls` for every cell, and for the half-rotated one an
 * encrypted bundle whose passphrase sits in a secret of its own (Azure, Google, Vault KV). The store
 * is reached through `gate`; `corrupt` is the code a payload damaged in transit gives there.
 */
function bundleStoreRow(o: {
  name: string;
  emulator: LoopbackEmulator;
  gate: TcpGate;
  sources: { bundle(): CredentialSource; encrypted(): CredentialSource; passphrase(): CredentialSource };
  put: { bundle(f: Fields): unknown; encrypted(f: Fields): unknown; passphrase(f: Fields): unknown };
  corrupt: MtlsErrorCode;
  close(): Promise<unknown>;
}): Row {
  const row: Row & { writeBundleOnly(f: Fields): unknown } = {
    name: o.name,
    source: (fault) =>
      fault === 'half-rotated'
        ? withPassphrase(o.sources.encrypted(), o.sources.passphrase())
        : o.sources.bundle(),
    writeBundleOnly: (f) => o.put.encrypted(f),
    write(f) {
      o.put.bundle(f);
      o.put.encrypted(f);
      o.put.passphrase(f);
    },
    close: async () => {
      await o.close();
      await o.gate.close();
    },
    faults: {} as Row['faults'],
  };
  row.faults = {
    ...networkFaults(o.emulator, o.gate),
    ...storedFaults(row),
    corrupt: corruptedInTransit(row, o.emulator, o.corrupt),
    'half-rotated': newBundleOldPassphrase(row),
  };
  return row;
}

async function azureRow(): Promise<Row> {
  const azure = await startAzureHarness();
  const gate = await TcpGate.open(azure.emulator);
  const vaultUrl = `https://127.0.0.1:${gate.port}`;
  const source = (name: string) => () =>
    azure.source({ name, vaultUrl, timeoutMs: SOURCE_TIMEOUT_MS, maxRetries: 0 });
  return bundleStoreRow({
    name: 'Azure Key Vault (`azure-kv:`)',
    emulator: azure.emulator,
    gate,
    sources: {
      bundle: source('mtls'),
      encrypted: source('mtls-encrypted'),
      passphrase: source('mtls-passphrase'),
    },
    put: {
      bundle: (f) => azure.emulator.putSecret('mtls', bundleOf(f)),
      encrypted: (f) => azure.emulator.putSecret('mtls-encrypted', encryptedBundleOf(f)),
      passphrase: (f) => azure.emulator.putSecret('mtls-passphrase', f.passphrase ?? '-'),
    },
    corrupt: 'DECODE_FAILED',
    close: () => azure.close(),
  });
}

async function gcpRow(transport: 'grpc' | 'rest'): Promise<Row> {
  const gcp = await startGcpHarness(transport);
  const gate = await TcpGate.open({
    host: '127.0.0.1',
    port: transport === 'grpc' ? gcp.emulator.grpcPort : gcp.emulator.port,
  });
  const project = gcp.emulator.projectId;
  const source = (secret: string) => () =>
    gcp.source({
      name: `projects/${project}/secrets/${secret}`,
      clientOptions: { ...emulatorClientOptions(gcp.emulator, transport), port: gate.port },
      timeoutMs: SOURCE_TIMEOUT_MS,
    });
  return bundleStoreRow({
    name: `Google Secret Manager (\`gcp-sm:\`, ${transport === 'grpc' ? 'gRPC' : 'REST'})`,
    emulator: gcp.emulator,
    gate,
    sources: {
      bundle: source('mtls'),
      encrypted: source('mtls-encrypted'),
      passphrase: source('mtls-passphrase'),
    },
    put: {
      bundle: (f) => gcp.emulator.putSecret('mtls', bundleOf(f)),
      encrypted: (f) => gcp.emulator.putSecret('mtls-encrypted', encryptedBundleOf(f)),
      passphrase: (f) => gcp.emulator.putSecret('mtls-passphrase', f.passphrase ?? '-'),
    },
    // The payload's CRC32C still describes the original bytes.
    corrupt: 'INTEGRITY_FAILED',
    close: () => gcp.close(),
  });
}

async function vaultRow(): Promise<Row> {
  const vault = await startVaultHarness();
  const gate = await TcpGate.open(vault.emulator);
  const endpoint = `http://127.0.0.1:${gate.port}`;
  const source = (path: string, bundleField?: string) => () =>
    vault.source({ path, endpoint, timeoutMs: SOURCE_TIMEOUT_MS, ...(bundleField && { bundleField }) });
  return bundleStoreRow({
    name: 'Vault KV (`vault:`)',
    emulator: vault.emulator,
    gate,
    sources: {
      bundle: source('secret/mtls'),
      encrypted: source('secret/mtls-encrypted'),
      passphrase: source('secret/mtls-passphrase', 'passphrase'),
    },
    put: {
      bundle: (f) => vault.emulator.putSecret('secret/mtls', { cert: f.cert, key: f.key }),
      encrypted: (f) =>
        vault.emulator.putSecret('secret/mtls-encrypted', { cert: f.cert, key: f.encryptedKey ?? f.key }),
      passphrase: (f) =>
        vault.emulator.putSecret('secret/mtls-passphrase', { passphrase: f.passphrase ?? '-' }),
    },
    corrupt: 'DECODE_FAILED',
    close: () => vault.close(),
  });
}

async function vaultPkiRow(): Promise<Row> {
  const vault = await startVaultHarness();
  // client → gate (unreachable) → rewriter (answers that are wrong in content) → emulator
  const rewriter = await JsonRewriter.open(vault.emulator);
  const gate = await TcpGate.open({ host: '127.0.0.1', port: rewriter.port });
  vault.emulator.enablePki('pki', ca);
  vault.emulator.addPkiRole('pki', 'client', { maxTtl: 3600, notBeforeDuration: 0 });
  /** Answers to `pki/sign/…` get `certificate` from `make` (given the CSR sent); cleared by `clear()`. */
  const rewritten = (expect: MtlsErrorCode, make: (csr: string) => Promise<string>): Plan => ({
    expect,
    apply: () => {
      rewriter.rewrite = async (path, request, answer) => {
        if (!path.includes('/pki/sign/')) return answer;
        const csr = (request as { csr: string }).csr;
        const a = answer as { data: Record<string, unknown> };
        return { ...a, data: { ...a.data, certificate: await make(csr) } };
      };
    },
    clear: () => {
      rewriter.rewrite = undefined;
      return undefined;
    },
  });
  return {
    name: 'Vault PKI (`vault-pki:`, issuing)',
    issuing: true,
    source: () =>
      vault.own(
        vaultPkiSource({
          mount: 'pki',
          role: 'client',
          commonName: 'fault-matrix.example.com',
          endpoint: `http://127.0.0.1:${gate.port}`,
          auth: { method: 'token', token: ROOT_TOKEN, renew: false },
          timeoutMs: SOURCE_TIMEOUT_MS,
        }),
      ),
    write: () => {},
    close: async () => {
      await vault.close();
      await gate.close();
      await rewriter.close();
    },
    faults: {
      ...networkFaults(vault.emulator, gate),
      // A certificate answer cut short (a proxy, a dropped connection): the JSON does not parse.
      corrupt: injected(vault.emulator, { kind: 'malformed' }, 'SOURCE_UNAVAILABLE'),
      // Another request's answer (a replaying middlebox): a certificate of the same CA for another key.
      mismatched: rewritten(
        'KEY_MISMATCH',
        async () => (await ca.issueClient({ commonName: 'someone else' })).certPem,
      ),
      // Vault's clock behind by more than the TTL: the certificate for our key has already expired.
      expired: rewritten(
        'EXPIRED',
        async (csr) =>
          (
            await ca.signCsr(csr, {
              notBefore: new Date(Date.now() - 2 * DAY),
              notAfter: new Date(Date.now() - DAY),
            })
          ).certPem,
      ),
      'half-rotated':
        'nothing is stored: each load generates a key here and Vault signs it in the same answer, so there are no versions to mix',
    },
  };
}

// ---- the cell --------------------------------------------------------------------------------------

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'none';
  } catch (err) {
    if (process.env.MTLSKIT_FAULTS_VERBOSE === '1') process.stderr.write(`  ${String(err)}\n`);
    return err instanceof MtlsError ? err.code : `not an MtlsError: ${String(err)}`;
  }
}

function resolverOf(row: Row, fault: Fault): TlsResolver {
  return createTlsResolver({ source: row.source(fault), ...RESOLVER });
}

async function runCell(row: Row, fault: Fault, plan: Plan): Promise<Observed> {
  // 1. The first load meets the fault.
  await row.write(fieldsOf(await pair()));
  await plan.apply();
  const cold = resolverOf(row, fault);
  const first = await codeOf(cold.credentials());
  const coldHealth = cold.health();
  const firstReported = !coldHealth.ready && !coldHealth.stale && coldHealth.lastError?.code === first;
  await cold.close();
  await plan.clear();

  // 2. A refresh meets it.
  const good = await pair();
  await row.write(fieldsOf(good));
  const resolver = resolverOf(row, fault);
  let applied = false;
  try {
    // The resolver retries a failed first load itself: a client that saw the store unreachable a
    // moment ago may still be backing off (grpc-js keeps a failed subchannel down for a while).
    resolver.credentials().catch(() => {});
    await until(
      () => resolver.health().ready,
      `${row.name} ${fault}: the good credential loaded`,
      RECOVERY_MS,
    );
    const served = await resolver.credentials();
    if (!row.issuing)
      expect(served.fingerprint256, `${row.name} ${fault}: the good credential`).toBe(good.fingerprint256);
    const failures: RefreshFailedEvent[] = [];
    resolver.on('refreshFailed', (e) => failures.push(e));
    applied = true;
    await plan.apply();
    const refresh = await codeOf(resolver.refresh());
    const health = resolver.health();
    const kept =
      (await resolver.credentials()).fingerprint256 === served.fingerprint256 &&
      health.ready &&
      health.stale &&
      health.lastError?.code === refresh &&
      failures.some((e) => e.error.code === refresh && e.stale && e.fingerprint256 === served.fingerprint256);

    // 3. The fault clears: the resolver's next retry serves a good credential.
    const clearedAt = Date.now();
    applied = false;
    const stored = await plan.clear();
    const wanted = (fp: string | undefined) =>
      stored !== undefined
        ? fp === stored.fingerprint256
        : row.issuing
          ? fp !== undefined && fp !== served.fingerprint256
          : fp === served.fingerprint256;
    let recovered = true;
    await until(
      () => {
        const h = resolver.health();
        return (
          h.ready &&
          !h.stale &&
          h.lastError === undefined &&
          (h.lastRefreshAt?.getTime() ?? 0) >= clearedAt &&
          wanted(h.fingerprint256)
        );
      },
      `${row.name} ${fault}: recovery`,
      RECOVERY_MS,
    ).catch(() => {
      recovered = false;
    });
    return { first, firstReported, refresh, kept, recovered };
  } finally {
    await resolver.close();
    // A cell that failed half-way leaves no fault behind (a FIFO would hold a libuv thread).
    if (applied) await Promise.resolve(plan.clear()).catch(() => {});
  }
}

// ---- the suite -------------------------------------------------------------------------------------

const ROWS: Array<{ key: string; start: () => Row | Promise<Row> }> = [
  { key: 'env', start: envRow },
  { key: 'file', start: fileRow },
  { key: 'aws', start: awsRow },
  { key: 'azure', start: azureRow },
  { key: 'gcp', start: () => gcpRow('grpc') },
  { key: 'gcp-rest', start: () => gcpRow('rest') },
  { key: 'vault', start: vaultRow },
  { key: 'vault-pki', start: vaultPkiRow },
];

const results = new Map<string, { name: string; cells: Partial<Record<Fault, Cell>> }>();
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  ca = await TestCA.create({ commonName: 'fault matrix CA' });
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  rmSync(scratch, { recursive: true, force: true });
});

describe('fault matrix', () => {
  // Rows run side by side (each has its own emulator and gate); a row's cells run one after another.
  for (const { key, start } of ROWS) {
    it.concurrent(`${key}: each fault gives its code, keeps the last good credential and recovers`, async ({
      expect,
    }) => {
      const row = await start();
      const cells: Partial<Record<Fault, Cell>> = {};
      results.set(key, { name: row.name, cells });
      try {
        for (const fault of FAULTS) {
          const plan = row.faults[fault];
          if (typeof plan === 'string') {
            cells[fault] = { na: plan };
            continue;
          }
          const began = Date.now();
          const observed = await runCell(row, fault, plan);
          if (process.env.MTLSKIT_FAULTS_VERBOSE === '1')
            process.stderr.write(`${key} × ${fault}: ${JSON.stringify(observed)} ${Date.now() - began} ms\n`);
          cells[fault] = { observed };
          const where = `${key} × ${fault}`;
          expect.soft(observed.first, `${where}: first load`).toBe(plan.expect);
          expect.soft(observed.firstReported, `${where}: first load's error in health()`).toBe(true);
          expect.soft(observed.refresh, `${where}: refresh`).toBe(plan.expect);
          expect.soft(observed.kept, `${where}: last good credential kept and reported`).toBe(true);
          expect.soft(observed.recovered, `${where}: recovery once cleared`).toBe(true);
        }
      } finally {
        await row.close();
      }
    });
  }

  it('saw no unhandled rejection', () => {
    expect(unhandled.map(String)).toEqual([]);
  });

  it('docs/reliability.md shows the observed matrix', () => {
    const table = renderMatrix(ROWS.map(({ key }) => results.get(key) ?? { name: key, cells: {} }));
    if (process.env.MTLSKIT_WRITE_DOCS === '1') writeMatrix(table);
    expect(committedMatrix(), 'run MTLSKIT_WRITE_DOCS=1 npx vitest run --project hardening faults').toBe(
      table.trim(),
    );
  });
});
