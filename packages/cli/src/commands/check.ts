// `mtlskit check --url URL`: one real mTLS request with the credential a reference names, and a plain
// account of what happened: TLS version, cipher, the server's certificate, and whether the server
// accepted the client certificate — or which alert it sent and what that means.

import type { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type RequestOptions, request } from 'node:https';
import { isIP } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import tls from 'node:tls';
import { createTlsResolver, type Finding } from '@mtlskit/core';
import { redactText } from '@mtlskit/core/adapter';
import { parseCertificateName } from '@mtlskit/mangopay';
import { type CommandSpec, flag, integer, type Parsed, secretFromEnv, str, UsageError } from '../args.js';
import { EXIT } from '../exit.js';
import { findingsText, isoDate, oneLine, table } from '../format.js';
import { type CliIo, pathFrom } from '../io.js';
import { type LoadedCredential, loadForInspection } from '../load.js';
import { environmentOfHost, mangopayHost } from '../mangopay.js';
import { type Diagnosis, diagnose } from '../tls-alerts.js';

export const spec: CommandSpec = {
  name: 'check',
  summary: 'Make one real mTLS request and report whether the server accepted the client certificate.',
  usage: ['--url URL [--source REF] [--pending] [--ca FILE] [--passphrase-env VAR] [--timeout MS] [--json]'],
  details: [
    'Loads and validates the credential (as inspect does), then sends GET URL with it and reports the TLS version, cipher, the server certificate, and the outcome: accepted (any HTTP status: an HTTP 401 means the TLS layer accepted the certificate and the application wants its own credentials), or the TLS alert the server sent and what it means. Warns when a Mangopay URL is not an api-mtls host, where the certificate is never asked for.',
  ],
  options: {
    url: { type: 'string', value: 'URL', description: 'An https:// URL of the API.' },
    source: {
      type: 'string',
      value: 'REF',
      description: 'Where the credential is (default $MTLS_SOURCE, else env:).',
    },
    pending: {
      type: 'boolean',
      description:
        'Use the pending version of a renewal (mtlskit renew start/complete) instead of the current one: try it before promoting it.',
    },
    ca: {
      type: 'string',
      value: 'FILE',
      description:
        "PEM of the CA(s) to trust for the server, instead of the credential's ca (or the system roots).",
    },
    'passphrase-env': {
      type: 'string',
      value: 'VAR',
      description: 'Environment variable holding the passphrase of an encrypted key or PKCS#12.',
    },
    timeout: {
      type: 'string',
      value: 'MS',
      description: 'Give up after this many milliseconds (default 15000).',
    },
    json: { type: 'boolean', description: 'Print one JSON object instead of text.' },
  },
  positionals: [0, 0],
  exitCodes: [
    [0, 'the server accepted the client certificate (and answered over HTTP)'],
    [1, 'the server refused it, the server certificate is not trusted, or the credential is invalid'],
    [2, 'usage'],
    [4, 'the credential source or the server could not be reached'],
  ],
  examples: [
    'mtlskit check --url https://api-mtls.sandbox.mangopay.com/v2.01/ --source file:./mtls',
    'MTLS_SOURCE=aws-sm://prod/mtls mtlskit check --url https://api.example.com/health --json',
  ],
};

interface ServerCert {
  subject: string;
  issuer: string;
  subjectAltName?: string;
  notAfter: string;
  fingerprint256: string;
}

export interface CheckReport {
  status: 'accepted' | 'rejected' | 'untrusted-server' | 'unreachable' | 'invalid-credential' | 'failed';
  exitCode: number;
  url: string;
  source: string;
  clientCertificate: { subject: string; issuer: string; notAfter: string; fingerprint256: string };
  tls?: { version: string | null; cipher: string; serverCertificate?: ServerCert; serverTrusted: boolean };
  httpStatus?: number;
  alert?: Diagnosis;
  warnings: string[];
  findings: Finding[];
}

function dn(obj: Record<string, string | string[]> | undefined): string {
  if (!obj) return '';
  return Object.entries(obj)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(', ');
}

function serverCertOf(peer: PeerCertificate | undefined): ServerCert | undefined {
  if (!peer?.fingerprint256) return undefined;
  return {
    subject: dn(peer.subject as unknown as Record<string, string>),
    issuer: dn(peer.issuer as unknown as Record<string, string>),
    ...(peer.subjectaltname && { subjectAltName: peer.subjectaltname }),
    notAfter: isoDate(new Date(peer.valid_to)),
    fingerprint256: peer.fingerprint256,
  };
}

/** The server's certificate without presenting ours and without trusting it: for a report only. */
function probeServerCertificate(url: URL, timeoutMs: number): Promise<ServerCert | undefined> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: url.hostname,
      port: Number(url.port || 443),
      ...(isIP(url.hostname) === 0 && { servername: url.hostname }),
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    });
    const done = (value: ServerCert | undefined) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once('secureConnect', () => done(serverCertOf(socket.getPeerCertificate())));
    socket.once('error', () => done(undefined));
  });
}

interface Outcome {
  version: string | null;
  cipher: string;
  peer: ServerCert | undefined;
  handshakeDone: boolean;
  status?: number;
  error?: NodeJS.ErrnoException;
}

function attempt(url: URL, secureContext: tls.SecureContext, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { version: null, cipher: '', peer: undefined, handshakeDone: false };
    const options: RequestOptions & { secureContext: tls.SecureContext } = {
      method: 'GET',
      agent: false,
      secureContext,
      minVersion: 'TLSv1.2',
      timeout: timeoutMs,
      headers: { 'user-agent': 'mtlskit-check' },
    };
    const req = request(url, options);
    req.on('socket', (socket) => {
      (socket as TLSSocket).once('secureConnect', () => {
        const s = socket as TLSSocket;
        out.handshakeDone = true;
        out.version = s.getProtocol();
        out.cipher = s.getCipher()?.name ?? '';
        out.peer = serverCertOf(s.getPeerCertificate());
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('response', (res) => {
      out.status = res.statusCode;
      res.resume();
      res.on('end', () => resolve(out));
      res.on('error', () => resolve(out));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ ...out, error: err }));
    req.end();
  });
}

function urlOf(parsed: Parsed): URL {
  const text = str(parsed, 'url');
  if (text === undefined) throw new UsageError('--url is required.');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--url "${text}" is not a URL.`);
  }
  if (url.protocol !== 'https:') {
    throw new UsageError(`--url must be https:// (mTLS runs over TLS), not ${url.protocol}.`);
  }
  return url;
}

/** Mangopay mistakes worth a warning before any result: a host that never asks, the wrong environment. */
function mangopayWarnings(url: URL, leaf: X509Certificate): string[] {
  const warnings: string[] = [];
  const mp = mangopayHost(url);
  if (mp.mangopay && !mp.mtls) {
    warnings.push(
      `${url.hostname} is a Mangopay host without api-mtls: it does not ask for the client certificate, so this check proves nothing about it.${mp.suggestion ? ` Use ${mp.suggestion}` : ''}`,
    );
  }
  const hostEnv = environmentOfHost(url.hostname);
  const commonName = /^CN=(.*)$/m.exec(leaf.subject)?.[1];
  const certEnv = commonName === undefined ? undefined : parseCertificateName(commonName)?.environment;
  if (hostEnv !== undefined && certEnv !== undefined && hostEnv !== certEnv) {
    warnings.push(
      `The certificate is named for Mangopay ${certEnv} but ${url.hostname} is ${hostEnv}: each environment accepts only its own certificates.`,
    );
  }
  return warnings;
}

/** The TLS options a resolver gives an application for this credential; `ca` replaces the server trust only. */
async function contextFor(loaded: LoadedCredential, ca: string | undefined): Promise<tls.SecureContext> {
  const resolver = createTlsResolver({
    source: { id: loaded.sourceId, load: async () => loaded.material },
    policy: loaded.policy,
    mode: 'on-access',
  });
  try {
    const options = await resolver.tlsOptions();
    const trust = ca ?? options.ca;
    return tls.createSecureContext({
      cert: options.cert,
      key: options.key,
      minVersion: options.minVersion,
      ...(trust !== undefined && { ca: trust }),
    });
  } finally {
    await resolver.close();
  }
}

type Verdict = Pick<CheckReport, 'status' | 'exitCode' | 'tls' | 'httpStatus' | 'alert'>;

/** One request, and what its outcome means. */
async function verdictOf(url: URL, context: tls.SecureContext, timeoutMs: number): Promise<Verdict> {
  const outcome = await attempt(url, context, timeoutMs);
  const tlsInfo = outcome.handshakeDone
    ? {
        version: outcome.version,
        cipher: outcome.cipher,
        ...(outcome.peer && { serverCertificate: outcome.peer }),
        serverTrusted: true,
      }
    : undefined;
  if (!outcome.error && outcome.status !== undefined) {
    return {
      status: 'accepted',
      exitCode: EXIT.OK,
      ...(tlsInfo && { tls: tlsInfo }),
      httpStatus: outcome.status,
    };
  }
  const error = outcome.error ?? Object.assign(new Error('no response'), { code: 'ECONNRESET' });
  const diagnosis = diagnose(error, outcome.handshakeDone);
  diagnosis.meaning = redactText(diagnosis.meaning);
  let info = tlsInfo;
  if (diagnosis.verdict === 'untrusted-server') {
    const peer = await probeServerCertificate(url, timeoutMs);
    info = { version: null, cipher: '', ...(peer && { serverCertificate: peer }), serverTrusted: false };
  }
  return {
    status: diagnosis.verdict,
    exitCode: diagnosis.verdict === 'unreachable' ? EXIT.UNREACHABLE : EXIT.INVALID,
    ...(info && { tls: info }),
    alert: diagnosis,
  };
}

export async function run(parsed: Parsed, io: CliIo): Promise<number> {
  const url = urlOf(parsed);
  const timeoutMs = integer(parsed, 'timeout', 15_000, 1, 600_000);
  const passphrase = secretFromEnv(parsed, 'passphrase-env', io.env);
  const caFile = str(parsed, 'ca');
  const ca =
    caFile === undefined
      ? undefined
      : await readFile(pathFrom(io, caFile), 'utf8').catch((err: NodeJS.ErrnoException) => {
          throw new UsageError(`--ca ${caFile} cannot be read (${err.code ?? 'error'}).`);
        });
  const reference = str(parsed, 'source');
  const loaded = await loadForInspection(
    {
      ...(reference !== undefined && { reference }),
      ...(passphrase !== undefined && { passphrase }),
      ...(flag(parsed, 'pending') && { pending: true }),
      warnDays: 30,
    },
    io,
  );
  const { leaf } = loaded;
  const base = {
    url: url.href,
    source: loaded.sourceId,
    clientCertificate: {
      subject: oneLine(leaf.subject),
      issuer: oneLine(leaf.issuer),
      notAfter: isoDate(new Date(leaf.validTo)),
      fingerprint256: leaf.fingerprint256,
    },
    warnings: mangopayWarnings(url, leaf),
    findings: loaded.findings,
  };
  let verdict: Verdict;
  if (loaded.findings.some((f) => f.severity === 'error')) {
    verdict = { status: 'invalid-credential', exitCode: EXIT.INVALID };
  } else {
    const context = await contextFor(loaded, ca);
    io.progress(`connecting to ${url.host}`);
    verdict = await verdictOf(url, context, timeoutMs);
  }
  const result: CheckReport = { ...base, ...verdict };
  io.out(flag(parsed, 'json') ? `${JSON.stringify(result, null, 2)}\n` : human(result));
  return result.exitCode;
}

const HEADLINE: Record<CheckReport['status'], string> = {
  accepted: 'ACCEPTED: the server accepted the client certificate.',
  rejected: 'REJECTED: the server refused the client certificate.',
  'untrusted-server': "NOT SENT: the server's certificate is not trusted, so no request was made.",
  unreachable: 'UNREACHABLE: no TLS connection could be made.',
  'invalid-credential': 'NOT SENT: the credential is invalid; fix it first (mtlskit inspect shows the same).',
  failed: 'FAILED: the request did not complete.',
};

function human(r: CheckReport): string {
  const server = r.tls?.serverCertificate;
  const rows: [string, string | undefined][] = [
    ['URL', r.url],
    [
      'Credential',
      `${r.clientCertificate.subject} (from ${r.source}, until ${r.clientCertificate.notAfter})`,
    ],
    ['TLS', r.tls?.version ? `${r.tls.version}, ${r.tls.cipher}` : undefined],
    [
      'Server cert',
      server
        ? `${server.subject}\nissued by ${server.issuer}\n${server.subjectAltName ?? 'no SAN'}, until ${server.notAfter}${r.tls?.serverTrusted === false ? '\n(NOT trusted)' : ''}`
        : undefined,
    ],
    [
      'HTTP',
      r.httpStatus === undefined
        ? undefined
        : `${r.httpStatus}${r.httpStatus === 401 || r.httpStatus === 403 ? ' (an application-level refusal: TLS accepted the certificate)' : ''}`,
    ],
    ['What', r.alert?.what],
    ['Meaning', r.alert?.meaning],
  ];
  const warnings = r.warnings.map((w) => `warning: ${w}\n`).join('');
  const findings = r.findings.length > 0 ? `\n${findingsText(r.findings)}\n` : '';
  return `${warnings}${table(rows)}\n${findings}\n${HEADLINE[r.status]}\n`;
}
