// undici over HTTP/2 with a rotating client certificate: `dispatcher({ allowH2: true })` and `fetch`
// negotiate h2 and present the certificate; after each rotation, requests go on a new session with the
// new certificate while streams in flight on the old one finish, and the old session closes.
import { fetch as undiciFetch } from 'undici';
import { describe, expect, it } from 'vitest';
import type { H2Reply } from './server.js';
import { expectSeamlessRotations, useH2Suite } from './suite.js';

const suite = useH2Suite();

async function setup(options: { allowH2InResolver?: boolean } = {}) {
  return suite.setup(
    'h2 client',
    // One connection per origin, multiplexing up to 100 streams (undici 7 sends one request at a
    // time per connection, h2 included, unless `pipelining` says otherwise).
    options.allowH2InResolver
      ? { dispatcherOptions: { allowH2: true, connections: 1, pipelining: 100 } }
      : {},
  );
}

describe('undici with allowH2', () => {
  it('dispatcher({ allowH2: true }) negotiates h2 and presents the certificate; dispatcher() stays http/1.1', async () => {
    const { r, fp } = await setup();
    const h2 = r.dispatcher({ allowH2: true });
    expect(r.dispatcher({ allowH2: true })).toBe(h2);
    expect(r.dispatcher()).not.toBe(h2);
    const a = (await (await undiciFetch(`${suite.server.url}/a`, { dispatcher: h2 })).json()) as H2Reply;
    const b = (await (await undiciFetch(`${suite.server.url}/b`, { dispatcher: h2 })).json()) as H2Reply;
    expect(a).toMatchObject({ httpVersion: '2.0', fingerprint256: fp[0] });
    expect(b.session).toBe(a.session);
    const h1 = (await (
      await undiciFetch(`${suite.server.url}/c`, { dispatcher: r.dispatcher() })
    ).json()) as H2Reply;
    expect(h1).toMatchObject({ httpVersion: '1.1', fingerprint256: fp[0] });
  });

  it('resolver.fetch speaks h2 with dispatcherOptions.allowH2', async () => {
    const { r, fp } = await setup({ allowH2InResolver: true });
    const reply = (await (await r.fetch(`${suite.server.url}/x`)).json()) as H2Reply;
    expect(reply).toMatchObject({ httpVersion: '2.0', fingerprint256: fp[0] });
  });

  it('continuous requests across three rotations: none fails, every request sent after a rotation presents the new certificate, in-flight streams finish, old sessions close', async () => {
    const s = await setup({ allowH2InResolver: true });
    await s.r.credentials();
    const get = async (path: string) =>
      (await (await s.r.fetch(`${suite.server.url}${path}`)).json()) as H2Reply;
    await expectSeamlessRotations(s, suite.server, { fast: () => get('/fast'), slow: () => get('/slow') });
    expect((s.r.dispatcher() as unknown as { liveAgents(): number }).liveAgents()).toBe(1);
  });
});
