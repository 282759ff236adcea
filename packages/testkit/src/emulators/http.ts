// The HTTP(S) half of the emulator framework: a loopback server on 127.0.0.1, port 0, that reads each
// request, names the call, logs it, applies any queued fault, and otherwise lets the vendor protocol
// answer. Faults that live below the protocol (reset, slow, malformed) are handled here once; the
// protocol only says how its own errors and values look, and which faults a call can show. AWS speaks plain HTTP JSON through it,
// Azure HTTPS (give `tls`), Vault plain HTTP.

import {
  createServer as createHttpServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { listenOnLoopback } from '../loopback.js';
import {
  type CallIdentity,
  FaultInjector,
  type FaultKind,
  type FaultSpec,
  type InjectedFault,
} from './faults.js';
import { type LoggedCall, RequestLog } from './log.js';
import { SecretStore } from './store.js';

/** A request as the protocol sees it. */
export interface EmulatorRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: IncomingHttpHeaders;
  readonly rawBody: Buffer;
  /** Parsed JSON when the body is JSON, else the text; undefined when empty. */
  readonly body: unknown;
}

/** A request once named, with the fault (if any) that applies to it. */
export interface EmulatorCall extends EmulatorRequest {
  readonly operation: string;
  readonly secret: string | undefined;
  /** True under a `corrupt` fault: the protocol serves a damaged value (see `corruptValue`). */
  readonly corrupt: boolean;
  /** True under a `stale` fault: the protocol serves the version the current one replaced. */
  readonly stale: boolean;
  readonly fault: FaultSpec | undefined;
}

/** An answer: `body` is sent as is when text or bytes, as JSON otherwise. */
export interface EmulatorResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** What a vendor protocol plugs into the HTTP emulator. */
export interface HttpProtocol {
  /** Content type of the protocol's answers, used for JSON bodies and `malformed` faults. */
  readonly contentType: string;
  /** Names the call (operation and secret) so faults can match it and the log can show it. */
  identify(request: EmulatorRequest): CallIdentity;
  /**
   * Whether this call can show a fault of this kind; default: every kind, every call. A fault the
   * call cannot show stays queued for the next matching call that can, so `fail('corrupt')` damages
   * the next call that returns a value, whatever calls come first. Decline what `handle` would ignore
   * (`corrupt` and `stale` on calls that return no secret value); the framework's own kinds (`reset`,
   * `slow`, `malformed`) and the error kinds can be shown by any call.
   */
  accepts?(kind: FaultKind, call: EmulatorRequest & CallIdentity): boolean;
  /** Answers a call that no error fault applies to. */
  handle(call: EmulatorCall): EmulatorResponse | Promise<EmulatorResponse>;
  /**
   * The vendor's answer to `notFound`, `denied`, `throttled`, `serverError` and `error` faults (and,
   * with no call, to the emulator's own failures).
   */
  faultResponse(fault: FaultSpec, call: EmulatorCall | undefined): EmulatorResponse;
  /**
   * Answers a request before any fault applies, or returns undefined to go on: for steps that are
   * not the call itself, such as Azure's first unauthenticated request and its 401 challenge. The
   * request is still logged.
   */
  intercept?(request: EmulatorRequest): EmulatorResponse | undefined;
}

export interface HttpEmulatorOptions {
  /** Serve HTTPS with this certificate (it needs SAN `IP:127.0.0.1`; see `TestCA.issueServer`). */
  tls?: { cert: string | Uint8Array; key: string | Uint8Array };
  /** The store to serve (default: a new empty one with the protocol's labels). */
  secrets?: SecretStore;
}

/** A running emulator: where it listens, what it serves, what goes wrong, and what it saw. */
export interface LoopbackEmulator {
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`. */
  readonly url: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly secrets: SecretStore;
  readonly faults: FaultInjector;
  readonly log: RequestLog;
  /** Shorthand for `faults.inject`: `fail('throttled')`, `fail({ kind: 'slow', delayMs: 500 })`. */
  fail(fault: FaultKind | FaultSpec): InjectedFault;
  /** Stops listening, cuts open connections and releases held answers. Idempotent. */
  close(): Promise<void>;
}

const MAX_BODY = 8 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) req.destroy(new Error('request body too large for the emulator'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseBody(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  const text = raw.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Resolves after `ms` (never, when undefined) or as soon as the client goes or the emulator closes. */
function hold(ms: number | undefined, res: ServerResponse, closing: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = ms === undefined ? undefined : setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      res.off('close', done);
      closing.removeEventListener('abort', done);
      resolve();
    }
    res.once('close', done);
    closing.addEventListener('abort', done, { once: true });
  });
}

function send(res: ServerResponse, answer: EmulatorResponse, contentType: string): void {
  const headers: Record<string, string> = { ...answer.headers };
  let payload: string | Uint8Array | undefined;
  if (answer.body === undefined) payload = undefined;
  else if (typeof answer.body === 'string' || answer.body instanceof Uint8Array) payload = answer.body;
  else {
    payload = JSON.stringify(answer.body);
    headers['content-type'] ??= contentType;
  }
  if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
  res.writeHead(answer.status, headers);
  res.end(payload);
}

function resetConnection(res: ServerResponse): void {
  const socket = res.socket;
  if (!socket) return;
  try {
    // A TCP RST, as a load balancer dropping the connection sends; TLS sockets cannot, so they close.
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/** Starts a vendor protocol on a loopback port. Tests must `close()` it. */
export async function startHttpEmulator(
  protocol: HttpProtocol,
  options: HttpEmulatorOptions = {},
): Promise<LoopbackEmulator> {
  const secrets = options.secrets ?? new SecretStore();
  const faults = new FaultInjector();
  const log = new RequestLog();
  const closing = new AbortController();

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawBody = await readBody(req);
    const request: EmulatorRequest = {
      method: req.method ?? 'GET',
      url: new URL(req.url ?? '/', 'http://127.0.0.1'),
      headers: req.headers,
      rawBody,
      body: parseBody(rawBody),
    };
    const identity = protocol.identify(request);
    const intercepted = protocol.intercept?.(request);
    const accepts = protocol.accepts?.bind(protocol);
    const fault = intercepted
      ? undefined
      : faults.take(identity, accepts && ((kind) => accepts(kind, { ...request, ...identity })));
    const entry: LoggedCall = log.record({
      operation: identity.operation,
      secret: identity.secret,
      method: request.method,
      path: request.url.pathname + request.url.search,
      headers: { ...req.headers },
      body: request.body,
      remoteAddress: req.socket.remoteAddress,
      fault: fault?.kind,
    });
    const call: EmulatorCall = {
      ...request,
      operation: identity.operation,
      secret: identity.secret,
      corrupt: fault?.kind === 'corrupt',
      stale: fault?.kind === 'stale',
      fault,
    };
    res.once('finish', () => {
      entry.status = res.statusCode;
    });
    if (intercepted) {
      send(res, intercepted, protocol.contentType);
      return;
    }

    switch (fault?.kind) {
      case 'reset':
        resetConnection(res);
        return;
      case 'slow':
        await hold(fault.delayMs, res, closing.signal);
        if (res.destroyed || closing.signal.aborted) return;
        break;
      case 'malformed':
        send(
          res,
          { status: 200, headers: { 'content-type': protocol.contentType }, body: '{"truncated' },
          protocol.contentType,
        );
        return;
      case 'notFound':
      case 'denied':
      case 'throttled':
      case 'serverError':
      case 'error':
        send(res, protocol.faultResponse(fault, call), protocol.contentType);
        return;
      default:
        break;
    }
    send(res, await protocol.handle(call), protocol.contentType);
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    answer(req, res).catch((err: unknown) => {
      if (res.headersSent || res.destroyed) return;
      const message = `emulator failed: ${err instanceof Error ? err.message : String(err)}`;
      send(res, protocol.faultResponse({ kind: 'serverError', message }, undefined), protocol.contentType);
    });
  };

  const server: Server = options.tls
    ? createHttpsServer({ cert: Buffer.from(options.tls.cert), key: Buffer.from(options.tls.key) }, listener)
    : createHttpServer(listener);
  const port = await listenOnLoopback(server);

  let closed: Promise<void> | undefined;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    secrets,
    faults,
    log,
    fail: (fault) => faults.inject(typeof fault === 'string' ? { kind: fault } : fault),
    close() {
      closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
