import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { afterEach, describe, expect, it } from 'vitest';
import { TestCA } from '../ca.js';
import { corruptValue } from './faults.js';
import { type HttpProtocol, type LoopbackEmulator, startHttpEmulator } from './http.js';

const VALUE = 'the-secret-value-0123456789';

// A minimal vendor protocol: GET /OPERATION?secret=NAME answers the stored value as JSON.
const echo: HttpProtocol = {
  contentType: 'application/json',
  identify: (r) => ({
    operation: r.url.pathname.slice(1) || 'root',
    secret: r.url.searchParams.get('secret') ?? undefined,
  }),
  handle: (call) => {
    const stored = call.secret === undefined ? undefined : VALUE;
    if (stored === undefined) return { status: 400, body: { error: 'no secret named' } };
    return { status: 200, body: { value: call.corrupt ? corruptValue(stored) : stored } };
  },
  faultResponse: (fault) => ({
    status: { notFound: 404, denied: 403, throttled: 429 }[fault.kind as string] ?? fault.status ?? 500,
    body: { error: fault.code ?? fault.kind, message: fault.message },
  }),
  intercept: (r) => (r.headers.authorization ? undefined : { status: 401, body: { error: 'challenge' } }),
};

interface Answer {
  status: number;
  text: string;
}

function call(
  url: string,
  opts: { timeoutMs?: number; ca?: string; method?: string; body?: string; auth?: boolean } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = send(
      url,
      {
        method: opts.method ?? 'GET',
        headers: opts.auth === false ? {} : { authorization: 'token' },
        agent: false,
        ...(opts.ca ? { ca: opts.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    if (opts.timeoutMs !== undefined) {
      req.setTimeout(opts.timeoutMs, () =>
        req.destroy(Object.assign(new Error('client timeout'), { code: 'TIMEOUT' })),
      );
    }
    req.on('error', reject);
    req.end(opts.body);
  });
}

let emulator: LoopbackEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

describe('startHttpEmulator', () => {
  it('listens on a loopback port and logs each call with its operation, secret, body and status', async () => {
    emulator = await startHttpEmulator(echo);
    expect(emulator.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(emulator.port).toBeGreaterThan(0);

    const answer = await call(`${emulator.url}/read?secret=prod`, { method: 'POST', body: '{"a":1}' });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({ value: VALUE });

    const [logged] = emulator.log.calls();
    expect(logged).toMatchObject({
      seq: 1,
      operation: 'read',
      secret: 'prod',
      method: 'POST',
      path: '/read?secret=prod',
      body: { a: 1 },
      remoteAddress: '127.0.0.1',
      fault: undefined,
      status: 200,
    });
    expect(emulator.log.count({ operation: 'read' })).toBe(1);
    expect(emulator.log.count({ operation: 'other' })).toBe(0);
  });

  it('answers the error faults in the protocol’s own shape, each for one call', async () => {
    emulator = await startHttpEmulator(echo);
    const url = `${emulator.url}/read?secret=prod`;
    emulator.fail('notFound');
    emulator.fail('denied');
    emulator.fail('throttled');
    emulator.fail({ kind: 'serverError', status: 503 });
    emulator.fail({ kind: 'error', code: 'Custom', status: 409, message: 'injected' });

    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await call(url)).status);
    expect(statuses).toEqual([404, 403, 429, 503, 409, 200]);
    expect(emulator.log.calls().map((c) => c.fault)).toEqual([
      'notFound',
      'denied',
      'throttled',
      'serverError',
      'error',
      undefined,
    ]);
  });

  it('applies a fault only to calls of the operation and secret it names', async () => {
    emulator = await startHttpEmulator(echo);
    const fault = emulator.fail({ kind: 'notFound', operation: 'read', secret: 'b' });
    expect((await call(`${emulator.url}/read?secret=a`)).status).toBe(200);
    expect((await call(`${emulator.url}/list?secret=b`)).status).toBe(200);
    expect((await call(`${emulator.url}/read?secret=b`)).status).toBe(404);
    expect(fault.hits).toBe(1);
  });

  it('serves a damaged value under `corrupt` and invalid JSON under `malformed`', async () => {
    emulator = await startHttpEmulator(echo);
    const url = `${emulator.url}/read?secret=prod`;
    emulator.fail('corrupt');
    emulator.fail('malformed');

    const corrupt = await call(url);
    expect(corrupt.status).toBe(200);
    const served = JSON.parse(corrupt.text).value as string;
    expect(served).toHaveLength(VALUE.length);
    expect(served).not.toBe(VALUE);

    const malformed = await call(url);
    expect(malformed.status).toBe(200);
    expect(() => JSON.parse(malformed.text)).toThrow(SyntaxError);
  });

  it('resets the connection without an answer under `reset`', async () => {
    emulator = await startHttpEmulator(echo);
    emulator.fail('reset');
    const failure = await call(`${emulator.url}/read?secret=prod`).catch((err: NodeJS.ErrnoException) => err);
    expect(failure).toBeInstanceOf(Error);
    expect(['ECONNRESET', 'ECONNREFUSED']).toContain((failure as NodeJS.ErrnoException).code);
    expect(emulator.log.last()).toMatchObject({ fault: 'reset', status: undefined });
    expect((await call(`${emulator.url}/read?secret=prod`)).status).toBe(200);
  });

  it('holds the answer back for `delayMs` under `slow`', async () => {
    emulator = await startHttpEmulator(echo);
    emulator.fail({ kind: 'slow', delayMs: 150 });
    const started = performance.now();
    const answer = await call(`${emulator.url}/read?secret=prod`);
    expect(answer.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('holds a `slow` answer until the client gives up, then serves the next call normally', async () => {
    emulator = await startHttpEmulator(echo);
    emulator.fail('slow');
    const failure = await call(`${emulator.url}/read?secret=prod`, { timeoutMs: 100 }).catch((e: Error) => e);
    expect((failure as NodeJS.ErrnoException).code).toBe('TIMEOUT');
    expect((await call(`${emulator.url}/read?secret=prod`)).status).toBe(200);
    expect(emulator.log.calls().map((c) => c.status)).toEqual([undefined, 200]);
  });

  it('releases held answers and cuts connections on close, and closing twice is harmless', async () => {
    emulator = await startHttpEmulator(echo);
    emulator.fail('slow');
    const pending = call(`${emulator.url}/read?secret=prod`).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    await Promise.all([emulator.close(), emulator.close()]);
    expect(await pending).toBeInstanceOf(Error);
    expect(performance.now() - started).toBeLessThan(1000);
    const refused = await call(`${emulator.url}/read?secret=prod`).catch((e: NodeJS.ErrnoException) => e);
    expect((refused as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('lets a protocol answer a preliminary step (an auth challenge) before faults apply', async () => {
    emulator = await startHttpEmulator(echo);
    emulator.fail('throttled');
    expect((await call(`${emulator.url}/read?secret=prod`, { auth: false })).status).toBe(401);
    expect((await call(`${emulator.url}/read?secret=prod`)).status).toBe(429);
    expect(emulator.log.calls().map((c) => [c.status, c.fault])).toEqual([
      [401, undefined],
      [429, 'throttled'],
    ]);
  });

  it('serves HTTPS with a test CA certificate that clients verify', async () => {
    const ca = await TestCA.create();
    const cert = await ca.issueServer();
    emulator = await startHttpEmulator(echo, { tls: { cert: cert.certPem, key: cert.keyPem } });
    expect(emulator.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect((await call(`${emulator.url}/read?secret=prod`, { ca: ca.rootPem })).status).toBe(200);
    const untrusted = await call(`${emulator.url}/read?secret=prod`).catch((e: NodeJS.ErrnoException) => e);
    expect((untrusted as NodeJS.ErrnoException).code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
  });
});
