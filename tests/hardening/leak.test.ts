// The secret-leak scan: one set of recognisable secrets (a private key, its passphrase, a wrong
// passphrase, a Vault token, an Azure client secret, an AWS secret access key, a GCP access token)
// put through every public path that shows something to a user, a log or a collector — errors
// (message, cause chain, stack, inspect, JSON), resolver events, health(), util.inspect and JSON of
// the resolver, its sources, credentials, agent and dispatcher (with live sockets),
// diagnostics_channel messages, OpenTelemetry spans and metric attributes, the CLI's output, and
// NODE_DEBUG=tls,https,http,net of the CLI's handshake — and searched for in every form testkit's
// leakCheck knows (exact, Base64 at any alignment, hex, percent- and JSON-escaped, PEM lines, DER).
// Zero occurrences. What each path is, and what is left out on purpose (`encode`, `tlsOptions()`,
// the loaded material itself), is listed in docs/reliability.md, "Leak scan".
import { spawn } from 'node:child_process';
import diagnostics_channel from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ClientSecretCredential } from '@azure/identity';
import {
  type CredentialSource,
  createTlsResolver,
  envSource,
  type MtlsError,
  type TlsResolver,
} from '@mtlskit/core';
import {
  type IssuedCert,
  leakCheck,
  type MtlsTestServer,
  startMtlsServer,
  startVaultEmulator,
  TestCA,
  until,
  type VaultEmulator,
} from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAwsHarness } from '../../packages/aws/src/__tests__/harness.js';
import { startAzureHarness } from '../../packages/azure/src/__tests__/harness.js';
import { gax, startGcpHarness } from '../../packages/gcp/src/__tests__/harness.js';
import { startVaultHarness } from '../../packages/vault/src/__tests__/harness.js';

/** Recognisable values: any of them found anywhere below, in any encoding, is a leak. */
const SECRETS = {
  passphrase: 'leakscan-Passphrase-Vv8!q',
  wrongPassphrase: 'leakscan-WrongPassphrase-3Zt',
  vaultToken: 'hvs.LEAKSCANvaultToken0123456789',
  azureClientSecret: 'leakscan~AzureClientSecret.0123456789',
  awsSecretAccessKey: 'leakscanAwsSecretAccessKey/0123456789ABCD',
  gcpToken: 'ya29.LeakScanGcpAccessToken_0123456789',
};

// OpenTelemetry's SDK is a dev dependency of core (what its telemetry tests read with), not of tests/:
// loaded from core's place, and typed here by what this file uses of it.
interface MetricReaderLike {
  collect(): Promise<{
    resourceMetrics: {
      scopeMetrics: Array<{
        metrics: Array<{ descriptor: { name: string }; dataPoints: Array<{ attributes: object }> }>;
      }>;
    };
  }>;
}
interface OtelSdk {
  MetricReader: abstract new () => MetricReaderLike;
  MeterProvider: new (options: {
    readers: MetricReaderLike[];
  }) => { getMeter(name: string): unknown; shutdown(): Promise<void> };
  InMemorySpanExporter: new () => {
    getFinishedSpans(): Array<{ name: string; attributes: object; events: object[]; status: object }>;
  };
  SimpleSpanProcessor: new (exporter: object) => object;
  BasicTracerProvider: new (options: {
    spanProcessors: object[];
  }) => { getTracer(name: string): unknown; shutdown(): Promise<void> };
}
const requireFromCore = createRequire(new URL('../../packages/core/package.json', import.meta.url));
const otel = {
  ...requireFromCore('@opentelemetry/sdk-metrics'),
  ...requireFromCore('@opentelemetry/sdk-trace-base'),
} as OtelSdk;

const CHANNELS = [
  ...['start', 'end', 'asyncStart', 'asyncEnd', 'error'].map((s) => `tracing:mtlskit:credential:load:${s}`),
  'mtlskit:credential:rotated',
  'mtlskit:credential:expiring',
  'mtlskit:credential:refreshFailed',
];

let ca: TestCA;
let alice: IssuedCert;
let bob: IssuedCert;
let server: MtlsTestServer;
let check: ReturnType<typeof leakCheck>;
/** What was scanned, by path: the figures docs/reliability.md gives. */
const scanned = new Map<string, number>();

function scan(path: string, value: unknown, where = path): void {
  check.check(value, where);
  scanned.set(path, (scanned.get(path) ?? 0) + 1);
}

function scanText(path: string, text: string, where = path): void {
  check.checkText(text, where);
  scanned.set(path, (scanned.get(path) ?? 0) + 1);
}

/** The error a promise rejects with (fails when it resolves). */
async function rejection(p: Promise<unknown>): Promise<MtlsError> {
  try {
    await p;
  } catch (err) {
    return err as MtlsError;
  }
  throw new Error('expected a rejection');
}

/** An error and everything along its cause chain, and its stack, scanned. */
function scanError(path: string, err: unknown): void {
  scan(path, err);
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (typeof e.stack === 'string') scanText(path, e.stack, `${path} (stack at depth ${depth})`);
  }
}

beforeAll(async () => {
  ca = await TestCA.create({ commonName: 'leak scan CA' });
  [alice, bob] = await Promise.all([
    ca.issueClient({ commonName: 'alice', keyType: 'rsa2048' }),
    // Nine of its ten days gone: inside the warning window (a third of its lifetime), so `expiring`.
    ca.issueClient({
      commonName: 'bob',
      keyType: 'ec-p256',
      notBefore: new Date(Date.now() - 9 * 86_400_000),
      notAfter: new Date(Date.now() + 86_400_000),
    }),
  ]);
  check = leakCheck([
    ...Object.values(SECRETS),
    alice.keyPem,
    alice.traditionalKeyPem(),
    alice.encryptedPkcs8Pem(SECRETS.passphrase),
    bob.keyPem,
  ]);
  server = await startMtlsServer({ clientCa: ca });
}, 60_000);

afterAll(async () => {
  await server?.close();
  const lines = [...scanned].map(([path, n]) => `  ${path}: ${n} values scanned`);
  console.log(
    `leak scan: ${[...scanned.values()].reduce((a, b) => a + b, 0)} values, 0 leaks\n${lines.join('\n')}`,
  );
});

describe('a resolver: events, health, inspect and JSON of everything it hands out, channels, OpenTelemetry', () => {
  it('shows no secret through a first load, a rotation, an expiring certificate and a failed refresh', async () => {
    const env: Record<string, string> = {
      MTLS_CERT: alice.fullChainPem,
      MTLS_KEY: alice.encryptedPkcs8Pem(SECRETS.passphrase),
      MTLS_PASSPHRASE: SECRETS.passphrase,
      MTLS_CA: server.caPem,
      // What a process environment also holds: nothing may copy it out.
      VAULT_TOKEN: SECRETS.vaultToken,
      AZURE_CLIENT_SECRET: SECRETS.azureClientSecret,
      AWS_SECRET_ACCESS_KEY: SECRETS.awsSecretAccessKey,
    };
    const messages: Array<[string, unknown]> = [];
    const listeners = CHANNELS.map((name) => {
      const listener = (message: unknown) => messages.push([name, structuredClone(message)]);
      diagnostics_channel.subscribe(name, listener);
      return [name, listener] as const;
    });
    const reader = new (class extends otel.MetricReader {
      protected async onForceFlush(): Promise<void> {}
      protected async onShutdown(): Promise<void> {}
    })();
    const meterProvider = new otel.MeterProvider({ readers: [reader] });
    const spans = new otel.InMemorySpanExporter();
    const tracerProvider = new otel.BasicTracerProvider({
      spanProcessors: [new otel.SimpleSpanProcessor(spans)],
    });
    const source: CredentialSource = envSource({ env });
    const r: TlsResolver = createTlsResolver({
      name: 'leakscan',
      source,
      meterProvider,
      tracerProvider,
    });
    const events: Array<[string, unknown]> = [];
    for (const name of ['rotated', 'expiring', 'refreshFailed'] as const) {
      r.on(name, (e: unknown) => events.push([name, e]));
    }
    try {
      // A request through each output, so the agent and the dispatcher hold live TLS sockets.
      const first = await r.fetch(`${server.url}/leakscan`);
      expect(first.status).toBe(200);
      await first.text();
      const viaAgent = await new Promise<number>((resolve, reject) => {
        import('node:https').then(({ default: https }) =>
          https
            .get(`${server.url}/leakscan-agent`, { agent: r.agent() }, (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            })
            .on('error', reject),
        );
      });
      expect(viaAgent).toBe(200);
      const scanOutputs = async (stage: string) => {
        scan('resolver (inspect, JSON)', r, `the resolver ${stage}`);
        scan('credentials', await r.credentials(), `credentials() ${stage}`);
        scan('secureContext', await r.secureContext(), `secureContext() ${stage}`);
        scan('agent (with live sockets)', r.agent(), `agent() ${stage}`);
        scan('dispatcher (with live sockets)', r.dispatcher(), `dispatcher() ${stage}`);
        scan('health()', r.health(), `health() ${stage}`);
        scan('source', source, `the env: source ${stage}`);
      };
      await scanOutputs('after the first load');

      // A rotation to a certificate inside its warning window: `rotated` and `expiring`.
      Object.assign(env, { MTLS_CERT: bob.fullChainPem, MTLS_KEY: bob.keyPem, MTLS_PASSPHRASE: '' });
      delete env.MTLS_PASSPHRASE;
      await r.refresh();
      await until(() => events.some(([name]) => name === 'expiring'), 'the expiring event', 10_000);
      // A failed refresh: the key encrypted, the passphrase wrong.
      Object.assign(env, {
        MTLS_CERT: alice.fullChainPem,
        MTLS_KEY: alice.encryptedPkcs8Pem(SECRETS.passphrase),
        MTLS_PASSPHRASE: SECRETS.wrongPassphrase,
      });
      const failed = await rejection(r.refresh());
      expect(failed.code).toBe('WRONG_PASSPHRASE');
      scanError('errors (message, cause chain, stack, inspect, JSON)', failed);
      await scanOutputs('after a rotation and a failed refresh');

      expect(events.map(([name]) => name)).toEqual(
        expect.arrayContaining(['rotated', 'expiring', 'refreshFailed']),
      );
      for (const [name, payload] of events) scan(`events (${name})`, payload, `the ${name} event`);
      expect(messages.length).toBeGreaterThan(0);
      for (const [name, message] of messages)
        scan('diagnostics_channel messages', message, `a message on ${name}`);
      const finished = spans.getFinishedSpans();
      expect(finished.length).toBeGreaterThan(0);
      for (const span of finished) {
        scan(
          'OpenTelemetry spans',
          { name: span.name, attributes: span.attributes, events: span.events, status: span.status },
          `span ${span.name}`,
        );
      }
      const { resourceMetrics } = await reader.collect();
      const points = resourceMetrics.scopeMetrics.flatMap((s) =>
        s.metrics.flatMap((m) =>
          m.dataPoints.map((p) => ({ metric: m.descriptor.name, attributes: p.attributes })),
        ),
      );
      expect(points.length).toBeGreaterThan(0);
      for (const point of points) scan('OpenTelemetry metric attributes', point, `a ${point.metric} point`);

      // Closed: the CLOSED error too.
      await r.close();
      scanError('errors (message, cause chain, stack, inspect, JSON)', await rejection(r.credentials()));

      // V8 keeps the last regular expression match's subject in RegExp.input (and $_, lastMatch…),
      // readable by any module: decoding must not leave a key's Base64 or a passphrase there.
      const statics = RegExp as unknown as Record<string, string>;
      for (const name of ['input', 'lastMatch', 'leftContext', 'rightContext', 'lastParen'])
        scanText('RegExp.input and the other legacy statics', String(statics[name]), `RegExp.${name}`);
    } finally {
      for (const [name, listener] of listeners) diagnostics_channel.unsubscribe(name, listener);
      await r.close();
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
    }
  }, 60_000);
});

describe('the adapters: sources holding vendor credentials, and the errors their vendors answer', () => {
  it('AWS Secrets Manager: the secret access key is in no error and no inspect of the source', async () => {
    const h = await startAwsHarness();
    try {
      h.emulator.putSecret('leakscan/mtls', JSON.stringify({ cert: alice.fullChainPem, key: alice.keyPem }));
      const source = h.source({
        secretId: 'leakscan/mtls',
        credentials: { accessKeyId: 'AKIDLEAKSCAN', secretAccessKey: SECRETS.awsSecretAccessKey },
      });
      await source.load({});
      scan('sources (inspect, JSON)', source, 'the aws-sm source after a load');
      for (const fault of ['denied', 'throttled', 'serverError', 'notFound', 'malformed'] as const) {
        h.emulator.fail(fault);
        scanError('errors (message, cause chain, stack, inspect, JSON)', await rejection(source.load({})));
      }
      const r = createTlsResolver({ source, mode: 'on-access' });
      h.emulator.fail('denied');
      scanError('errors (message, cause chain, stack, inspect, JSON)', await rejection(r.credentials()));
      scan('resolver (inspect, JSON)', r, 'a resolver on aws-sm');
      await r.close();
    } finally {
      await h.close();
    }
  }, 60_000);

  it('HashiCorp Vault: the token is in no error and no inspect of the source', async () => {
    const h = await startVaultHarness({ rootToken: SECRETS.vaultToken });
    try {
      h.emulator.putSecret('secret/leakscan', { cert: alice.fullChainPem, key: alice.keyPem });
      const source = h.source({
        path: 'secret/leakscan',
        auth: { method: 'token', token: SECRETS.vaultToken, renew: false },
      });
      await source.load({});
      scan('sources (inspect, JSON)', source, 'the vault source after a load');
      for (const fault of ['denied', 'throttled', 'serverError', 'notFound', 'malformed'] as const) {
        h.emulator.fail(fault);
        scanError('errors (message, cause chain, stack, inspect, JSON)', await rejection(source.load({})));
      }
    } finally {
      await h.close();
    }
  }, 60_000);

  it('Azure Key Vault: a client secret credential whose token request fails shows the secret nowhere', async () => {
    const h = await startAzureHarness();
    try {
      // A real ClientSecretCredential, its authority on loopback where nothing answers as Entra ID.
      const credential = new ClientSecretCredential(
        'leakscan-tenant',
        'leakscan-client',
        SECRETS.azureClientSecret,
        {
          authorityHost: h.emulator.url,
          disableInstanceDiscovery: true,
          additionallyAllowedTenants: ['*'],
        },
      );
      const source = h.source({ name: 'leakscan', credential, maxRetries: 0 });
      const failed = await rejection(source.load({}));
      expect(['ACCESS_DENIED', 'SOURCE_UNAVAILABLE']).toContain(failed.code);
      scanError('errors (message, cause chain, stack, inspect, JSON)', failed);
      scan('sources (inspect, JSON)', source, 'the azure-kv source with a client secret credential');
      // The credential object itself is the Azure SDK's (it keeps clientSecret as a property): not scanned.
    } finally {
      await h.close();
    }
  }, 60_000);

  it('Google Secret Manager: the access token is in no error and no inspect of the source', async () => {
    const h = await startGcpHarness('rest');
    try {
      h.emulator.putSecret(
        'projects/leakscan-project/secrets/leakscan',
        JSON.stringify({ cert: alice.fullChainPem, key: alice.keyPem }),
      );
      const auth = new (
        gax.googleAuthLibrary as unknown as { OAuth2Client: new () => { setCredentials(c: object): void } }
      ).OAuth2Client();
      auth.setCredentials({ access_token: SECRETS.gcpToken, expiry_date: Date.now() + 3_600_000 });
      const source = h.source({
        name: 'projects/leakscan-project/secrets/leakscan',
        clientOptions: h.emulator.clientOptions('rest', auth) as never,
      });
      for (const fault of ['denied', 'notFound', 'serverError'] as const) {
        h.emulator.fail(fault);
        scanError('errors (message, cause chain, stack, inspect, JSON)', await rejection(source.load({})));
      }
      scan('sources (inspect, JSON)', source, 'the gcp-sm source with an OAuth2 token');
    } finally {
      await h.close();
    }
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// The CLI, as installed: the built binary in a child process.

const bin = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function mtlskit(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      // From tests/, whose node_modules hold the adapters, as an application's would.
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { PATH: process.env.PATH ?? '', NO_PROXY: '127.0.0.1,localhost', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the CLI: the output of each command, succeeding and failing', () => {
  let vault: VaultEmulator;
  const base = () => ({
    MTLS_CERT: alice.fullChainPem,
    MTLS_KEY: alice.encryptedPkcs8Pem(SECRETS.passphrase),
    MTLS_PASSPHRASE: SECRETS.passphrase,
    MTLS_CA: server.caPem,
    VAULT_ADDR: vault.url,
    VAULT_TOKEN: SECRETS.vaultToken,
    AZURE_CLIENT_SECRET: SECRETS.azureClientSecret,
    AWS_SECRET_ACCESS_KEY: SECRETS.awsSecretAccessKey,
  });

  beforeAll(async () => {
    vault = await startVaultEmulator({ rootToken: SECRETS.vaultToken });
  });
  afterAll(async () => {
    await vault?.close();
  });

  async function run(
    label: string,
    args: string[],
    env: Record<string, string>,
    expected: number[],
  ): Promise<Run> {
    const result = await mtlskit(args, env);
    expect(expected, `${label}: exit ${result.code}\n${result.stderr.slice(0, 400)}`).toContain(result.code);
    scanText(`CLI output (${label})`, result.stdout, `mtlskit ${label} stdout`);
    scanText(`CLI output (${label})`, result.stderr, `mtlskit ${label} stderr`);
    return result;
  }

  it('inspect, inspect --json, check, put and renew show no secret, succeeding or failing', async () => {
    await run('inspect', ['inspect', '--source', 'env:'], base(), [0, 3]);
    const json = await run('inspect --json', ['inspect', '--source', 'env:', '--json'], base(), [0, 3]);
    expect(() => JSON.parse(json.stdout)).not.toThrow();
    await run(
      'inspect, wrong passphrase',
      ['inspect', '--source', 'env:'],
      { ...base(), MTLS_PASSPHRASE: SECRETS.wrongPassphrase },
      [1],
    );
    await run(
      'inspect --json, wrong passphrase',
      ['inspect', '--json'],
      { ...base(), MTLS_PASSPHRASE: SECRETS.wrongPassphrase },
      [1],
    );
    await run('check', ['check', '--url', `${server.url}/cli`, '--source', 'env:'], base(), [0]);
    // Failing: a server that does not trust the certificate's CA.
    const other = await startMtlsServer({ clientCa: await TestCA.create({ commonName: 'another CA' }) });
    try {
      await run(
        'check, refused',
        ['check', '--url', `${other.url}/cli`, '--source', 'env:'],
        { ...base(), MTLS_CA: other.caPem },
        [1, 4, 5, 6],
      );
      // NODE_DEBUG of the CLI's own agent through the handshake the server refuses.
      const debug = await run(
        'check with NODE_DEBUG=tls,https,http,net',
        ['check', '--url', `${other.url}/cli`, '--source', 'env:'],
        { ...base(), MTLS_CA: other.caPem, NODE_DEBUG: 'tls,https,http,net' },
        [1, 4, 5, 6],
      );
      // The debug output really was on, and covered the connection and the handshake.
      expect(debug.stderr).toMatch(/^TLS \d+: client/m);
      expect(debug.stderr).toMatch(/^NET \d+: /m);
    } finally {
      await other.close();
    }
    await run(
      'put',
      ['put', 'vault://secret/leakscan', '--source', 'env:', '--passphrase-env', 'MTLS_PASSPHRASE'],
      base(),
      [0],
    );
    vault.fail({ kind: 'denied', times: 50 });
    await run(
      'put, denied',
      ['put', 'vault://secret/leakscan', '--source', 'env:', '--passphrase-env', 'MTLS_PASSPHRASE', '--json'],
      base(),
      [4],
    );
    await run(
      'renew start, denied',
      ['renew', 'start', '--source', 'vault://secret/leakscan'],
      base(),
      [2, 4],
    );
    await run(
      'renew promote, denied',
      ['renew', 'promote', '--source', 'vault://secret/leakscan', '--json'],
      base(),
      [2, 4],
    );
  }, 120_000);
});
