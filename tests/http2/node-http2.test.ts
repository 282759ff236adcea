// The rotating node:http2 client (`resolver.http2(authority)`) against a real HTTP/2 server requiring
// client certificates: one session per certificate, a new session on rotation with the old one closed
// once its streams end, no stream refused during the switch, reconnection after GOAWAY or a network error,
// and a stream the server refuses unprocessed (REFUSED_STREAM, above a GOAWAY's last-stream-id) sent
// again on a fresh session behind the caller's stream object.
import http2 from 'node:http2';
import { MtlsError, type RotatingHttp2Client } from '@mtlskit/core';
import { until } from '@mtlskit/testkit';
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
/** A POST whose body is written through the returned stream, as a caller does. */
function post(client: RotatingHttp2Client, path: string, body: string) {
  const stream = client.request({ ':method': 'POST', ':path': path });
  stream.end(body);
  return { stream, reply: replyOf(stream) };
}

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

  describe('a stream the server refuses unprocessed is sent again, once, on a fresh session', () => {
    it('RST_STREAM REFUSED_STREAM: the caller gets the reply on the stream object it holds, body included', async () => {
      const { r, fp } = await setup();
      const client = r.http2(suite.server.url);
      const warm = await get(client, '/warm');
      const { stream, reply } = post(client, '/refuse/post-body', 'apns payload');
      const events: string[] = [];
      stream.on('response', () => events.push('response'));
      stream.on('error', () => events.push('error'));
      const answer = await reply;
      expect(answer).toMatchObject({ body: 'apns payload', fingerprint256: fp[0], httpVersion: '2.0' });
      // A fresh session: the refusing one takes no new stream.
      expect(answer.session).not.toBe(warm.session);
      expect(events).toEqual(['response']);
      expect(stream.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
      // Node's own listeners stayed on the refused stream: the new one has its own, once.
      for (const name of ['pause', 'headers']) expect(stream.listenerCount(name)).toBe(1);
      expect(suite.server.processed.get('/refuse/post-body')).toBe(1);
      await sleep(50);
      expect(suite.server.sessions.get(warm.session)?.closed).toBe(true);
      await client.close();
    });

    it('a body still open when the stream is refused: the rest written on the stream the caller holds goes to the new one, the refusal and its teardown unseen', async () => {
      const { r } = await setup();
      const client = r.http2(suite.server.url);
      const warm = await get(client, '/warm');
      const before = suite.server.refused.count;
      const stream = client.request({ ':method': 'POST', ':path': '/refuse/open-body' });
      const events: string[] = [];
      for (const name of ['aborted', 'error', 'finish', 'close']) stream.on(name, () => events.push(name));
      const callbacks: unknown[] = [];
      stream.write('first part, ', (error) => callbacks.push(error ?? 'written'));
      const reply = replyOf(stream);
      await until(() => suite.server.refused.count > before, 'the refusal');
      await sleep(50);
      stream.end('second part', () => callbacks.push('ended'));
      const answer = await reply;
      expect(answer.body).toBe('first part, second part');
      expect(answer.session).not.toBe(warm.session);
      expect(suite.server.processed.get('/refuse/open-body')).toBe(1);
      await until(() => events.includes('close'), "the stream's close");
      expect(events).toEqual(['finish', 'close']);
      expect(callbacks).toEqual(['written', 'ended']);
      expect(stream.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
      await client.close();
    });

    it('calls made on the stream after a retry reach the new stream: late listeners, setEncoding in the response handler, async iteration', async () => {
      const { r } = await setup();
      const client = r.http2(suite.server.url);
      const before = suite.server.refused.count;
      // Refused, then answered 800 ms after it is sent again: the calls below come after the retry.
      const stream = client.request({ ':path': '/refuse/late-calls/slow' });
      await until(() => suite.server.refused.count > before, 'the refusal');
      await sleep(50);
      expect(stream.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
      expect(stream.destroyed).toBe(false);
      const status = await new Promise((resolve, reject) => {
        stream.on('response', (headers) => {
          stream.setEncoding('utf8');
          resolve(headers[':status']);
        });
        stream.on('error', reject);
      });
      expect(status).toBe(200);
      const chunks: unknown[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      expect(chunks.every((c) => typeof c === 'string')).toBe(true);
      expect(JSON.parse(chunks.join('')) as H2Reply).toMatchObject({ httpVersion: '2.0' });
      expect(suite.server.processed.get('/refuse/late-calls/slow')).toBe(1);
      await client.close();
    });

    it('replays up to 64 KiB of body; a stream that wrote more before its refusal is not retried', async () => {
      const { r } = await setup();
      const client = r.http2(suite.server.url);
      const part = 'x'.repeat(16 * 1024);
      const fits = client.request({ ':method': 'POST', ':path': '/refuse/64k' });
      for (let i = 0; i < 4; i++) fits.write(part);
      fits.end();
      expect((await replyOf(fits)).body).toHaveLength(64 * 1024);
      const over = client.request({ ':method': 'POST', ':path': '/refuse/64k-and-1' });
      for (let i = 0; i < 4; i++) over.write(part);
      over.end('y');
      await expect(replyOf(over)).rejects.toMatchObject({ code: 'ERR_HTTP2_STREAM_ERROR' });
      expect(over.rstCode).toBe(http2.constants.NGHTTP2_REFUSED_STREAM);
      expect(suite.server.processed.get('/refuse/64k')).toBe(1);
      expect(suite.server.processed.get('/refuse/64k-and-1')).toBeUndefined();
      await client.close();
    });

    it('GOAWAY below streams already sent: those above its last-stream-id are retried, those below finish', async () => {
      const { r } = await setup();
      const client = r.http2(suite.server.url);
      const warm = await get(client, '/warm');
      // Sent together on one session: the server answers a and b, and at /goaway/… (the third
      // stream) sends GOAWAY naming b as the last stream it processes: the third to fifth are refused.
      const paths = ['/goaway-set/a', '/goaway-set/b', '/goaway/set', '/goaway-set/d', '/goaway-set/e'];
      const replies = await Promise.all(paths.map((p) => get(client, p)));
      expect(replies.slice(0, 2).map((x) => x.session)).toEqual([warm.session, warm.session]);
      const retried = replies.slice(2).map((x) => x.session);
      expect(new Set(retried).size).toBe(1);
      expect(retried[0]).not.toBe(warm.session);
      for (const p of paths) expect(suite.server.processed.get(p)).toBe(1);
      await client.close();
    });

    it('a stream the server processed and then reset is not retried, nor one answered and then refused', async () => {
      const { r } = await setup();
      const client = r.http2(suite.server.url);
      await expect(get(client, '/reset/once')).rejects.toMatchObject({ code: 'ERR_HTTP2_STREAM_ERROR' });
      const answered = client.request({ ':path': '/reset-answered/once' });
      const status = new Promise((resolve) => answered.on('response', (h) => resolve(h[':status'])));
      await expect(replyOf(answered)).rejects.toThrow();
      expect(await status).toBe(200);
      await sleep(50);
      expect(suite.server.processed.get('/reset/once')).toBe(1);
      expect(suite.server.processed.get('/reset-answered/once')).toBe(1);
      await client.close();
    });

    it('is retried once: refused again, the refusal reaches the caller', async () => {
      const { r } = await setup();
      const client = r.http2(suite.server.url);
      const before = suite.server.refused.count;
      const stream = client.request({ ':path': '/refuse-always/x' });
      await expect(replyOf(stream)).rejects.toMatchObject({ code: 'ERR_HTTP2_STREAM_ERROR' });
      expect(stream.rstCode).toBe(http2.constants.NGHTTP2_REFUSED_STREAM);
      expect(suite.server.refused.count - before).toBe(2);
      await client.close();
    });

    it('continuous requests with refusals and GOAWAYs across three rotations: no failure seen by the caller, none processed twice', async () => {
      const s = await setup();
      const { r, serve, fp } = s;
      const client = r.http2(suite.server.url);
      const refusedBefore = suite.server.refused.count;
      let generation = 0;
      let running = true;
      let n = 0;
      const results: Array<{ sentIn: number; path: string; reply?: H2Reply; error?: unknown }> = [];
      const worker = async () => {
        while (running) {
          const sentIn = generation;
          const i = n++;
          const path =
            i % 40 === 7 ? `/goaway/load-${i}` : i % 5 === 0 ? `/refuse/load-${i}` : `/fast/load-${i}`;
          try {
            const { reply } = post(client, path, `body ${i}`);
            results.push({ sentIn, path, reply: await reply });
          } catch (error) {
            results.push({ sentIn, path, error });
          }
        }
      };
      const workers = Array.from({ length: 8 }, worker);
      for (let g = 1; g < 4; g++) {
        await sleep(200);
        serve(g);
        await r.refresh();
        generation = g;
      }
      await sleep(200);
      running = false;
      await Promise.all(workers);

      expect(results.filter((x) => x.error !== undefined)).toEqual([]);
      expect(suite.server.refused.count - refusedBefore).toBeGreaterThan(20);
      for (const x of results) {
        expect(suite.server.processed.get(x.path)).toBe(1);
        expect(x.reply?.body).toBe(`body ${x.path.split('-').at(-1)}`);
        expect(fp.indexOf(x.reply?.fingerprint256 as string)).toBeGreaterThanOrEqual(x.sentIn);
      }
      await client.close();
    });
  });
});
