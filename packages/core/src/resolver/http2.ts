// A node:http2 client that rotates with a resolver. HTTP/2 carries every request of an origin over
// one long-lived session, so a new certificate reaches the server only when a new session is opened:
// on each rotation (epoch change) new requests go on a new session with the current certificate, and
// the old session is closed gracefully (its streams in flight finish, then GOAWAY). The close is never
// issued in the tick of a request() on that session — nghttp2 would refuse that stream
// (NGHTTP2_REFUSED_STREAM). A session ended by the server (GOAWAY) or by a network error is dropped
// and the next request opens a new one. Node resumes no TLS session unless asked, so each session
// performs a full handshake with the certificate current at connect time.
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
    return this.#session().request(headers, options);
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
    session.on('goaway', () => this.#drop(session));
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

  /** Graceful close, a turn of the event loop later: a stream requested in this tick is not refused. */
  #retire(session: http2.ClientHttp2Session): void {
    setImmediate(() => {
      if (!session.closed && !session.destroyed) session.close();
    });
  }
}

function usable(session: http2.ClientHttp2Session): boolean {
  return !session.closed && !session.destroyed;
}
