// Authentication to Vault for one source: which token each call carries, and keeping it alive.
// A token given as a value or in a file (Vault Agent's sink, re-read when the file changes), or one
// obtained by logging in with AppRole or Kubernetes. A token with a TTL is renewed (renew-self) at
// two thirds of it; when Vault refuses the renewal, or caps it because the max TTL is near, the
// source logs in again before the token ends. A call refused with 403 because the token died anyway
// (revoked, clock skew) logs in once and is sent once more — never a loop. close() stops the timer.
import { readFile, stat } from 'node:fs/promises';
import { closedSourceError, type Finding, MtlsError } from '@mtlskit/core/adapter';
import type { VaultRequest, VaultTransport } from './client.js';
import { objectBody } from './client.js';
import { statusOf, toMtlsError, type VaultCallContext, vaultMessage } from './errors.js';

/** Where the Kubernetes service-account token is projected by default. */
export const KUBERNETES_JWT_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** A secret given directly, or a function returning it (another reference, a secret manager...). */
export type SecretInput = string | (() => string | Promise<string>);

/** How the source authenticates to Vault. */
export type VaultAuth =
  | {
      method: 'token';
      /** The token. Default `VAULT_TOKEN` (when no tokenFile is given). */
      token?: string;
      /** A file holding the token, as Vault Agent's file sink writes it; re-read whenever it changes. */
      tokenFile?: string;
      /** Renew the token (renew-self) at two thirds of its TTL. Default true. */
      renew?: boolean;
    }
  | {
      method: 'approle';
      roleId?: string;
      /** A file holding the role id (Vault Agent's `role_id_file_path`). */
      roleIdFile?: string;
      /** The secret id, or a function that returns it; omit for a role with `bind_secret_id=false`. */
      secretId?: SecretInput;
      /** A file holding the secret id, read at each login. */
      secretIdFile?: string;
      /** The AppRole auth mount. Default `approle`. */
      mount?: string;
      /** The namespace of the auth mount, when not the source's. */
      namespace?: string;
    }
  | {
      method: 'kubernetes';
      /** The Vault role bound to the service account. */
      role: string;
      /** The service-account JWT; default: read from `jwtFile` at each login. */
      jwt?: SecretInput;
      /** Default {@link KUBERNETES_JWT_FILE} (projected tokens rotate: it is read at each login). */
      jwtFile?: string;
      /** The Kubernetes auth mount. Default `kubernetes`. */
      mount?: string;
      namespace?: string;
    };

/** The token in use and what is known of its lease. */
interface Lease {
  token: string;
  /** When the current TTL started (ms since the epoch). */
  since: number;
  /** The TTL in ms: undefined when unknown, 0 when the token never expires. */
  ttlMs: number | undefined;
  /** The TTL first granted: a renewal granting less was capped by the max TTL. */
  firstTtlMs: number | undefined;
  renewable: boolean;
  /** The next timer logs in again instead of renewing (the max TTL is near). */
  relogin?: boolean;
}

export interface AuthenticatorOptions {
  sourceId: string;
  endpoint: string;
  /** The namespace of the source's calls. */
  namespace: string | undefined;
  onWarning: (finding: Finding) => void;
}

/** Fraction of a TTL after which the token is renewed. */
const RENEW_FRACTION = 2 / 3;
const RETRY_CAP_MS = 30_000;

function missingFile(sourceId: string, what: string, path: string, cause: unknown): MtlsError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new MtlsError(
    'SOURCE_UNAVAILABLE',
    `cannot read the ${what} file "${path}" (${code ?? 'empty'}) — ${
      what === 'Vault token'
        ? 'Vault Agent writes it once it has authenticated; check the agent is running and its sink path'
        : 'check the path and that the process may read it'
    }; it is read again at the next attempt`,
    { sourceId, cause },
  );
}

async function readSecretFile(sourceId: string, what: string, path: string): Promise<string> {
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    throw missingFile(sourceId, what, path, err);
  }
  if (text === '') throw missingFile(sourceId, what, path, undefined);
  return text;
}

async function secretOf(input: SecretInput): Promise<string> {
  return (typeof input === 'function' ? await input() : input).trim();
}

/** Waits for `promise`, or rejects at once with the abort reason (the shared work goes on). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * The tokens of one source. Without `auth` (an application's client used as is) every call goes
 * with the client's own token, and nothing is renewed: the application owns it.
 */
export class VaultAuthenticator {
  #lease: Lease | undefined;
  #login: Promise<Lease> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #fileStamp: string | undefined;
  #retries = 0;
  #warned = new Set<string>();

  constructor(
    private readonly auth: VaultAuth | undefined,
    private readonly transport: VaultTransport,
    private readonly opts: AuthenticatorOptions,
  ) {}

  /** The namespace of the auth mount and of the tokens it gives. */
  get #authNamespace(): string | undefined {
    return this.auth !== undefined && this.auth.method !== 'token' && this.auth.namespace !== undefined
      ? this.auth.namespace
      : this.opts.namespace;
  }

  get #canLogin(): boolean {
    return this.auth?.method === 'approle' || this.auth?.method === 'kubernetes';
  }

  #ctx(action: string): VaultCallContext {
    return { sourceId: this.opts.sourceId, action, endpoint: this.opts.endpoint };
  }

  #warn(code: string, message: string, fix: string): void {
    if (this.#warned.has(code)) return;
    this.#warned.add(code);
    try {
      this.opts.onWarning({ code, severity: 'warning', message, fix });
    } catch {
      // A throwing warning handler must not break authentication.
    }
  }

  /**
   * Sends `req` with the current token. A 403 that the token's death explains (expired, revoked,
   * replaced in its file) gets one new token and one more attempt; a second refusal is final.
   */
  async request(req: VaultRequest, ctx: VaultCallContext, signal?: AbortSignal): Promise<unknown> {
    const token = await this.token(signal);
    try {
      return await this.transport.raw({ ...req, token }, ctx, signal);
    } catch (err) {
      if ((signal?.aborted && err === signal.reason) || err instanceof MtlsError) throw err;
      if (token !== undefined && (await this.#recover(token, err, signal))) {
        return this.transport.call({ ...req, token: await this.token(signal) }, ctx, signal);
      }
      throw toMtlsError(err, ctx);
    }
  }

  #closedError(): MtlsError {
    return closedSourceError(this.opts.sourceId);
  }

  /** The token for the next call (logging in, or re-reading the token file, when needed). */
  async token(signal?: AbortSignal): Promise<string | undefined> {
    if (this.#closed) throw this.#closedError();
    signal?.throwIfAborted();
    const auth = this.auth;
    if (auth === undefined) return undefined;
    if (auth.method === 'token') {
      if (auth.tokenFile !== undefined) await this.#readTokenFile(auth.tokenFile, false);
      else if (this.#lease === undefined) this.#adopt(auth.token ?? '');
      return this.#lease!.token;
    }
    const lease = this.#lease;
    if (lease !== undefined && !this.#expired(lease)) return lease.token;
    return (await abortable(this.#sharedLogin(), signal)).token;
  }

  /** Stops renewing. Idempotent. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #expired(lease: Lease): boolean {
    if (!lease.ttlMs) return false;
    // A token about to end is as good as ended: the call would race its expiry.
    const margin = Math.min(1_000, lease.ttlMs / 10);
    return Date.now() >= lease.since + lease.ttlMs - margin;
  }

  /** A token given as such: its TTL is learnt from lookup-self, in the background. */
  #adopt(token: string): void {
    clearTimeout(this.#timer);
    const lease: Lease = {
      token,
      since: Date.now(),
      ttlMs: undefined,
      firstTtlMs: undefined,
      renewable: false,
    };
    this.#lease = lease;
    if (this.auth?.method === 'token' && this.auth.renew !== false) void this.#learnTtl(lease);
  }

  async #learnTtl(lease: Lease): Promise<void> {
    try {
      const body = objectBody(
        await this.transport.raw(
          {
            method: 'GET',
            path: 'auth/token/lookup-self',
            token: lease.token,
            namespace: this.opts.namespace,
          },
          this.#ctx('look up the token'),
        ),
        this.#ctx('look up the token'),
      );
      const data = (body.data ?? {}) as Record<string, unknown>;
      const ttl = typeof data.ttl === 'number' ? data.ttl : 0;
      if (this.#lease !== lease || this.#closed || ttl <= 0) return;
      const period = typeof data.creation_ttl === 'number' && data.creation_ttl > 0 ? data.creation_ttl : ttl;
      lease.since = Date.now();
      lease.ttlMs = ttl * 1000;
      lease.firstTtlMs = period * 1000;
      lease.renewable = data.renewable === true;
      this.#schedule(lease);
    } catch {
      // Without lookup-self (a policy without the default one) the token is used as is, not renewed.
    }
  }

  /** Reads the token file when it changed (or always, `force`); true when the token changed. */
  async #readTokenFile(path: string, force: boolean): Promise<boolean> {
    let stamp: string;
    try {
      const st = await stat(path);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      throw missingFile(this.opts.sourceId, 'Vault token', path, err);
    }
    if (!force && stamp === this.#fileStamp && this.#lease !== undefined) return false;
    const token = await readSecretFile(this.opts.sourceId, 'Vault token', path);
    this.#fileStamp = stamp;
    if (this.#lease?.token === token) return false;
    this.#adopt(token);
    return true;
  }

  /** One login at a time: concurrent callers share it. */
  #sharedLogin(): Promise<Lease> {
    this.#login ??= this.#doLogin().finally(() => {
      this.#login = undefined;
    });
    return this.#login;
  }

  async #doLogin(): Promise<Lease> {
    const auth = this.auth;
    if (auth === undefined || auth.method === 'token') throw new Error('no login method');
    const mount = (auth.mount ?? auth.method).replace(/^\/+|\/+$/g, '');
    const action =
      auth.method === 'approle' ? 'log in with AppRole' : `log in with Kubernetes role "${auth.role}"`;
    const ctx = this.#ctx(`${action} (auth/${mount}/login)`);
    let body: Record<string, unknown>;
    if (auth.method === 'approle') {
      const roleId =
        auth.roleIdFile !== undefined
          ? await readSecretFile(this.opts.sourceId, 'AppRole role id', auth.roleIdFile)
          : (auth.roleId ?? '');
      body = { role_id: roleId };
      if (auth.secretIdFile !== undefined) {
        body.secret_id = await readSecretFile(this.opts.sourceId, 'AppRole secret id', auth.secretIdFile);
      } else if (auth.secretId !== undefined) {
        body.secret_id = await secretOf(auth.secretId);
      }
    } else {
      const jwt =
        auth.jwt !== undefined
          ? await secretOf(auth.jwt)
          : await readSecretFile(
              this.opts.sourceId,
              'Kubernetes service-account token',
              auth.jwtFile ?? KUBERNETES_JWT_FILE,
            );
      body = { role: auth.role, jwt };
    }
    // Closed while the login's secret was being read: no login for a source nobody uses.
    if (this.#closed) throw this.#closedError();
    const answer = objectBody(
      await this.transport.call(
        { method: 'POST', path: `auth/${mount}/login`, body, namespace: this.#authNamespace },
        ctx,
      ),
      ctx,
    );
    const got = (answer.auth ?? {}) as Record<string, unknown>;
    if (typeof got.client_token !== 'string' || got.client_token === '') {
      throw new MtlsError(
        'SOURCE_UNAVAILABLE',
        `could not ${ctx.action}: Vault's answer held no token — the call is retried`,
        {
          sourceId: this.opts.sourceId,
        },
      );
    }
    const ttlMs = typeof got.lease_duration === 'number' ? got.lease_duration * 1000 : 0;
    const lease: Lease = {
      token: got.client_token,
      since: Date.now(),
      ttlMs,
      firstTtlMs: ttlMs,
      renewable: got.renewable === true,
    };
    if (!this.#closed) {
      this.#lease = lease;
      this.#retries = 0;
      this.#schedule(lease);
    }
    return lease;
  }

  /** Arms the timer at `fraction` of the lease's TTL (renew, or log in again). */
  #schedule(lease: Lease, delayMs?: number): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#closed || !lease.ttlMs) return;
    const wait = delayMs ?? Math.max(0, lease.since + lease.ttlMs * RENEW_FRACTION - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#onTimer(lease);
    }, wait);
    this.#timer.unref();
  }

  async #onTimer(lease: Lease): Promise<void> {
    if (this.#closed || this.#lease !== lease) return;
    if (lease.renewable && !lease.relogin) await this.#renew(lease);
    else if (this.#canLogin) await this.#relogin();
  }

  async #renew(lease: Lease): Promise<void> {
    const ctx = this.#ctx('renew the token (auth/token/renew-self)');
    let answer: Record<string, unknown>;
    try {
      answer = objectBody(
        await this.transport.raw(
          {
            method: 'POST',
            path: 'auth/token/renew-self',
            body: {},
            token: lease.token,
            namespace: this.#canLogin ? this.#authNamespace : this.opts.namespace,
          },
          ctx,
        ),
        ctx,
      );
    } catch (err) {
      if (this.#closed || this.#lease !== lease) return;
      const status = statusOf(err);
      if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
        // Refused (not renewable, revoked, expired): only a new login helps.
        if (this.#canLogin) await this.#relogin();
        else {
          this.#warn(
            'VAULT_TOKEN_RENEWAL_REFUSED',
            `Vault refused to renew the token of ${this.opts.sourceId} (${vaultMessage(err) || `status ${status}`}); it will stop working when its TTL ends.`,
            'Give the source a renewable token, a token file kept fresh by Vault Agent, or an AppRole or Kubernetes login.',
          );
        }
        return;
      }
      // Vault unreachable for now: try again before the token ends.
      const left = lease.since + (lease.ttlMs ?? 0) - Date.now();
      if (left > 2_000) this.#schedule(lease, Math.min(left / 2, RETRY_CAP_MS));
      else if (this.#canLogin) {
        lease.relogin = true; // no time left to renew: the next timer logs in
        this.#schedule(lease, Math.max(0, left - 1_000));
      }
      return;
    }
    if (this.#closed || this.#lease !== lease) return;
    const got = (answer.auth ?? {}) as Record<string, unknown>;
    const granted = typeof got.lease_duration === 'number' ? got.lease_duration * 1000 : 0;
    lease.since = Date.now();
    lease.ttlMs = granted;
    lease.renewable = got.renewable !== false;
    if (granted <= 0) {
      if (this.#canLogin) await this.#relogin();
      return;
    }
    if (granted < (lease.firstTtlMs ?? granted)) {
      // Capped by the max TTL: this is the token's last stretch.
      if (this.#canLogin) lease.relogin = true;
      else {
        this.#warn(
          'VAULT_TOKEN_MAX_TTL',
          `The token of ${this.opts.sourceId} reaches its max TTL in ${Math.round(granted / 1000)} s and cannot be renewed past it.`,
          'Replace the token before then (Vault Agent does it for a token file), or use an AppRole or Kubernetes login, which the source renews by logging in again.',
        );
        if (granted < 1_500) return;
      }
    }
    this.#schedule(lease);
  }

  /** Logs in again in the background; on failure, retries with backoff until a login works. */
  async #relogin(): Promise<void> {
    try {
      await this.#sharedLogin();
    } catch {
      if (this.#closed) return;
      const delay = Math.min(RETRY_CAP_MS, 1_000 * 2 ** this.#retries);
      this.#retries += 1;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.#relogin();
      }, delay);
      this.#timer.unref();
    }
  }

  /** After a 403 with `used`: true when a new token is now there to try once more. */
  async #recover(used: string, err: unknown, signal: AbortSignal | undefined): Promise<boolean> {
    const status = statusOf(err);
    if (this.#closed || (status !== 403 && status !== 401) || this.auth === undefined) return false;
    const lease = this.#lease;
    if (lease !== undefined && lease.token !== used) return true; // replaced meanwhile
    if (this.auth.method === 'token') {
      return this.auth.tokenFile !== undefined && (await this.#readTokenFile(this.auth.tokenFile, true));
    }
    const dead =
      lease === undefined ||
      this.#expired(lease) ||
      /invalid token/i.test(vaultMessage(err)) ||
      (await this.#refused(used, signal));
    if (!dead) return false; // a valid token that the policy does not allow here
    if (this.#lease === lease) {
      this.#lease = undefined;
      clearTimeout(this.#timer);
    }
    await abortable(this.#sharedLogin(), signal);
    return true;
  }

  /** Whether Vault refuses the token itself (lookup-self denied), as opposed to the path. */
  async #refused(token: string, signal: AbortSignal | undefined): Promise<boolean> {
    try {
      await this.transport.raw(
        { method: 'GET', path: 'auth/token/lookup-self', token, namespace: this.#authNamespace },
        this.#ctx('look up the token'),
        signal,
      );
      return false;
    } catch (err) {
      const status = statusOf(err);
      return status === 403 || status === 401;
    }
  }
}
