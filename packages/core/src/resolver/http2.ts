// A node:http2 client that rotates with a resolver. HTTP/2 carries every request of an origin over
// one long-lived session, so a new certificate reaches the server only when a new session is opened:
// on each rotation (epoch change) new requests go on a new session with the current certificate, and
// the old session is closed gracefully (its streams in flight finish, then GOAWAY). The close is never
// issued in the tick of a request() on that session — nghttp2 would refuse that stream
// (NGHTTP2_REFUSED_STREAM). A session ended by the server (GOAWAY) or by a network error is dropped
// and the next request opens a new one. Node resumes no TLS session unless asked, so each session
// performs a full handshake with the certificate current at connect time.
//
// A server may still refuse a stream it has not processed — RST_STREAM REFUSED_STREAM (a session it is
// shutting down, its max-concurrent-streams) or a GOAWAY whose last-stream-id is below the stream — and
// such a stream is safe to send again (RFC 9113 §8.7). request() returns a proxy of the stream: if the
// stream is refused before any response, it is sent once more on a fresh session, the caller's
// listeners move to the new stream and the proxy forwards to it, so the caller sees one stream.
import type http2 from 'node:http2';
import { MtlsError } from '../errors.js';
import type { IdentityProvider } from '../tls/identity.js';

/** `http2.connect` options the client passes through; TLS identity options come from the resolver. */
export type Http2SessionOptions = Omit<
  http2.SecureClientSessionOptions,
  'secureContext' | 'cert' | 'key' | 'pfx' | 'passphrase' | 'ca' | 'rejectUnauthorized' | 'session'
>;

export interface Http2ClientOptions {
  /** Passed to `http2.connect` (settings, servername, `peerMaxConcurrentStreams`...). */
  sessionOptions?: Http2SessionOptions;
  /**
   * Send a stream the server refused unprocessed once more on a fresh session, behind the returned
   * stream (a proxy of it). Default true; false returns Node's stream itself and leaves refusals to the
   * caller.
   */
  retryRefusedStreams?: boolean;
}

/** The rotating HTTP/2 client of one authority (`https://host:port`). */
export interface RotatingHttp2Client {
  readonly authority: string;
  /**
   * Opens a stream, as `ClientHttp2Session.request` does, on the session of the current certificate
   * (opened now if needed). Throws `EXPIRED` when the resolver has no usable certificate and `CLOSED`
   * after `close()`.
   */
  request(
    headers?: http2.OutgoingHttpHeaders,
    options?: http2.ClientSessionRequestOptions,
  ): http2.ClientHttp2Stream;
  /** Sessions not yet closed: the current one and those still finishing their streams. */
  liveSessions(): number;
  /** Closes every session gracefully (streams in flight finish); later requests throw `CLOSED`. */
  close(): Promise<void>;
}

interface Entry {
  session: http2.ClientHttp2Session;
  epoch: number;
}

export class Http2Client implements RotatingHttp2Client {
  readonly authority: string;
  readonly #provider: IdentityProvider;
  readonly #options: Http2SessionOptions;
  readonly #retryRefused: boolean;
  #current: Entry | undefined;
  readonly #live = new Set<http2.ClientHttp2Session>();
  #closed = false;
  readonly #onClose: (() => void) | undefined;
  readonly #stopEpochs: () => void;

  constructor(
    provider: IdentityProvider,
    authority: string | URL,
    options: Http2ClientOptions = {},
    onClose?: () => void,
  ) {
    this.#onClose = onClose;
    let url: URL;
    try {
      url = new URL(String(authority));
    } catch {
      throw new MtlsError('INVALID_OPTION', 'http2(authority): give an https URL such as https://host:443');
    }
    if (url.protocol !== 'https:') {
      throw new MtlsError(
        'INVALID_OPTION',
        `http2(authority): ${url.protocol} is not https:; mTLS needs https://`,
      );
    }
    this.authority = url.origin;
    this.#provider = provider;
    this.#options = options.sessionOptions ?? {};
    this.#retryRefused = options.retryRefusedStreams ?? true;
    // An idle client must not hold a session of the old certificate open. (Until it is closed: a
    // closed client must not stay reachable from the resolver.)
    this.#stopEpochs = provider.onEpoch(() => {
      const entry = this.#current;
      if (entry !== undefined && entry.epoch !== provider.epoch) {
        this.#current = undefined;
        this.#retire(entry.session);
      }
    });
  }

  request(
    headers?: http2.OutgoingHttpHeaders,
    options?: http2.ClientSessionRequestOptions,
  ): http2.ClientHttp2Stream {
    const session = this.#session();
    if (!this.#retryRefused) return session.request(headers, options);
    return retryOnRefusal(session, session.request(headers, options), (refusedOn) => {
      // A fresh session: the refusing one takes no new stream (it is retired once its streams end).
      if (this.#current?.session === refusedOn) {
        this.#current = undefined;
        this.#retire(refusedOn);
      }
      return this.#session().request(headers, options);
    });
  }

  liveSessions(): number {
    return this.#live.size;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#current = undefined;
    this.#stopEpochs();
    this.#onClose?.();
    await Promise.all(
      [...this.#live].map(
        (session) =>
          new Promise<void>((resolve) => {
            if (session.closed || session.destroyed) resolve();
            else session.close(() => resolve());
          }),
      ),
    );
  }

  #session(): http2.ClientHttp2Session {
    if (this.#closed) throw new MtlsError('CLOSED', 'this HTTP/2 client was closed; create a new one');
    this.#provider.touch();
    const entry = this.#current;
    const epoch = this.#provider.epoch;
    if (entry !== undefined && entry.epoch === epoch && usable(entry.session)) return entry.session;
    const identity = this.#provider.current();
    if (identity === undefined) {
      throw new MtlsError(
        'EXPIRED',
        'no usable client certificate for a new HTTP/2 session: await the resolver (credentials()) before the first request, and check health().lastError for a failed renewal',
      );
    }
    // Loaded on first use: node:http2 costs 10-30 ms at start-up, and most resolvers never open a session.
    const session = process.getBuiltinModule('node:http2').connect(this.authority, {
      ...this.#options,
      secureContext: identity.secureContext,
      rejectUnauthorized: this.#provider.rejectUnauthorized,
    });
    this.#live.add(session);
    // Errors reach the streams; the session is only dropped so that the next request reconnects.
    session.on('error', () => this.#drop(session));
    session.on('goaway', (_code: number, lastStreamID: number) => {
      goawayLastStreamID.set(session, lastStreamID);
      this.#drop(session);
    });
    session.on('close', () => {
      this.#live.delete(session);
      this.#drop(session);
    });
    this.#current = { session, epoch };
    if (entry !== undefined) this.#retire(entry.session);
    return session;
  }

  #drop(session: http2.ClientHttp2Session): void {
    if (this.#current?.session === session) this.#current = undefined;
  }

  /**
   * Graceful close, a turn of the event loop later (once connected): a stream requested in this tick
   * is not refused.
   */
  #retire(session: http2.ClientHttp2Session): void {
    const close = () =>
      setImmediate(() => {
        if (!session.closed && !session.destroyed) session.close();
      });
    // A session still connecting holds the streams requested on it until it connects: closing it
    // before would fail them (ERR_HTTP2_GOAWAY_SESSION) unsent.
    if (session.connecting) session.once('connect', close);
    else close();
  }
}

function usable(session: http2.ClientHttp2Session): boolean {
  return !session.closed && !session.destroyed;
}

/** RST_STREAM's REFUSED_STREAM (RFC 9113 §7; `http2.constants.NGHTTP2_REFUSED_STREAM`), without loading node:http2. */
const NGHTTP2_REFUSED_STREAM = 0x7;

/** The last-stream-id of the GOAWAY a session received: streams above it were not processed. */
const goawayLastStreamID = new WeakMap<http2.ClientHttp2Session, number>();

/**
 * Request body bytes kept for a replay, written through the stream before its response. A stream that
 * wrote more is not retried: its refusal reaches the caller.
 */
const REPLAY_BODY_LIMIT = 64 * 1024;

/** Events of the stream that tell the server has processed it: after one, nothing is retried. */
const RESPONDED = new Set<string | symbol>(['response', 'headers', 'push']);
/** Events of a stream's end: the first one decides whether a refused stream is sent again. */
const ENDING = new Set<string | symbol>(['aborted', 'error', 'close']);

type WriteCallback = (error?: Error | null) => void;
interface Written {
  chunk: unknown;
  encoding: BufferEncoding | undefined;
  callback: WriteCallback | undefined;
}

/**
 * Returns a proxy of `first` (on `session`) that, if the server refuses the stream before processing it, forwards to
 * `retry(session)`'s stream instead (once). What moves to the new stream: the listeners added to the
 * stream, its encoding and flowing mode, the request body written so far (up to REPLAY_BODY_LIMIT)
 * and end(). What does not: a `setTimeout()` and a pipe's back-pressure on its source (a pipe keeps
 * writing); an async iterator started before the response stays on the refused stream — read the body
 * after `response`, or with listeners.
 */
function retryOnRefusal(
  session: http2.ClientHttp2Session,
  first: http2.ClientHttp2Stream,
  retry: (refusedOn: http2.ClientHttp2Session) => http2.ClientHttp2Stream,
): http2.ClientHttp2Stream {
  let current = first;
  // The first stream's own listeners (Node's), which stay behind.
  const own = new Map<string | symbol, Set<unknown>>();
  for (const name of first.eventNames()) own.set(name, new Set(first.rawListeners(name)));
  let written: Written[] | undefined = [];
  let writtenBytes = 0;
  /** Whether end() was called before the response, and its callback (to replay it). */
  let ended: { callback: WriteCallback | undefined } | undefined;
  let retired = false;

  // Not processed: refused by the server, above its GOAWAY's last-stream-id, or never sent (its session
  // was closed before it connected).
  const refused = (event: string | symbol, error: unknown): boolean =>
    written !== undefined &&
    (first.rstCode === NGHTTP2_REFUSED_STREAM ||
      (first.id !== undefined && first.id > (goawayLastStreamID.get(session) ?? Number.POSITIVE_INFINITY)) ||
      (first.id === undefined &&
        event === 'error' &&
        (error as { code?: unknown } | undefined)?.code === 'ERR_HTTP2_GOAWAY_SESSION'));

  const moveTo = (next: http2.ClientHttp2Stream) => {
    if (first.readableEncoding !== null) next.setEncoding(first.readableEncoding);
    for (const name of first.eventNames()) {
      const keep = own.get(name);
      for (const listener of first.rawListeners(name) as Array<(...args: unknown[]) => void>) {
        if (keep?.has(listener)) continue;
        const once = (listener as { listener?: (...args: unknown[]) => void }).listener;
        if (once !== undefined) next.once(name, once);
        else next.on(name, listener);
      }
    }
    if (first.readableFlowing === true) next.resume();
    else if (first.readableFlowing === false) next.pause();
    for (const w of written ?? []) next.write(w.chunk, w.encoding as BufferEncoding, w.callback);
    if (ended !== undefined) next.end(ended.callback);
    if (first.writableNeedDrain && !next.writableNeedDrain) process.nextTick(() => next.emit('drain'));
  };

  const settle = () => {
    written = undefined;
    // Back to the stream's own emit (assigned, not deleted: the stream keeps its shape).
    first.emit = emit;
  };
  const emit = first.emit;
  // Until the stream is answered or ends, its events pass here first.
  first.emit = function (this: http2.ClientHttp2Stream, name: string | symbol, error?: unknown) {
    if (retired) return false;
    if (RESPONDED.has(name)) settle();
    else if (ENDING.has(name)) {
      if (refused(name, error)) {
        let next: http2.ClientHttp2Stream | undefined;
        try {
          next = retry(session);
        } catch {
          // No session to retry on (the client closed, no usable certificate): the refusal stands.
        }
        if (next !== undefined) {
          retired = true;
          current = next;
          moveTo(next);
          written = undefined;
          return false;
        }
      }
      settle();
    }
    // biome-ignore lint/complexity/noArguments: every argument of the event, without copying them
    return Reflect.apply(emit, this, arguments) as boolean;
  } as typeof first.emit;

  const record = (chunk: unknown, encoding: unknown, callback: unknown): WriteCallback | undefined => {
    const cb = (typeof encoding === 'function' ? encoding : callback) as WriteCallback | undefined;
    if (written === undefined || chunk === undefined || chunk === null) return cb;
    const enc = typeof encoding === 'string' ? (encoding as BufferEncoding) : undefined;
    writtenBytes +=
      typeof chunk === 'string' ? Buffer.byteLength(chunk, enc) : (chunk as Uint8Array).byteLength;
    if (writtenBytes > REPLAY_BODY_LIMIT) {
      written = undefined;
      return cb;
    }
    const entry: Written = {
      chunk: typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array),
      encoding: enc,
      callback: cb,
    };
    written.push(entry);
    // The refused stream's failure to write is not the caller's: the replay calls back instead (and
    // does not call back again a write the refused stream had completed).
    return (
      cb &&
      ((error) => {
        if (retired) return;
        entry.callback = undefined;
        cb(error);
      })
    );
  };

  const methods = new Map<unknown, (...args: unknown[]) => unknown>();
  const proxy: http2.ClientHttp2Stream = new Proxy(first, {
    get(_target, prop) {
      const stream = current;
      if (stream === first && written !== undefined) {
        if (prop === 'write') {
          return (chunk: unknown, encoding?: unknown, callback?: unknown) =>
            first.write(chunk, encoding as BufferEncoding, record(chunk, encoding, callback));
        }
        if (prop === 'end') {
          return (chunk?: unknown, encoding?: unknown, callback?: unknown) => {
            const onEnd =
              typeof chunk === 'function' ? chunk : typeof encoding === 'function' ? encoding : callback;
            const body = typeof chunk === 'function' ? undefined : chunk;
            const cb = record(body, encoding, undefined);
            const end = { callback: onEnd as WriteCallback | undefined };
            ended = end;
            if (body !== undefined && body !== null) first.write(body, encoding as BufferEncoding, cb);
            first.end((error?: Error | null) => {
              if (retired) return;
              const callback = end.callback;
              end.callback = undefined;
              callback?.(error);
            });
            return proxy;
          };
        }
      }
      const value = Reflect.get(stream, prop, stream) as unknown;
      if (typeof value !== 'function') return value;
      let method = methods.get(value);
      if (method === undefined) {
        // Called on the current stream; a method returning the stream (chaining) returns the proxy.
        method = function (this: unknown, ...args: unknown[]) {
          const result = Reflect.apply(value, current, args) as unknown;
          return result === current ? proxy : result;
        };
        methods.set(value, method);
      }
      return method;
    },
    set(_target, prop, value) {
      return Reflect.set(current, prop, value, current);
    },
  });
  return proxy;
}
