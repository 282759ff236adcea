// The connection to Vault: a node-vault client (the application's, or one built here from options
// and Vault's standard variables), and `request()`, the one way every call of this package goes
// through it — with the token and namespace headers of this source, a deadline, the caller's abort,
// and node-vault's errors mapped to MtlsErrors.
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { type Finding, MtlsError, withDeadline } from '@mtlskit/core/adapter';
import nodeVault from 'node-vault';
import { invalidOption, timeoutError, toMtlsError, type VaultCallContext } from './errors.js';

/** The node-vault client type (`ReturnType<typeof nodeVault>`). */
export type NodeVaultClient = nodeVault.client;

/** How to reach Vault when no client is given. Each defaults to Vault's standard variable. */
export interface VaultConnectionOptions {
  /** Vault's address. Default `VAULT_ADDR`, else `http://127.0.0.1:8200` (node-vault's default). */
  endpoint?: string;
  /** Vault Enterprise namespace for every call. Default `VAULT_NAMESPACE`. */
  namespace?: string;
  /** CA certificate(s) (PEM) to trust for Vault's TLS certificate. Default: the file `VAULT_CACERT` names. */
  ca?: string | Uint8Array;
  /** A PEM file of CA certificates to trust. Default `VAULT_CACERT`. */
  caFile?: string;
  /**
   * Skip verification of Vault's TLS certificate. Default: `VAULT_SKIP_VERIFY` read as Vault reads
   * it (`1`, `t`, `true`…). Never use it outside a test: anyone on the path can read the secrets.
   * A warning is reported when it is on.
   */
  tlsSkipVerify?: boolean;
  /** Where `VAULT_*` variables are read. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Go's strconv.ParseBool, as Vault reads VAULT_SKIP_VERIFY (node-vault itself treats "false" as true). */
function parseBool(raw: string | undefined): boolean | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  return undefined;
}

export interface BuiltClient {
  client: NodeVaultClient;
  endpoint: string;
  /** Closes the sockets of the client's own agents. */
  destroy(): void;
}

/**
 * A node-vault client from options and the environment. TLS always verifies unless told otherwise
 * (node-vault would disable it for any non-empty VAULT_SKIP_VERIFY, `false` included), accepts TLS
 * 1.2 at least, and node-vault's debug output (which prints request bodies: secret values, AppRole
 * secret ids) is off.
 */
export function buildClient(
  options: VaultConnectionOptions,
  id: string,
  warn: (finding: Finding) => void,
): BuiltClient {
  const env = options.env ?? process.env;
  const endpoint = (options.endpoint ?? env.VAULT_ADDR ?? 'http://127.0.0.1:8200').replace(/\/+$/, '');
  try {
    const url = new URL(endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw invalidOption(
      `the Vault address "${endpoint}" is not an http:// or https:// URL — fix VAULT_ADDR or the endpoint option`,
      id,
    );
  }
  let ca: string | Uint8Array | undefined = options.ca;
  const caFile = options.caFile ?? (ca === undefined ? env.VAULT_CACERT || undefined : undefined);
  if (ca === undefined && caFile !== undefined) {
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw invalidOption(
        `cannot read the Vault CA file "${caFile}" (${(err as NodeJS.ErrnoException).code ?? 'error'}) — fix VAULT_CACERT or the caFile option`,
        id,
        err,
      );
    }
  }
  const skip = options.tlsSkipVerify ?? parseBool(env.VAULT_SKIP_VERIFY) ?? false;
  if (skip && endpoint.startsWith('https:')) {
    warn({
      code: 'VAULT_TLS_VERIFY_SKIPPED',
      severity: 'warning',
      message: `${id} does not verify Vault's TLS certificate (${options.tlsSkipVerify === undefined ? 'VAULT_SKIP_VERIFY' : 'tlsSkipVerify'}): anyone between this process and Vault can read the token and the secrets.`,
      fix: "Give Vault's CA instead (VAULT_CACERT or the ca option) and turn verification back on.",
    });
  }
  const httpsAgent = new HttpsAgent({
    keepAlive: true,
    minVersion: 'TLSv1.2',
    rejectUnauthorized: !skip,
    ...(ca === undefined ? {} : { ca: Buffer.from(ca) }),
  });
  const httpAgent = new HttpAgent({ keepAlive: true });
  const client = nodeVault({
    endpoint,
    // Authentication is this package's: node-vault must not pick VAULT_TOKEN up by itself.
    token: '',
    requestOptions: { httpsAgent, httpAgent },
    debug: () => {},
  });
  client.token = '';
  return {
    client,
    endpoint,
    destroy() {
      httpsAgent.destroy();
      httpAgent.destroy();
    },
  };
}

/** One call to Vault. */
export interface VaultRequest {
  method: 'GET' | 'POST' | 'DELETE';
  /** The API path after `/v1/`, segments already encoded, with any query. */
  path: string;
  body?: Record<string, unknown>;
  /** The token to send; absent: the client's own (node-vault's `client.token`). */
  token?: string | undefined;
  /** The namespace to send; absent: none (or the client's). */
  namespace?: string | undefined;
}

/** Sends requests through one node-vault client with a deadline each. */
export class VaultTransport {
  constructor(
    private readonly client: NodeVaultClient,
    readonly endpoint: string,
    private readonly timeoutMs: number,
  ) {}

  /**
   * The body Vault answered (undefined for 204). Rejects with the caller's abort reason, with a
   * timeout MtlsError, or with node-vault's own error (`raw`: left for the caller to map, as the
   * auth layer needs the status first) — see {@link VaultTransport.call} for the mapped form.
   */
  raw(req: VaultRequest, ctx: VaultCallContext, signal?: AbortSignal): Promise<unknown> {
    signal?.throwIfAborted();
    const headers: Record<string, string> = {};
    if (req.token !== undefined) headers['X-Vault-Token'] = req.token;
    if (req.namespace !== undefined && req.namespace !== '') headers['X-Vault-Namespace'] = req.namespace;
    // node-vault forwards `timeout` to axios, so an abandoned call (abort) still ends on its own.
    const requestOptions = { headers, timeout: this.timeoutMs };
    const sent =
      req.method === 'GET'
        ? this.client.read(req.path, requestOptions)
        : req.method === 'DELETE'
          ? this.client.delete(req.path, requestOptions)
          : this.client.write(req.path, req.body ?? {}, requestOptions);
    // node-vault 0.12 passes no signal to axios: the deadline settles without it, and the abandoned
    // request ends at axios's own timeout (the same timeoutMs).
    return withDeadline(() => sent.then((body: unknown) => (body === '' ? undefined : body)), {
      signal,
      timeoutMs: this.timeoutMs + 50,
      onTimeout: () => timeoutError(ctx, this.timeoutMs),
      onError: (err) => {
        // axios's own timeout (ECONNABORTED) is this deadline too.
        const code = (err as { code?: unknown } | undefined)?.code;
        return code === 'ECONNABORTED' || code === 'ETIMEDOUT' ? timeoutError(ctx, this.timeoutMs, err) : err;
      },
    });
  }

  /** {@link raw}, with node-vault's errors mapped to MtlsErrors. */
  async call(req: VaultRequest, ctx: VaultCallContext, signal?: AbortSignal): Promise<unknown> {
    try {
      return await this.raw(req, ctx, signal);
    } catch (err) {
      if (signal?.aborted && err === signal.reason) throw err;
      throw toMtlsError(err, ctx);
    }
  }
}

/** The JSON object Vault answered, or an error saying the answer was not Vault's. */
export function objectBody(body: unknown, ctx: VaultCallContext): Record<string, unknown> {
  if (typeof body === 'object' && body !== null && !Array.isArray(body))
    return body as Record<string, unknown>;
  throw new MtlsError(
    'SOURCE_UNAVAILABLE',
    `could not ${ctx.action}: the answer from ${ctx.endpoint} was not Vault's JSON — check VAULT_ADDR points at Vault (not a proxy or load balancer page); the call is retried`,
    { sourceId: ctx.sourceId },
  );
}
