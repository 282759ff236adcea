// Egress proxy support shared by the rotating https.Agent and undici Dispatcher: which proxy to use
// (HTTPS_PROXY / NO_PROXY or explicit settings), which hosts bypass it, and the CONNECT tunnel over
// which the client's own TLS handshake (client certificate included) runs end to end.
import { X509Certificate } from 'node:crypto';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { MtlsError, type MtlsErrorOptions } from '../errors.js';
import { MIN_TLS_VERSION } from './context.js';

/**
 * `true`: use HTTPS_PROXY / NO_PROXY from the environment. An object overrides either, and `ca`
 * (PEM) is what verifies an `https://` proxy's own certificate (default: Node's trusted roots).
 */
export type ProxyOption = boolean | { url?: string; noProxy?: string; ca?: string | string[] };

interface NoProxyRule {
  /** Lower-case host without brackets; `*` for every host. A leading `.` matches subdomains only. */
  host: string;
  port: number | undefined;
}

export interface ProxySettings {
  readonly url: URL;
  /** The proxy's address for messages: scheme, host and port, never the credentials. */
  readonly display: string;
  readonly noProxy: readonly NoProxyRule[];
  /** PEM CA(s) that verify an https:// proxy, replacing Node's roots for that connection. */
  readonly ca?: string | string[];
  /** The `Proxy-Authorization` header value when the URL carries user:password@ (a secret: never log it). */
  readonly authorization?: string;
}

const TUNNEL_TIMEOUT_MS = 30_000;
const MAX_RESPONSE_HEAD = 16 * 1024;

function env(name: string): string | undefined {
  for (const key of [name, name.toLowerCase()]) {
    const value = process.env[key]?.trim();
    if (value) return value;
  }
  return undefined;
}

function parseNoProxy(list: string): NoProxyRule[] {
  const rules: NoProxyRule[] = [];
  for (const entry of list.split(/[\s,]+/)) {
    if (entry === '') continue;
    if (entry === '*') {
      rules.push({ host: '*', port: undefined });
      continue;
    }
    // A bare IPv6 address has colons of its own and no port.
    const m = net.isIPv6(entry) ? [entry, entry, undefined] : /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry);
    if (!m) continue;
    const host = (m[1] ?? '')
      .replace(/^\*\./, '.')
      .replace(/^\[|\]$/g, '')
      .toLowerCase();
    rules.push({ host, port: m[2] === undefined ? undefined : Number(m[2]) });
  }
  return rules;
}

/**
 * The proxy settings for a resolver, or undefined when none applies (option off, or `true` with no
 * HTTPS_PROXY set). Throws `INVALID_OPTION` for a proxy URL that is not http(s)://host[:port].
 */
export function resolveProxy(option: ProxyOption | undefined): ProxySettings | undefined {
  if (option === undefined || option === false) return undefined;
  const explicit = option === true ? {} : option;
  const raw = explicit.url ?? env('HTTPS_PROXY');
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    url = new URL('invalid:');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new MtlsError(
      'INVALID_OPTION',
      `${explicit.url === undefined ? 'HTTPS_PROXY' : 'options.proxy.url'} is not a proxy URL: give http://HOST:PORT ` +
        '(or https://HOST:PORT for a TLS proxy), with user:password@ before the host when the proxy needs them',
      { field: 'proxy' },
    );
  }
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const ca = explicit.ca;
  if (ca !== undefined) checkProxyCa(ca);
  const authorization = proxyAuthorization(
    url,
    explicit.url === undefined ? 'HTTPS_PROXY' : 'options.proxy.url',
  );
  return {
    url,
    display: `${url.protocol}//${url.hostname.includes(':') && !url.hostname.startsWith('[') ? `[${url.hostname}]` : url.hostname}:${port}`,
    noProxy: parseNoProxy(explicit.noProxy ?? env('NO_PROXY') ?? ''),
    ...(ca === undefined ? {} : { ca }),
    ...(authorization === undefined ? {} : { authorization }),
  };
}

// A garbage `ca` is accepted by OpenSSL and only shows up as a failed handshake: parse it up front.
function checkProxyCa(ca: string | string[]): void {
  const list = Array.isArray(ca) ? ca : [ca];
  const blocksOf = (entry: unknown) =>
    typeof entry === 'string'
      ? (entry.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [])
      : [];
  const pems = list.flatMap(blocksOf);
  // Every entry must hold at least one complete block, and every block must parse.
  const valid =
    list.length > 0 &&
    list.every((entry) => blocksOf(entry).length > 0) &&
    pems.every((pem) => {
      try {
        new X509Certificate(pem);
        return true;
      } catch {
        return false;
      }
    });
  if (!valid) {
    throw new MtlsError(
      'INVALID_OPTION',
      "options.proxy.ca must be the PEM certificate(s) of the CA that issued the https:// proxy's certificate " +
        '(PEM text with BEGIN CERTIFICATE blocks), as a string or an array of strings',
      { field: 'proxy.ca' },
    );
  }
}

/** True when `hostname:port` must be reached through the proxy (no NO_PROXY rule matches it). */
export function usesProxy(settings: ProxySettings, hostname: string, port: number): boolean {
  const host = hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
  for (const rule of settings.noProxy) {
    if (rule.port !== undefined && rule.port !== port) continue;
    if (rule.host === '*' || rule.host === host) return false;
    const suffix = rule.host.startsWith('.') ? rule.host : `.${rule.host}`;
    if (host.endsWith(suffix)) return false;
  }
  return true;
}

/**
 * The egress proxy refused or failed the CONNECT tunnel: an `MtlsError` with code `PROXY_FAILED`, the
 * proxy's HTTP status in `statusCode` when it answered, and the proxy named by scheme, host and port
 * only (never its credentials). Retryable, except when the proxy answered with a 4xx status a retry
 * cannot change (407: wrong or missing proxy credentials; 403: the proxy forbids the destination).
 */
export class ProxyTunnelError extends MtlsError {
  readonly statusCode: number | undefined;

  constructor(message: string, statusCode?: number, cause?: unknown) {
    const options: MtlsErrorOptions = { field: 'proxy' };
    if (cause !== undefined) options.cause = cause;
    if (
      statusCode !== undefined &&
      statusCode >= 400 &&
      statusCode < 500 &&
      statusCode !== 408 &&
      statusCode !== 429
    )
      options.retryable = false;
    super('PROXY_FAILED', message, options);
    this.name = 'ProxyTunnelError';
    this.statusCode = statusCode;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), statusCode: this.statusCode };
  }
}

function refusalHint(status: number): string {
  if (status === 407)
    return 'the proxy wants credentials: put valid user:password@ in the proxy URL (HTTPS_PROXY or options.proxy.url), percent-encoding reserved characters';
  if (status === 403)
    return 'the proxy forbids this destination: ask its administrator to allow CONNECT to it, or add the host to NO_PROXY';
  if (status >= 500) return 'the proxy or the path behind it failed; the request can be retried';
  return 'check that the proxy allows CONNECT to this host and port';
}

// Decoded once, up front: a stray `%` in the password is a configuration error, not a failed request.
function proxyAuthorization(url: URL, where: string): string | undefined {
  if (url.username === '' && url.password === '') return undefined;
  let user: string;
  let pass: string;
  try {
    user = decodeURIComponent(url.username);
    pass = decodeURIComponent(url.password);
  } catch {
    throw new MtlsError(
      'INVALID_OPTION',
      `the user:password@ part of ${where} is not valid percent-encoding: encode reserved characters ` +
        '(% as %25, @ as %40, : as %3A) with encodeURIComponent',
      { field: 'proxy' },
    );
  }
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

/**
 * Opens a CONNECT tunnel to `hostname:port` through the proxy and resolves with the raw socket, over
 * which the caller runs its own TLS handshake: the proxy relays bytes and never sees the client key.
 */
export function openTunnel(
  settings: ProxySettings,
  hostname: string,
  port: number,
  timeoutMs = TUNNEL_TIMEOUT_MS,
): Promise<Socket> {
  const { url } = settings;
  const proxyPort = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const proxyHost = url.hostname.replace(/^\[|\]$/g, '');
  const target = `${hostname.includes(':') && !hostname.startsWith('[') ? `[${hostname}]` : hostname}:${port}`;
  return new Promise((resolve, reject) => {
    const socket: Socket =
      url.protocol === 'https:'
        ? tls.connect({
            host: proxyHost,
            port: proxyPort,
            servername: net.isIP(proxyHost) ? '' : proxyHost,
            minVersion: MIN_TLS_VERSION,
            ...(settings.ca === undefined ? {} : { ca: settings.ca }),
          })
        : net.connect({ host: proxyHost, port: proxyPort });
    let head = Buffer.alloc(0);
    const fail = (message: string, status?: number, cause?: unknown) => {
      cleanup();
      socket.destroy();
      reject(new ProxyTunnelError(`egress proxy ${settings.display}: ${message}`, status, cause));
    };
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_RESPONSE_HEAD) fail(`CONNECT ${target} answered with an oversized header`);
        return;
      }
      const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
      if (status !== 200) {
        if (!status) {
          fail(
            `CONNECT ${target} got an answer that is not an HTTP response; check that HTTPS_PROXY / options.proxy.url ` +
              'names an HTTP CONNECT proxy (http:// or https:// as the proxy listens)',
          );
          return;
        }
        // The status line only: the rest of the answer is the proxy's business.
        const reason = statusLine
          .replace(/^HTTP\/1\.[01] \d{3} ?/, '')
          .replace(/[^\x20-\x7e]/g, '')
          .slice(0, 60);
        fail(
          `CONNECT ${target} was refused with HTTP ${status}${reason ? ` ${reason}` : ''}; ${refusalHint(status)}`,
          status,
        );
        return;
      }
      cleanup();
      // No listener reads now: pause so nothing is consumed before the caller's TLS layer takes over.
      socket.pause();
      socket.setTimeout(0);
      const rest = head.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    const onError = (err: Error) =>
      fail(
        `cannot reach the proxy (${err.message}); check HTTPS_PROXY / options.proxy.url` +
          (url.protocol === 'https:'
            ? ', and options.proxy.ca when the proxy has a private certificate'
            : '') +
          ', or list the destination in NO_PROXY',
        undefined,
        err,
      );
    const onClose = () =>
      fail(`closed the connection before answering CONNECT ${target}; the request can be retried`);
    const onTimeout = () =>
      fail(`no answer to CONNECT ${target} within ${timeoutMs} ms; check that the proxy is up`);
    function cleanup() {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.off('timeout', onTimeout);
    }
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('timeout', onTimeout);
    socket.setTimeout(timeoutMs);
    const auth = settings.authorization;
    socket.write(
      `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth === undefined ? '' : `Proxy-Authorization: ${auth}\r\n`}\r\n`,
    );
  });
}
