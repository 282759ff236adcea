// One source's line to Vault: the node-vault client (given, or built from options and Vault's
// variables), the authenticator holding its token, and `send()`, through which every call of the
// source goes with the source's namespace, token and deadline. Shared by the KV and PKI sources.
import type { Finding } from '@mtlskit/core/adapter';
import { type VaultAuth, VaultAuthenticator } from './auth.js';
import {
  buildClient,
  type NodeVaultClient,
  type VaultConnectionOptions,
  type VaultRequest,
  VaultTransport,
} from './client.js';
import { invalidOption, type VaultCallContext } from './errors.js';

/** What every Vault source takes to reach and authenticate to Vault. */
export interface VaultSessionOptions extends VaultConnectionOptions {
  /** A node-vault client the application configured, used as is (with its own token unless `auth` is given). */
  client?: NodeVaultClient;
  /** How to authenticate; default the token in `VAULT_TOKEN` (or, with `client`, the client's own). */
  auth?: VaultAuth;
  /** Deadline of each call to Vault, in milliseconds. Default 10,000. */
  timeoutMs?: number;
  /** Where warnings go (skipped TLS verification, a token that cannot be renewed…). Default `process.emitWarning`. */
  onWarning?: (finding: Finding) => void;
}

export interface VaultSession {
  readonly endpoint: string;
  readonly onWarning: (finding: Finding) => void;
  /** Sends one call with the source's namespace and token (see VaultAuthenticator.request). */
  send(
    req: Omit<VaultRequest, 'token' | 'namespace'>,
    ctx: VaultCallContext,
    signal?: AbortSignal,
  ): Promise<unknown>;
  /** Stops the token's timers and closes the sockets of a client built here. */
  close(): void;
}

const DEFAULT_TIMEOUT_MS = 10_000;

function validateAuth(
  auth: VaultAuth,
  id: string,
  env: Readonly<Record<string, string | undefined>>,
): VaultAuth {
  switch (auth.method) {
    case 'token': {
      if (auth.tokenFile !== undefined) return auth;
      const token = auth.token ?? env.VAULT_TOKEN;
      if (!token) {
        throw invalidOption(
          'no Vault token: set VAULT_TOKEN, or give auth.token or auth.tokenFile (Vault Agent’s sink)',
          id,
        );
      }
      return { ...auth, token };
    }
    case 'approle':
      if (auth.roleId === undefined && auth.roleIdFile === undefined) {
        throw invalidOption('AppRole login needs roleId or roleIdFile', id);
      }
      return auth;
    case 'kubernetes':
      if (!auth.role)
        throw invalidOption('Kubernetes login needs the Vault role bound to the service account', id);
      return auth;
    default:
      throw invalidOption(
        `unknown auth method ${JSON.stringify((auth as { method?: unknown }).method)}: use token, approle or kubernetes`,
        id,
      );
  }
}

/** Checks the options and opens the session; nothing is sent before the first call. */
export function openSession(options: VaultSessionOptions, id: string): VaultSession {
  const env = options.env ?? process.env;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw invalidOption(`timeoutMs must be a positive number, got ${timeoutMs}`, id);
  }
  const onWarning =
    options.onWarning ??
    ((f: Finding) =>
      process.emitWarning(`${f.message} ${f.fix}`, { type: 'MtlskitWarning', code: `MTLSKIT_${f.code}` }));

  const injected = options.client;
  if (injected !== undefined) {
    const c = injected as { read?: unknown; write?: unknown; namespace?: unknown };
    if (typeof c.read !== 'function' || typeof c.write !== 'function') {
      throw invalidOption('the client given is not a node-vault client (no read/write)', id);
    }
    if (
      options.namespace !== undefined &&
      typeof c.namespace === 'string' &&
      c.namespace !== '' &&
      c.namespace !== options.namespace
    ) {
      throw invalidOption(
        `the client is set to namespace "${c.namespace}" and the options to "${options.namespace}": node-vault sends the client's — give one`,
        id,
      );
    }
  }
  const auth =
    options.auth !== undefined
      ? validateAuth(options.auth, id, env)
      : injected === undefined
        ? validateAuth({ method: 'token' }, id, env)
        : undefined;
  const built = injected === undefined ? buildClient(options, id, onWarning) : undefined;
  const client = injected ?? built!.client;
  const endpoint = built?.endpoint ?? String((injected as { endpoint?: unknown }).endpoint ?? 'Vault');
  const namespace = options.namespace ?? (built !== undefined ? env.VAULT_NAMESPACE || undefined : undefined);
  const transport = new VaultTransport(client, endpoint, timeoutMs);
  const authenticator = new VaultAuthenticator(auth, transport, {
    sourceId: id,
    endpoint,
    namespace,
    onWarning,
  });
  return {
    endpoint,
    onWarning,
    send: (req, ctx, signal) => authenticator.request({ ...req, namespace }, ctx, signal),
    close() {
      authenticator.close();
      built?.destroy();
    },
  };
}
