// docs/troubleshooting.md quotes the errors users see. Each quote sits in a ```text block under a
// `<!-- seen: ID -->` marker (optionally `; mtlskit: CODE`); this file makes each of those errors for
// real — a real client (node:https, undici's fetch, tls.createSecureContext) against a real server
// (the testkit's node:https mTLS server, or `openssl s_server`, which sends TLS alerts the way nginx
// does) — and checks that every error this Node prints matches a line of the block, so the page
// cannot drift when Node or OpenSSL change their wording (CI runs it on Node 20, 22 and 24). When
// the marker names an mtlskit code, the same credential given to loadCredentials must be refused
// with that code, and `mtlskit: READS` means loadCredentials accepts it: the page's claims about
// mtlskit are checked too.
//
// A block line is `CODE  MESSAGE` (two spaces or more between them; `(no code)` when Node sets none),
// optionally followed by `  # comment`; `…` in MESSAGE stands for any text. Messages are compared whole, after trimming. To see what a Node
// version prints: MTLSKIT_PRINT_SEEN=1 npx vitest run --project e2e tests/docs/troubleshooting.test.ts
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { type CredentialMaterial, inlineSource, loadCredentials, MtlsError } from '@mtlskit/core';
import {
  hasOpenssl,
  httpsRequest,
  type IssuedCert,
  type MtlsTestServer,
  opensslPath,
  runOpenssl,
  startMtlsServer,
  TestCA,
} from '@mtlskit/testkit';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const page = readFileSync(fileURLToPath(new URL('../../docs/troubleshooting.md', import.meta.url)), 'utf8');

interface Quote {
  id: string;
  mtlskitCode: string | undefined;
  lines: { code: string; message: string }[];
}

function quotes(markdown: string): Map<string, Quote> {
  const found = new Map<string, Quote>();
  const marker = /<!-- seen: ([a-z0-9-]+)(?:; mtlskit: ([A-Z_]+))? -->\s*\n```text\n([\s\S]*?)\n```/g;
  for (const [, id = '', mtlskitCode, body = ''] of markdown.matchAll(marker)) {
    const lines = body
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const [, code = '', message = ''] =
          /^(\(no code\)|\S+)\s{2,}(.*?)(?:\s{2,}#\s.*)?$/.exec(l.trim()) ?? [];
        return { code, message };
      });
    found.set(id, { id, mtlskitCode, lines });
  }
  return found;
}

function matches(line: { code: string; message: string }, err: { code?: unknown; message: string }): boolean {
  const code = typeof err.code === 'string' ? err.code : '(no code)';
  const pattern = line.message
    .split('…')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[\\s\\S]*');
  return line.code === code && new RegExp(`^${pattern}$`).test(err.message.trim());
}

/** What one client printed, as the page quotes it (fetch's `TypeError: fetch failed` is unwrapped). */
interface Seen {
  client: string;
  code?: unknown;
  message: string;
}

async function failure(client: string, attempt: () => Promise<unknown>): Promise<Seen> {
  try {
    await attempt();
  } catch (caught) {
    type Failure = Error & { code?: unknown };
    const thrown = caught as Failure;
    const err =
      client === 'fetch' && thrown instanceof TypeError && thrown.message === 'fetch failed'
        ? ((thrown.cause as Failure | undefined) ?? thrown)
        : thrown;
    return { client, code: err.code, message: err.message };
  }
  throw new Error(`${client}: the request succeeded; the case does not reproduce the failure`);
}

function contextFailure(options: SecureContextOptions): Seen {
  try {
    createSecureContext(options);
  } catch (caught) {
    const err = caught as Error & { code?: unknown };
    return { client: 'tls.createSecureContext', code: err.code, message: err.message };
  }
  throw new Error('tls.createSecureContext accepted the options; the case does not reproduce the failure');
}

type Tls = { cert?: string; key?: string; ca?: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3' };

/** The same request through node:https and undici's fetch (the resolver's two families of clients). */
function bothClients(url: string, tls: Tls): Promise<Seen>[] {
  const agent = new Agent({ connect: { ...tls } });
  return [
    failure('node:https', () => httpsRequest(url, { ...tls })),
    failure('fetch', () => fetch(url, { dispatcher: agent }).finally(() => agent.close())),
  ];
}

const tls = (c: IssuedCert, extra: Tls = {}): Tls => ({ cert: c.fullChainPem, key: c.keyPem, ...extra });

let dir: string;
let clientCa: TestCA;
let client: IssuedCert;
let strangerCert: IssuedCert; // from a CA no server here trusts
let expired: IssuedCert;
let noClientAuth: IssuedCert;
let ecClient: IssuedCert;
let serverCa: TestCA;
let node13: MtlsTestServer;
let node12: MtlsTestServer;
const cleanup: (() => unknown)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mtlskit-troubleshooting-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  clientCa = await TestCA.create();
  client = await clientCa.issueClient({ keyType: 'rsa2048' });
  strangerCert = await (await TestCA.create({ commonName: 'another CA' })).issueClient();
  expired = await clientCa.issueClient({ notAfter: new Date(Date.now() - 86_400_000) });
  noClientAuth = await clientCa.issueClient({ clientAuth: false });
  ecClient = await clientCa.issueClient({ keyType: 'ec-p256' });
  serverCa = await TestCA.create({ commonName: 'server CA' });
  node13 = await startMtlsServer({ clientCa, serverCa });
  node12 = await startMtlsServer({ clientCa, serverCa, maxVersion: 'TLSv1.2' });
  cleanup.push(
    () => node13.close(),
    () => node12.close(),
  );
});

afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

/** `openssl s_server` verifying client certificates against clientCa: it answers refusals with TLS alerts. */
async function opensslServer(): Promise<string> {
  const server = await serverCa.issueServer();
  writeFileSync(join(dir, 'server.pem'), server.fullChainPem);
  writeFileSync(join(dir, 'server.key'), server.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'client-ca.pem'), clientCa.rootPem);
  const openssl = opensslPath();
  if (openssl === undefined) throw new Error('the openssl CLI is needed for this case');
  const child: ChildProcess = spawn(
    openssl,
    [
      's_server',
      '-accept',
      '127.0.0.1:0',
      '-cert',
      join(dir, 'server.pem'),
      '-key',
      join(dir, 'server.key'),
      '-CAfile',
      join(dir, 'client-ca.pem'),
      '-Verify',
      '3',
      '-verify_return_error',
      '-www',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  cleanup.push(() => child.kill());
  const port = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const accept = /ACCEPT 127\.0\.0\.1:(\d+)/.exec(out);
      if (accept?.[1]) resolve(accept[1]);
    });
    child.on('exit', (code) => reject(new Error(`openssl s_server exited (${code}): ${out}`)));
  });
  return `https://127.0.0.1:${port}/`;
}

/** A server presenting a self-signed certificate (made by the openssl CLI: TestCA keeps its keys). */
async function selfSignedServer(): Promise<string> {
  await runOpenssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-days',
    '1',
    '-keyout',
    join(dir, 'self.key'),
    '-out',
    join(dir, 'self.pem'),
  ]);
  const server = createHttpsServer({
    cert: readFileSync(join(dir, 'self.pem')),
    key: readFileSync(join(dir, 'self.key')),
  });
  server.on('request', (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

/** The client's key encrypted with PBES1 MD5-DES, as OpenSSL 1.x and old Java tools wrote keys. */
async function desKey(): Promise<string> {
  const { stdout } = await runOpenssl(
    [
      'pkcs8',
      '-topk8',
      '-v1',
      'PBE-MD5-DES',
      '-provider',
      'legacy',
      '-provider',
      'default',
      '-passout',
      'env:P',
    ],
    { env: { P: 'the passphrase' }, input: client.keyPem },
  );
  return stdout;
}

interface Case {
  /** The failing attempts, each with the client that made it. */
  seen: () => Promise<Seen[]>;
  /** The credential involved, when mtlskit can judge it before any connection. */
  material?: () => CredentialMaterial | Promise<CredentialMaterial>;
  openssl?: true;
}

const b64 = (text: string) => Buffer.from(text).toString('base64');
let sServer: Promise<string> | undefined;
const sServerUrl = () => {
  sServer ??= opensslServer();
  return sServer;
};

const CASES: Record<string, Case> = {
  'certificate-required': {
    // An EC key with an RSA certificate: the context builds, and the client then sends no certificate.
    seen: async () =>
      Promise.all([
        ...bothClients(node13.url, { cert: client.certPem, key: ecClient.keyPem, ca: node13.caPem }),
        ...bothClients(node13.url, { ca: node13.caPem }),
      ]),
    material: () => ({ cert: client.certPem, key: ecClient.keyPem }),
  },
  'handshake-failure': {
    seen: async () => Promise.all(bothClients(node12.url, { ca: node12.caPem })),
  },
  'unknown-ca': {
    openssl: true,
    seen: async () => {
      const url = await sServerUrl();
      return Promise.all([
        ...bothClients(url, tls(strangerCert, { ca: serverCa.rootPem })),
        ...bothClients(url, tls(strangerCert, { ca: serverCa.rootPem, maxVersion: 'TLSv1.2' })),
      ]);
    },
  },
  'certificate-expired': {
    openssl: true,
    seen: async () => {
      const url = await sServerUrl();
      return Promise.all([
        ...bothClients(url, tls(expired, { ca: serverCa.rootPem })),
        ...bothClients(url, tls(expired, { ca: serverCa.rootPem, maxVersion: 'TLSv1.2' })),
      ]);
    },
    material: () => ({ cert: expired.certPem, key: expired.keyPem }),
  },
  'unsupported-certificate': {
    openssl: true,
    seen: async () =>
      Promise.all(bothClients(await sServerUrl(), tls(noClientAuth, { ca: serverCa.rootPem }))),
    material: () => ({ cert: noClientAuth.certPem, key: noClientAuth.keyPem }),
  },
  'connection-reset': {
    // Node's server (like many) checks the client certificate after the handshake and just hangs up.
    seen: async () =>
      Promise.all([
        ...bothClients(node13.url, tls(strangerCert, { ca: node13.caPem })),
        ...bothClients(node12.url, tls(expired, { ca: node12.caPem })),
      ]),
  },
  'cert-has-expired': {
    seen: async () => {
      const server = await startMtlsServer({
        clientCa,
        server: await serverCa.issueServer({ notAfter: new Date(Date.now() - 86_400_000) }),
      });
      cleanup.push(() => server.close());
      return Promise.all(bothClients(server.url, tls(client, { ca: serverCa.rootPem })));
    },
  },
  'unable-to-verify-leaf': {
    seen: async () => Promise.all(bothClients(node13.url, tls(client))),
  },
  'self-signed-in-chain': {
    seen: async () => {
      const leaf = await serverCa.issueServer();
      const server = await startMtlsServer({
        clientCa,
        server: Object.assign(Object.create(Object.getPrototypeOf(leaf)) as IssuedCert, leaf, {
          fullChainPem: leaf.fullChainPem + serverCa.rootPem,
        }),
      });
      cleanup.push(() => server.close());
      return Promise.all(bothClients(server.url, tls(client)));
    },
  },
  'depth-zero-self-signed': {
    openssl: true,
    seen: async () => Promise.all(bothClients(await selfSignedServer(), tls(client))),
  },
  'altname-invalid': {
    seen: async () => {
      const server = await startMtlsServer({
        clientCa,
        server: await serverCa.issueServer({ dnsNames: ['api.example.com'], ipAddresses: [] }),
      });
      cleanup.push(() => server.close());
      return Promise.all(bothClients(server.url, tls(client, { ca: serverCa.rootPem })));
    },
  },
  'wrong-version-number': {
    seen: async () => {
      const plain = createHttpServer((_req, res) => res.end('plain HTTP'));
      await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
      cleanup.push(() => new Promise((resolve) => plain.close(resolve)));
      return Promise.all(
        bothClients(`https://127.0.0.1:${(plain.address() as AddressInfo).port}/`, tls(client)),
      );
    },
  },
  'key-values-mismatch': {
    seen: async () => {
      const otherRsa = await clientCa.issueClient({ keyType: 'rsa2048' });
      return [contextFailure({ cert: client.certPem, key: otherRsa.keyPem })];
    },
    material: async () => ({
      cert: client.certPem,
      key: (await clientCa.issueClient({ keyType: 'rsa2048' })).keyPem,
    }),
  },
  'bad-decrypt': {
    seen: async () => [
      contextFailure({
        cert: client.certPem,
        key: client.encryptedPkcs8Pem('the passphrase'),
        passphrase: 'another',
      }),
      contextFailure({ cert: client.certPem, key: client.encryptedPkcs8Pem('the passphrase') }),
    ],
    material: () => ({
      cert: client.certPem,
      key: client.encryptedPkcs8Pem('the passphrase'),
      passphrase: 'another',
    }),
  },
  'mac-verify-failure': {
    seen: async () => [contextFailure({ pfx: await client.pkcs12('the password'), passphrase: 'another' })],
    material: async () => ({ pfx: await client.pkcs12('the password'), passphrase: 'another' }),
  },
  'pkcs12-unsupported': {
    openssl: true,
    seen: async () => [
      contextFailure({
        pfx: await client.pkcs12('the password', { algorithm: 'legacy-rc2' }),
        passphrase: 'the password',
      }),
    ],
    material: async () => ({
      pfx: await client.pkcs12('the password', { algorithm: 'legacy-rc2' }),
      passphrase: 'the password',
    }),
  },
  'evp-unsupported': {
    openssl: true,
    seen: async () => [
      contextFailure({ cert: client.certPem, key: await desKey(), passphrase: 'the passphrase' }),
    ],
    material: async () => ({ cert: client.certPem, key: await desKey(), passphrase: 'the passphrase' }),
  },
  'pem-no-start-line': {
    seen: async () => [contextFailure({ cert: b64(client.certPem), key: client.keyPem })],
    material: () => ({ cert: b64(client.certPem), key: client.keyPem }),
  },
  'decoder-unsupported': {
    seen: async () => [contextFailure({ cert: client.certPem, key: b64(client.keyPem) })],
    material: () => ({ cert: client.certPem, key: b64(client.keyPem) }),
  },
  'wrong-tag': {
    seen: async () => [
      contextFailure({
        pfx: (await client.pkcs12('the password')).toString('base64'),
        passphrase: 'the password',
      }),
    ],
    material: async () => ({
      pfx: (await client.pkcs12('the password')).toString('base64'),
      passphrase: 'the password',
    }),
  },
};

const onPage = quotes(page);

describe('docs/troubleshooting.md', () => {
  it('quotes exactly the cases this file reproduces', () => {
    expect([...onPage.keys()].sort()).toEqual(Object.keys(CASES).sort());
  });

  describe.each(Object.entries(CASES))('%s', (id, c) => {
    it.skipIf(c.openssl && !hasOpenssl())(
      `every error Node ${process.version} prints is quoted on the page`,
      async () => {
        const quote = onPage.get(id);
        expect(quote, `no <!-- seen: ${id} --> block on the page`).toBeDefined();
        const seen = await c.seen();
        if (process.env.MTLSKIT_PRINT_SEEN) console.log(JSON.stringify({ id, node: process.version, seen }));
        expect(seen.length).toBeGreaterThan(0);
        const unquoted = seen.filter((s) => !quote?.lines.some((line) => matches(line, s)));
        // Printed in the block's own form (`CODE  MESSAGE`), after the client that saw it.
        expect(
          unquoted
            .map(
              (s) => `${s.client}: ${typeof s.code === 'string' ? s.code : '(no code)'}  ${s.message.trim()}`,
            )
            .join('\n'),
          `errors of ${id} that no line of its block matches`,
        ).toBe('');
      },
    );

    it.skipIf(c.material === undefined)(
      'mtlskit refuses the same credential with the code the page names',
      async () => {
        const quote = onPage.get(id);
        expect(quote?.mtlskitCode, `the marker of ${id} names no mtlskit code`).toBeDefined();
        const material = await c.material?.();
        const loaded = loadCredentials(inlineSource(material as CredentialMaterial));
        if (quote?.mtlskitCode === 'READS') {
          await expect(loaded).resolves.toMatchObject({ fingerprint256: client.fingerprint256 });
          return;
        }
        const err = await loaded.catch((e: unknown) => e);
        expect(err).toBeInstanceOf(MtlsError);
        expect((err as MtlsError).code).toBe(quote?.mtlskitCode);
      },
    );
  });
});
