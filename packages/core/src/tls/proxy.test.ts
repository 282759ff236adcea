// Which proxy a resolver uses and which hosts bypass it. The tunnel itself is tested end to end, with
// a real CONNECT proxy, in tests/resolver/proxy.test.ts.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveProxy, usesProxy } from './proxy.js';

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
      expect(error).toMatchObject({ code: 'INVALID_REFERENCE', field: 'proxy' });
      expect(String((error as Error).message)).not.toContain('pw-123456');
    }
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
