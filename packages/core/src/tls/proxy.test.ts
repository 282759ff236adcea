// Which proxy a resolver uses and which hosts bypass it, and how a failed tunnel is reported (against
// a real socket that answers CONNECT as the test says). The tunnel itself is tested end to end, with
// a real CONNECT proxy (plain and TLS), in tests/resolver/proxy.test.ts.
import net, { type AddressInfo } from 'node:net';
import { TestCA } from '@mtlskit/testkit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ERROR_CODES, MtlsError } from '../errors.js';
import { openTunnel, ProxyTunnelError, resolveProxy, usesProxy } from './proxy.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('resolveProxy', () => {
  it('is off unless asked for, and off when asked with no HTTPS_PROXY set', () => {
    vi.stubEnv('HTTPS_PROXY', 'http://proxy.internal:3128');
    expect(resolveProxy(undefined)).toBeUndefined();
    expect(resolveProxy(false)).toBeUndefined();
    vi.stubEnv('HTTPS_PROXY', '');
    vi.stubEnv('https_proxy', '');
    expect(resolveProxy(true)).toBeUndefined();
  });

  it('reads HTTPS_PROXY and NO_PROXY (or their lower-case forms) when given true', () => {
    vi.stubEnv('HTTPS_PROXY', '');
    vi.stubEnv('https_proxy', 'http://user:s3cret@proxy.internal:3128');
    vi.stubEnv('NO_PROXY', '.internal.example, api.local:8443');
    const settings = resolveProxy(true);
    expect(settings?.display).toBe('http://proxy.internal:3128');
    expect(settings && usesProxy(settings, 'svc.internal.example', 443)).toBe(false);
    expect(settings && usesProxy(settings, 'api.local', 8443)).toBe(false);
    expect(settings && usesProxy(settings, 'api.local', 443)).toBe(true);
    expect(settings && usesProxy(settings, 'api-mtls.mangopay.com', 443)).toBe(true);
  });

  it('explicit url and noProxy win over the environment; an empty noProxy proxies everything', () => {
    vi.stubEnv('HTTPS_PROXY', 'http://env-proxy:1');
    vi.stubEnv('NO_PROXY', '*');
    const settings = resolveProxy({ url: 'https://egress.corp:8443', noProxy: '' });
    expect(settings?.display).toBe('https://egress.corp:8443');
    expect(settings && usesProxy(settings, '127.0.0.1', 443)).toBe(true);
  });

  it('rejects a proxy URL it cannot tunnel through, without echoing its credentials', () => {
    for (const url of ['socks5://u:pw-123456@127.0.0.1:1080', 'not a url', 'http://']) {
      let error: unknown;
      try {
        resolveProxy({ url });
      } catch (err) {
        error = err;
      }
      expect(error).toMatchObject({ code: 'INVALID_OPTION', field: 'proxy' });
      expect(String((error as Error).message)).not.toContain('pw-123456');
    }
  });

  it('refuses proxy credentials that are not valid percent-encoding up front, without echoing them', () => {
    for (const url of ['http://user:pa%zz-771@proxy.internal:3128', 'http://us%er:x@proxy.internal:3128']) {
      let error: unknown;
      try {
        resolveProxy({ url });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(MtlsError);
      expect(error).toMatchObject({ code: 'INVALID_OPTION', field: 'proxy' });
      expect((error as Error).message).toMatch(/percent-encoding/);
      expect((error as Error).message).not.toMatch(/pa%zz|771|us%er/);
    }
    // Encoded reserved characters are decoded into the header, which never appears in the display.
    const settings = resolveProxy({ url: 'http://svc%40corp:p%25ss%3Aword@proxy.internal:3128' });
    expect(settings?.authorization).toBe(`Basic ${Buffer.from('svc@corp:p%ss:word').toString('base64')}`);
    expect(settings?.display).toBe('http://proxy.internal:3128');
  });
});

describe('usesProxy (NO_PROXY matching)', () => {
  const settings = (noProxy: string) => {
    const s = resolveProxy({ url: 'http://proxy:3128', noProxy });
    if (!s) throw new Error('expected settings');
    return s;
  };

  it('matches a domain and its subdomains, case-insensitively, ignoring a trailing dot', () => {
    const s = settings('Example.COM');
    expect(usesProxy(s, 'example.com', 443)).toBe(false);
    expect(usesProxy(s, 'api.example.com.', 443)).toBe(false);
    expect(usesProxy(s, 'notexample.com', 443)).toBe(true);
  });

  it('a leading dot or *. matches subdomains only', () => {
    for (const rule of ['.example.com', '*.example.com']) {
      const s = settings(rule);
      expect(usesProxy(s, 'api.example.com', 443)).toBe(false);
      expect(usesProxy(s, 'example.com', 443)).toBe(true);
    }
  });

  it('matches IP literals exactly, IPv6 with or without brackets, and honours ports', () => {
    const s = settings('127.0.0.1, [::1]:8443');
    expect(usesProxy(s, '127.0.0.1', 443)).toBe(false);
    expect(usesProxy(s, '127.0.0.10', 443)).toBe(true);
    expect(usesProxy(s, '::1', 8443)).toBe(false);
    expect(usesProxy(s, '[::1]', 8443)).toBe(false);
    expect(usesProxy(s, '::1', 443)).toBe(true);
  });

  it('* bypasses the proxy for every host', () => {
    expect(usesProxy(settings('*'), 'anything.example', 443)).toBe(false);
  });
});

describe('proxy.ca', () => {
  it('is kept for an https:// proxy when it parses, and refused up front otherwise', async () => {
    const ca = await TestCA.create();
    expect(resolveProxy({ url: 'https://egress.corp:8443', ca: ca.rootPem })?.ca).toBe(ca.rootPem);
    expect(resolveProxy({ url: 'https://egress.corp:8443', ca: [ca.rootPem] })?.ca).toEqual([ca.rootPem]);
    for (const bad of [
      '',
      'garbage',
      [],
      ['-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----'],
      // Truncated: no END line, so no complete block.
      ca.rootPem.slice(0, 60),
      [ca.rootPem, ca.rootPem.slice(0, 60)],
    ]) {
      expect(() => resolveProxy({ url: 'https://egress.corp:8443', ca: bad as string })).toThrow(
        expect.objectContaining({
          code: 'INVALID_OPTION',
          field: 'proxy.ca',
          message: expect.stringMatching(/options\.proxy\.ca/),
        }),
      );
    }
  });
});

describe('a failed CONNECT', () => {
  /** A "proxy" that answers every CONNECT with `answer`, then closes; or, given `undefined`, never answers. */
  async function answering(answer: string | undefined): Promise<{ url: string; close(): Promise<void> }> {
    const held: net.Socket[] = [];
    const server = net.createServer((socket) => {
      if (answer === undefined) held.push(socket);
      else socket.once('data', () => socket.end(answer));
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://proxy-user:proxy-pass-4411@127.0.0.1:${port}`,
      close: () =>
        new Promise<void>((resolve) => {
          for (const socket of held) socket.destroy();
          server.close(() => resolve());
        }),
    };
  }

  async function refusal(answer: string | undefined, timeoutMs?: number): Promise<ProxyTunnelError> {
    const proxy = await answering(answer);
    try {
      const settings = resolveProxy({ url: proxy.url, noProxy: '' });
      if (!settings) throw new Error('expected settings');
      const err = await openTunnel(settings, 'api.example.com', 443, timeoutMs).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ProxyTunnelError);
      return err as ProxyTunnelError;
    } finally {
      await proxy.close();
    }
  }

  it('is an MtlsError with code PROXY_FAILED, the status, and a hint per status; retryable unless a retry cannot help', async () => {
    expect(ERROR_CODES.PROXY_FAILED.retryable).toBe(true);
    const cases: Array<[string, number | undefined, boolean, RegExp]> = [
      [
        'HTTP/1.1 407 Proxy Authentication Required\r\n\r\n',
        407,
        false,
        /HTTP 407 Proxy Authentication Required; the proxy wants credentials: put valid user:password@ in the proxy URL/,
      ],
      [
        'HTTP/1.1 403 Forbidden\r\n\r\n',
        403,
        false,
        /HTTP 403 Forbidden; the proxy forbids this destination/,
      ],
      [
        'HTTP/1.1 503 Service Unavailable\r\n\r\n',
        503,
        true,
        /HTTP 503 Service Unavailable; .*can be retried/,
      ],
      ['HTTP/1.1 429 Too Many Requests\r\n\r\n', 429, true, /HTTP 429/],
      ['SSH-2.0-OpenSSH_9.6\r\n\r\n', undefined, true, /not an HTTP response/],
    ];
    for (const [answer, statusCode, retryable, message] of cases) {
      const err = await refusal(answer);
      expect(err).toBeInstanceOf(MtlsError);
      expect(MtlsError.is(err, 'PROXY_FAILED')).toBe(true);
      expect(err).toMatchObject({ code: 'PROXY_FAILED', field: 'proxy', statusCode, retryable });
      expect(err.message).toMatch(/^egress proxy http:\/\/127\.0\.0\.1:\d+: CONNECT api\.example\.com:443 /);
      expect(err.message).toMatch(message);
      // The proxy is named by scheme, host and port: its credentials are in no output.
      for (const text of [err.message, JSON.stringify(err), String(err.stack)]) {
        expect(text).not.toContain('proxy-pass-4411');
        expect(text).not.toContain('proxy-user');
      }
    }
  });

  it('a proxy that closes without answering, sends an oversized header, or never answers: PROXY_FAILED with no status, retryable', async () => {
    const cases: Array<[string | undefined, RegExp]> = [
      [
        '',
        /closed the connection before answering CONNECT api\.example\.com:443; the request can be retried/,
      ],
      [
        `HTTP/1.1 200 OK\r\nX-Padding: ${'a'.repeat(20_000)}`,
        /CONNECT api\.example\.com:443 answered with an oversized header/,
      ],
      [undefined, /no answer to CONNECT api\.example\.com:443 within 200 ms; check that the proxy is up/],
    ];
    for (const [answer, message] of cases) {
      // A short timeout only where it is the point: elsewhere a busy machine must not turn it into the cause.
      const err = await refusal(answer, answer === undefined ? 200 : undefined);
      expect(err).toMatchObject({
        code: 'PROXY_FAILED',
        field: 'proxy',
        statusCode: undefined,
        retryable: true,
      });
      expect(err.message).toMatch(message);
    }
  });
});
