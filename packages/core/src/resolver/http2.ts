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
// such a stream is safe to send again (RFC 9113 §8.7). request() returns Node's stream itself, watched
// until its response at little cost: if it is refused before any response, it is sent once more on a
// fresh session, the caller's listeners move to the new stream and the stream the caller holds
// forwards to it, so the caller sees one stream.
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
   * stream (which then forwards to the new one). Default true; false leaves refusals to the caller.
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
    const stream = session.request(headers, options);
    if (this.#retryRefused) {
      retryOnRefusal(session, stream, (refusedOn) => {
        // A fresh session: the refusing one takes no new stream (it is retired once its streams end).
        if (this.#current?.session === refusedOn) {
          this.#current = undefined;
          this.#retire(refusedOn);
        }
        return this.#session().request(headers, options);
      });
    }
    return stream;
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
 * writes more is not retried: its refusal reaches the caller.
 */
const REPLAY_BODY_LIMIT = 64 * 1024;

type Listener = (...args: unknown[]) => void;
type WriteCallback = (error?: Error | null) => void;
interface Written {
  chunk: string | Uint8Array;
  encoding: BufferEncoding | undefined;
  /** The caller's callback, until the refused stream calls it (the replay then does not). */
  callback: WriteCallback | undefined;
}

/**
 * The listeners Node puts on every new ClientHttp2Stream (module functions such as the one that emits
 * 'continue'), learnt from the first stream: a retry leaves them behind. Not those of 'ready' and
 * 'close', which are the stream's own (an end() waiting for an id, an abort signal's clean-up).
 * Learnt once rather than listed per stream: a copy of a stream's listeners costs more than all the
 * rest of the retry's set-up.
 */
const nodeListeners = new WeakSet<Listener>();
let nodeListenersLearnt = false;

function learnNodeListeners(fresh: http2.ClientHttp2Stream): void {
  for (const name of fresh.eventNames()) {
    if (name === 'ready' || name === 'close') continue;
    for (const listener of fresh.rawListeners(name) as Listener[]) nodeListeners.add(listener);
  }
  nodeListenersLearnt = true;
}

/**
 * Lets Node's stream `first` (on `session`) be sent again, once, on `retry(session)`'s stream if the
 * server refuses it before processing it — at almost no cost until then: the caller holds `first`
 * itself, whose `emit`, `write` and `end` are wrapped until it is answered (to see a refusal before the
 * caller does, and to keep the body for a replay). On a refusal the new stream is requested at once and
 * the body written so far is replayed into it (later writes and `end()` go straight to it); once Node
 * has torn the refused stream down (its `close`, which like the rest of that teardown does not reach the
 * caller), the caller's listeners, encoding and flowing mode move to the new stream and `first`'s public
 * methods and accessors forward to it (`redirect`). What does not move: a `setTimeout()` (Node clears it
 * on the refused stream), 'ready' listeners, the back-pressure of a pipe set up before the refusal, and an async iterator
 * started before the response; nor does a call other than `write`/`end` (or one adding listeners,
 * setting the encoding, pausing or resuming) made between the refusal and the end of Node's work on the
 * refused stream (the same turn of the event loop).
 */
function retryOnRefusal(
  session: http2.ClientHttp2Session,
  first: http2.ClientHttp2Stream,
  retry: (refusedOn: http2.ClientHttp2Session) => http2.ClientHttp2Stream,
): void {
  if (!nodeListenersLearnt) learnNodeListeners(first);
  // The stream's own methods, put back once it is settled (assigned, not deleted: it keeps its shape).
  const { emit, write, end } = first;
  /** The body written so far, for a replay. */
  const written: Written[] = [];
  let writtenBytes = 0;
  /** end() before the response, and its callback (to replay it). */
  let ended: { callback: WriteCallback | undefined } | undefined;
  /** The stream sent in `first`'s place, from the refusal on. */
  let next: http2.ClientHttp2Stream | undefined;
  let needDrain = false;
  /** Node ends a refused stream whose body was still open right after emitting its 'aborted'. */
  let nodeEnds = false;

  // Answered, failed without a refusal, or too large a body to replay: Node's stream, as it is.
  const settle = () => {
    first.emit = emit;
    first.write = write;
    first.end = end;
  };

  // Not processed: refused by the server, above its GOAWAY's last-stream-id, or never sent (its
  // session was closed before it connected).
  const refused = (event: string | symbol, error: unknown): boolean =>
    first.rstCode === NGHTTP2_REFUSED_STREAM ||
    (first.id !== undefined && first.id > (goawayLastStreamID.get(session) ?? Number.POSITIVE_INFINITY)) ||
    // Never sent: Node fails it with ERR_HTTP2_GOAWAY_SESSION, after an 'aborted' if its body was open.
    (first.id === undefined &&
      session.closed &&
      (event === 'aborted' ||
        (error as { code?: unknown } | undefined)?.code === 'ERR_HTTP2_GOAWAY_SESSION'));

  const resend = (): boolean => {
    try {
      next = retry(session);
    } catch {
      // No session to retry on (the client closed, no usable certificate): the refusal stands.
      return false;
    }
    needDrain = first.writableNeedDrain;
    for (const w of written) next.write(w.chunk, w.encoding as BufferEncoding, w.callback);
    if (ended !== undefined) next.end(ended.callback);
    return true;
  };

  /** The caller's listeners already moved to `next`. */
  let moved: Set<Listener> | undefined;
  // Moves to `to` what the caller set on `first` (since the last call): listeners, encoding, flowing
  // mode. Not 'ready' listeners: on a stream refused before it was sent, those are Node's, bound to
  // the refused stream (a write, end() or resume() waiting for an id it will never get).
  const carry = (to: http2.ClientHttp2Stream) => {
    moved ??= new Set();
    const encoding = first.readableEncoding;
    if (encoding !== null && encoding !== to.readableEncoding) to.setEncoding(encoding);
    for (const name of first.eventNames()) {
      if (name === 'ready') continue;
      for (const listener of first.rawListeners(name) as Listener[]) {
        if (nodeListeners.has(listener) || moved.has(listener)) continue;
        moved.add(listener);
        const once = (listener as { listener?: Listener }).listener;
        if (once !== undefined) to.once(name, once);
        else to.on(name, listener);
      }
    }
    const flowing = first.readableFlowing;
    if (flowing === true && to.readableFlowing !== true) to.resume();
    else if (flowing === false && to.readableFlowing !== false) to.pause();
  };

  // The refused stream's teardown has ended (its 'close'): the caller's listeners move now; its
  // methods forward once Node is done with it, which ends in this turn's immediates (Node cancels the
  // writes still queued on it there, and would then destroy `redirect`'s forwarding target). A response
  // on the new stream cannot come sooner: its request is sent in those immediates too.
  const adopt = (to: http2.ClientHttp2Stream) => {
    carry(to);
    if (needDrain && !to.writableNeedDrain) process.nextTick(() => to.emit('drain'));
    setImmediate(() => {
      carry(to);
      redirect(first, to);
    });
  };

  // Until the stream is answered or ends, its events pass here first.
  first.emit = function (this: http2.ClientHttp2Stream, name: string | symbol, error?: unknown) {
    if (next !== undefined) {
      // The refused stream's teardown: none of it is the caller's. Its 'close' is the last of it.
      nodeEnds = false;
      if (name === 'close' && moved === undefined) adopt(next);
      return false;
    }
    switch (name) {
      // Answered: processed, nothing to retry.
      case 'response':
      case 'headers':
      case 'push':
        settle();
        break;
      // Its end: the first one decides whether it is sent again.
      case 'aborted':
      case 'error':
      case 'close':
        if (refused(name, error) && resend()) {
          nodeEnds = name === 'aborted';
          if (name === 'close') adopt(next as unknown as http2.ClientHttp2Stream);
          return false;
        }
        settle();
    }
    // biome-ignore lint/complexity/noArguments: every argument of the event, without copying them
    return Reflect.apply(emit, this, arguments) as boolean;
  } as typeof first.emit;

  /** Keeps a chunk for a replay; returns the callback to give the refused stream. */
  const record = (chunk: unknown, encoding: unknown, callback: unknown): WriteCallback | undefined => {
    const cb = (typeof encoding === 'function' ? encoding : callback) as WriteCallback | undefined;
    if (chunk === undefined || chunk === null) return cb;
    const enc = typeof encoding === 'string' ? (encoding as BufferEncoding) : undefined;
    writtenBytes +=
      typeof chunk === 'string' ? Buffer.byteLength(chunk, enc) : (chunk as Uint8Array).byteLength;
    if (writtenBytes > REPLAY_BODY_LIMIT) {
      settle();
      return cb;
    }
    // Copied: once a write has called back, its buffer is the caller's to reuse.
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
        if (next !== undefined) return;
        entry.callback = undefined;
        cb(error);
      })
    );
  };

  first.write = function (
    this: http2.ClientHttp2Stream,
    chunk: unknown,
    encoding?: unknown,
    callback?: unknown,
  ): boolean {
    // biome-ignore lint/complexity/noArguments: write's arguments as given
    if (next !== undefined) return Reflect.apply(next.write, next, arguments) as boolean;
    const cb = record(chunk, encoding, callback);
    const enc = typeof encoding === 'string' ? encoding : undefined;
    return Reflect.apply(write, this, [chunk, enc, cb]) as boolean;
  } as typeof first.write;

  first.end = function (
    this: http2.ClientHttp2Stream,
    chunk?: unknown,
    encoding?: unknown,
    callback?: unknown,
  ): http2.ClientHttp2Stream {
    if (nodeEnds) {
      nodeEnds = false;
      return Reflect.apply(end, this, []) as http2.ClientHttp2Stream;
    }
    if (next !== undefined) {
      // biome-ignore lint/complexity/noArguments: end's arguments as given
      Reflect.apply(next.end, next, arguments);
      return this;
    }
    const onEnd = (
      typeof chunk === 'function' ? chunk : typeof encoding === 'function' ? encoding : callback
    ) as WriteCallback | undefined;
    const body = typeof chunk === 'function' ? undefined : chunk;
    const enc = typeof encoding === 'string' ? encoding : undefined;
    const cb = record(body, enc, undefined);
    // Over the replay limit (record() settled the stream): Node's end(), as called.
    // biome-ignore lint/complexity/noArguments: end's arguments as given
    if (first.end === end) return Reflect.apply(end, this, arguments) as http2.ClientHttp2Stream;
    const ending = { callback: onEnd };
    ended = ending;
    if (body !== undefined && body !== null) Reflect.apply(write, this, [body, enc, cb]);
    if (onEnd === undefined) Reflect.apply(end, this, []);
    else {
      Reflect.apply(end, this, [
        (error?: Error | null) => {
          if (next !== undefined) return;
          ending.callback = undefined;
          onEnd(error);
        },
      ]);
    }
    return this;
  } as typeof first.end;
}

/** What a stream's public surface is made of: a method, or an accessor (settable or not). */
interface Member {
  key: string | symbol;
  accessor: boolean;
  settable: boolean;
}
/** Forwarded symbols: the iteration and disposal protocols (Node's own symbols stay internal). */
const PUBLIC_SYMBOLS = new Set<symbol | undefined>([
  Symbol.asyncIterator,
  (Symbol as { asyncDispose?: symbol }).asyncDispose,
]);
/** Not forwarded: a stream's own events, and push() (its producer side, which only Node calls). */
const NOT_FORWARDED = new Set<string | symbol>(['constructor', 'emit', 'push']);
/** A ClientHttp2Stream's public methods and accessors, read from its prototypes at the first retry. */
let surface: Member[] | undefined;

function publicSurface(stream: object): Member[] {
  const members: Member[] = [];
  const seen = new Set<string | symbol>();
  for (
    let proto = Object.getPrototypeOf(stream) as object | null;
    proto !== null && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto) as object | null
  ) {
    for (const key of Reflect.ownKeys(proto)) {
      if (seen.has(key)) continue;
      seen.add(key);
      if (typeof key === 'symbol' ? !PUBLIC_SYMBOLS.has(key) : key.startsWith('_')) continue;
      if (NOT_FORWARDED.has(key)) continue;
      const d = Object.getOwnPropertyDescriptor(proto, key) as PropertyDescriptor;
      if (d.get !== undefined || d.set !== undefined) {
        members.push({ key, accessor: true, settable: d.set !== undefined });
      } else if (typeof d.value === 'function') members.push({ key, accessor: false, settable: false });
    }
  }
  return members;
}

/**
 * Makes `from`, a refused stream the caller holds and Node is done with, act as `to`: its public
 * methods and accessors become own properties forwarding to `to` (a method returning `to`, to chain,
 * returns `from`). Only a retry pays for this; Node's internals (`_…` and symbol members) stay `from`'s.
 */
function redirect(from: http2.ClientHttp2Stream, to: http2.ClientHttp2Stream): void {
  const target = to as unknown as Record<string | symbol, unknown>;
  surface ??= publicSurface(from);
  for (const { key, accessor, settable } of surface) {
    if (accessor) {
      Object.defineProperty(from, key, {
        configurable: true,
        get: () => target[key],
        set: settable
          ? (value: unknown) => {
              target[key] = value;
            }
          : undefined,
      });
    } else {
      Object.defineProperty(from, key, {
        configurable: true,
        writable: true,
        value: (...args: unknown[]) => {
          const result = Reflect.apply(target[key] as Listener, to, args) as unknown;
          return result === to ? from : result;
        },
      });
    }
  }
}
