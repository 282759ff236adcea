// The rotating node:http2 client (`resolver.http2(authority)`) against a real HTTP/2 server requiring
// client certificates: one session per certificate, a new session on rotation with the old one closed
// once its streams end, no stream refused during the switch, reconnection after GOAWAY or a network error.
import type http2 from 'node:http2';
import { MtlsError, type RotatingHttp2Client } from '@mtlskit/core';
import { describe, expect, it } from 'vitest';
import { sleep } from '../resolver/helpers.js';
import type { H2Reply } from './server.js';
import { expectSeamlessRotations, useH2Suite } from './suite.js';

const suite = useH2Suite();

/** A resolver with its first certificate loaded. */
async function setup() {
  const s = await suite.setup('node h2 client');
  await s.r.credentials();
  return s;
}

/** Reads a stream's JSON reply. */
function replyOf(stream: http2.ClientHttp2Stream): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    stream.on('end', () => {
      try {
        resolve(JSON.parse(body) as H2Reply);
      } catch (err) {
        reject(err);
      }
    });
    stream.on('error', reject);
  });
}

const get = (client: RotatingHttp2Client, path: string) => replyOf(client.request({ ':path': path }));

describe('resolver.http2(authority)', () => {
  it('presents the certificate over h2 and reuses one session', async () => {
    const { r, fp } = await setup();
    const client = r.http2(suite.server.url);
    const [a, b] = await Promise.all([get(client, '/a'), get(client, '/b')]);
    expect(a).toMatchObject({ httpVersion: '2.0', fingerprint256: fp[0] });
    expect(b.session).toBe(a.session);
    expect(client.liveSessions()).toBe(1);
    await client.close();
    expect(() => client.request({ ':path': '/' })).toThrow(MtlsError);
    expect(suite.server.sessions.get(a.session)?.closed).toBe(true);
  });

  it('rejects an authority that is not https', async () => {
    const { r } = await setup();
    expect(() => r.http2('http://localhost:1')).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  it('continuous requests across three rotations: none fails, every request sent after a rotation presents the new certificate, in-flight streams finish, old sessions close', async () => {
    const s = await setup();
    const client = s.r.http2(suite.server.url);
    await expectSeamlessRotations(s, suite.server, {
      fast: () => get(client, '/fast'),
      slow: () => get(client, '/slow'),
    });
    expect(client.liveSessions()).toBe(1);
  });

  it('streams opened on the old session in the task of the rotation finish there, none refused', async () => {
    const { r, serve, fp } = await setup();
    const client = r.http2(suite.server.url);
    const first = await get(client, '/warm');
    serve(1);
    const refreshed = r.refresh();
    // Streams opened on the old session right up to the epoch change, and right after it.
    const before = Array.from({ length: 20 }, () => get(client, '/same-tick'));
    await refreshed;
    const after = Array.from({ length: 20 }, () => get(client, '/after'));
    const replies = await Promise.all([...before, ...after]);
    // Opened on the old session in the same task as the epoch change (the refresh completes in
    // microtasks), they finish there: the old session is closed a turn of the event loop later.
    for (const reply of replies.slice(0, 20)) expect(reply.session).toBe(first.session);
    for (const reply of replies.slice(20)) expect(reply.fingerprint256).toBe(fp[1]);
    await sleep(50);
    expect(suite.server.sessions.get(first.session)?.closed).toBe(true);
  });

  it('reconnects after the server sends GOAWAY and after the connection is destroyed', async () => {
    const { r, fp } = await setup();
    const client = r.http2(suite.server.url);
    const a = await get(client, '/a');
    suite.server.goawayAll();
    await sleep(50);
    const b = await get(client, '/b');
    expect(b.session).not.toBe(a.session);
    expect(b.fingerprint256).toBe(fp[0]);
    suite.server.destroyAll();
    await sleep(50);
    const c = await get(client, '/c');
    expect(c.session).not.toBe(b.session);
    expect(c.fingerprint256).toBe(fp[0]);
  });

  it('closing the resolver closes its HTTP/2 clients', async () => {
    const { r } = await setup();
    const client = r.http2(suite.server.url);
    const a = await get(client, '/a');
    await r.close();
    expect(() => client.request({ ':path': '/' })).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    await sleep(50);
    expect(suite.server.sessions.get(a.session)?.closed).toBe(true);
    expect(() => r.http2(suite.server.url)).toThrow(expect.objectContaining({ code: 'CLOSED' }));
  });
});
