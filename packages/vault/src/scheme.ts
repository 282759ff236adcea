// The `vault:` and `vault-pki:` reference grammars: paths, options and the rules between them. No
// node-vault here (this module is `@mtlskit/vault/scheme`, which core loads to parse a reference);
// index.ts turns a parsed reference into a source.
import { defineScheme, type ReferenceCursor, type SchemeOptions } from '@mtlskit/core/adapter';

/** How a reference authenticates: only what a reference may say (files and ids, never a secret). */
export type VaultAuthTarget =
  | { method: 'token'; tokenFile?: string }
  | { method: 'approle'; roleId?: string; roleIdFile?: string; secretIdFile?: string; mount?: string }
  | { method: 'kubernetes'; role: string; jwtFile?: string; mount?: string };

/** `vault://…`: a KV secret. */
export interface VaultTarget {
  mount: string;
  /** The secret's path inside the mount. */
  path: string;
  /** Absent: detected from the mount. */
  kv?: 1 | 2;
  /** A KV v2 version; absent: the current one. */
  version?: number;
  namespace?: string;
  endpoint?: string;
  bundleField?: string;
  certField?: string;
  keyField?: string;
  /** Absent: the token in VAULT_TOKEN (or an injected client's own). */
  auth?: VaultAuthTarget;
}

/** `vault-pki://MOUNT/sign|issue/ROLE`: certificates minted by Vault PKI. */
export interface VaultPkiTarget {
  mount: string;
  mode: 'sign' | 'issue';
  role: string;
  commonName: string;
  /** Request parameters passed to Vault as written (`alt_names`, `ttl`, `other_sans`…), common_name excluded. */
  params: Readonly<Record<string, string>>;
  keyType?: 'ec-p256' | 'rsa2048';
  trustIssuingCa?: boolean;
  namespace?: string;
  endpoint?: string;
  auth?: VaultAuthTarget;
}

const AUTH_OPTIONS = {
  auth: {
    type: 'enum',
    values: ['token', 'approle', 'kubernetes'],
    description: 'How to log in: `token` (VAULT_TOKEN, or tokenFile), `approle` or `kubernetes`.',
    default: 'token',
  },
  tokenFile: {
    type: 'string',
    description: '`auth=token`: the file Vault Agent’s sink writes (re-read when it changes).',
  },
  roleId: { type: 'string', description: '`auth=approle`: the role id.' },
  roleIdFile: { type: 'string', description: '`auth=approle`: a file holding the role id.' },
  secretIdFile: {
    type: 'string',
    description:
      '`auth=approle`: a file holding the secret id, read at each login (a secret id is never written in a reference).',
  },
  role: { type: 'string', description: '`auth=kubernetes`: the Vault role bound to the service account.' },
  jwtFile: {
    type: 'string',
    description: '`auth=kubernetes`: the service-account token file; default the projected one.',
  },
  authMount: { type: 'string', description: 'The auth method’s mount; default `approle` or `kubernetes`.' },
} as const satisfies SchemeOptions;

const CONNECTION_OPTIONS = {
  namespace: { type: 'string', description: 'Vault Enterprise namespace; default `VAULT_NAMESPACE`.' },
  endpoint: { type: 'url', description: 'Vault’s address; default `VAULT_ADDR`.' },
  timeoutMs: {
    type: 'integer',
    description: 'Deadline of each call to Vault, in ms.',
    default: 10_000,
    min: 1,
  },
} as const satisfies SchemeOptions;

const ONLY_FOR: Record<string, 'token' | 'approle' | 'kubernetes' | 'login'> = {
  tokenFile: 'token',
  roleId: 'approle',
  roleIdFile: 'approle',
  secretIdFile: 'approle',
  role: 'kubernetes',
  jwtFile: 'kubernetes',
  authMount: 'login',
};

/** The auth a reference names, with the rules between its options. */
function authOf(c: ReferenceCursor): VaultAuthTarget | undefined {
  const method = (c.options.auth ?? 'token') as VaultAuthTarget['method'];
  for (const [name, only] of Object.entries(ONLY_FOR)) {
    if (c.options[name] === undefined) continue;
    const fits = only === 'login' ? method !== 'token' : only === method;
    if (!fits) {
      throw c.optionProblem(
        name,
        `${name}= belongs to auth=${only === 'login' ? 'approle or auth=kubernetes' : only}, not auth=${method}`,
        `Add auth=${only === 'login' ? 'approle' : only}, or drop ${name}=.`,
      );
    }
  }
  const o = c.options;
  switch (method) {
    case 'token':
      return o.tokenFile === undefined ? undefined : { method, tokenFile: o.tokenFile };
    case 'approle':
      if (o.roleId === undefined && o.roleIdFile === undefined) {
        throw c.optionProblem('auth', 'auth=approle needs the role id', 'Add roleId=… or roleIdFile=PATH.');
      }
      return {
        method,
        ...(o.roleId !== undefined && { roleId: o.roleId }),
        ...(o.roleIdFile !== undefined && { roleIdFile: o.roleIdFile }),
        ...(o.secretIdFile !== undefined && { secretIdFile: o.secretIdFile }),
        ...(o.authMount !== undefined && { mount: o.authMount }),
      };
    default:
      if (o.role === undefined) {
        throw c.optionProblem('auth', 'auth=kubernetes needs the Vault role', 'Add role=NAME.');
      }
      return {
        method: 'kubernetes',
        role: o.role,
        ...(o.jwtFile !== undefined && { jwtFile: o.jwtFile }),
        ...(o.authMount !== undefined && { mount: o.authMount }),
      };
  }
}

function connectionOf(c: ReferenceCursor): { namespace?: string; endpoint?: string; auth?: VaultAuthTarget } {
  const auth = authOf(c);
  return {
    ...(c.options.namespace !== undefined && { namespace: c.options.namespace }),
    ...(c.options.endpoint !== undefined && { endpoint: c.options.endpoint.replace(/\/+$/, '') }),
    ...(auth !== undefined && { auth }),
  };
}

const VAULT_FORM = 'vault://MOUNT/PATH or vault://PATH?mount=MOUNT';

export const vaultScheme = defineScheme<'vault', VaultTarget>({
  scheme: 'vault',
  packageName: '@mtlskit/vault',
  slashes: true,
  form: 'vault://[MOUNT/]PATH[?mount=MOUNT][&kv=1|2][&version=N][&options]',
  summary:
    'HashiCorp Vault KV v1/v2: a secret holding the fields. Without `mount`, the first segment of PATH is the mount; `kv` is asked of Vault when absent.',
  options: {
    mount: {
      type: 'string',
      description: 'The KV mount, for nested mounts (`team-a/kv`); PATH is then inside it.',
    },
    kv: { type: 'enum', values: ['1', '2'], description: 'KV version; asked of Vault when absent.' },
    version: { type: 'integer', description: 'A KV v2 version number; default the current one.', min: 1 },
    bundleField: { type: 'string', description: 'The one field holding the whole credential.' },
    certField: {
      type: 'string',
      description: 'The field holding the certificate; default `cert` or an alias.',
    },
    keyField: {
      type: 'string',
      description: 'The field holding the private key; default `key` or an alias.',
    },
    ...CONNECTION_OPTIONS,
    ...AUTH_OPTIONS,
    passphrase: {
      type: 'reference',
      description: 'A reference to the key’s passphrase, e.g. `env:MTLS_PASSPHRASE`.',
    },
    ca: { type: 'reference', description: 'A reference to the CA certificates to trust for the server.' },
  },
  build(c: ReferenceCursor): VaultTarget {
    c.requireSlashes(VAULT_FORM);
    if (c.path === '') throw c.pathProblem('the secret path is missing', `Write ${VAULT_FORM}.`, 0, 1);
    const segs = c.segments('secret path');
    let mount: string;
    let path: string;
    if (c.options.mount !== undefined) {
      const m = c.options.mount.replace(/^\/+|\/+$/g, '');
      if (m === '' || m.split('/').some((s) => s === '' || s === '.' || s === '..')) {
        throw c.optionProblem(
          'mount',
          `mount=${c.options.mount} is not a mount path`,
          'Write e.g. mount=team-a/kv.',
        );
      }
      mount = m;
      path = segs.join('/');
    } else {
      if (segs.length < 2) {
        throw c.pathProblem(
          `"${c.path}" names a mount but no secret inside it`,
          `Write ${VAULT_FORM} (without mount=, the first segment is the mount).`,
        );
      }
      mount = segs[0]!;
      path = segs.slice(1).join('/');
    }
    const kv = c.options.kv === undefined ? undefined : (Number(c.options.kv) as 1 | 2);
    const version = c.value<number>('version');
    if (version !== undefined && kv === 1) {
      throw c.optionProblem(
        'version',
        'KV v1 keeps no versions',
        'Drop version= or use a KV v2 mount (kv=2).',
      );
    }
    if (c.options.bundleField !== undefined && (c.options.certField ?? c.options.keyField) !== undefined) {
      throw c.optionProblem(
        'bundleField',
        'bundleField= names one field holding everything, certField=/keyField= one field each',
        'Give one or the other.',
      );
    }
    return {
      mount,
      path,
      ...(kv !== undefined && { kv }),
      ...(version !== undefined && { version }),
      ...(c.options.bundleField !== undefined && { bundleField: c.options.bundleField }),
      ...(c.options.certField !== undefined && { certField: c.options.certField }),
      ...(c.options.keyField !== undefined && { keyField: c.options.keyField }),
      ...connectionOf(c),
    };
  },
});

const PKI_FORM = 'vault-pki://MOUNT/sign/ROLE or vault-pki://MOUNT/issue/ROLE';
const PKI_PARAMS = [
  'alt_names',
  'ip_sans',
  'uri_sans',
  'other_sans',
  'ttl',
  'not_after',
  'exclude_cn_from_sans',
];
/**
 * A Vault duration: numbers each with a unit, the last one's optional (seconds): `72h`, `1h30m`,
 * `3600`, `1.5h`. Written so each text matches one way only (no backtracking over long digit runs).
 */
const VAULT_DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d))*\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d)?$/;

export const vaultPkiScheme = defineScheme<'vault-pki', VaultPkiTarget>({
  scheme: 'vault-pki',
  packageName: '@mtlskit/vault',
  slashes: true,
  form: 'vault-pki://MOUNT/sign/ROLE?common_name=CN[&options] | vault-pki://MOUNT/issue/ROLE?common_name=CN[&options]',
  summary:
    'HashiCorp Vault PKI: `sign` sends a CSR for a key made in the process (the key never leaves it); `issue` lets Vault make the key. Renewed by the resolver before expiry.',
  options: {
    common_name: { type: 'string', description: 'Subject common name requested (required).' },
    alt_names: { type: 'string', description: 'Comma-separated DNS/email subject alternative names.' },
    ip_sans: { type: 'string', description: 'Comma-separated IP subject alternative names.' },
    uri_sans: { type: 'string', description: 'Comma-separated URI subject alternative names.' },
    other_sans: { type: 'string', description: 'Other SANs, in Vault syntax (`oid;type:value`).' },
    ttl: {
      type: 'string',
      description: 'Requested lifetime, a Vault duration (`72h`); default the role’s (its max_ttl caps it).',
    },
    not_after: { type: 'string', description: 'Requested notAfter, RFC 3339 (instead of ttl).' },
    exclude_cn_from_sans: { type: 'boolean', description: 'Keep the common name out of the SANs.' },
    key_type: {
      type: 'enum',
      values: ['ec-p256', 'rsa2048'],
      description: 'Key made in the process (`sign` only).',
      default: 'ec-p256',
    },
    trustIssuingCa: {
      type: 'boolean',
      description:
        'Also trust the top of Vault’s CA chain for the server (when the same PKI issues its certificate).',
      default: false,
    },
    ...CONNECTION_OPTIONS,
    ...AUTH_OPTIONS,
    ca: { type: 'reference', description: 'A reference to the CA certificates to trust for the server.' },
  },
  build(c: ReferenceCursor): VaultPkiTarget {
    c.requireSlashes(PKI_FORM);
    if (c.path === '') throw c.pathProblem('the mount and role are missing', `Write ${PKI_FORM}.`, 0, 1);
    const segs = c.segments('PKI path');
    const mode = segs[segs.length - 2];
    if (segs.length < 3 || (mode !== 'sign' && mode !== 'issue')) {
      throw c.pathProblem(`"${c.path}" does not end in /sign/ROLE or /issue/ROLE`, `Write ${PKI_FORM}.`);
    }
    const commonName = c.options.common_name;
    if (commonName === undefined || commonName === '') {
      throw c.optionProblem(
        'common_name',
        'the certificate needs a common name',
        'Add common_name=… (e.g. common_name=payments.svc.internal).',
      );
    }
    const ttl = c.options.ttl;
    if (ttl !== undefined && !VAULT_DURATION.test(ttl)) {
      throw c.optionProblem('ttl', `ttl=${ttl} is not a Vault duration`, 'Write e.g. ttl=72h or ttl=3600.');
    }
    if (ttl !== undefined && c.options.not_after !== undefined) {
      throw c.optionProblem('not_after', 'ttl= and not_after= both set the lifetime', 'Give one of them.');
    }
    if (mode === 'issue' && c.options.key_type !== undefined) {
      throw c.optionProblem(
        'key_type',
        'key_type= applies to sign (a key made in the process); with issue, the Vault role decides',
        'Drop key_type= or use /sign/.',
      );
    }
    const params = Object.fromEntries(
      PKI_PARAMS.filter((p) => c.options[p] !== undefined).map((p) => [p, c.options[p]!]),
    );
    const trust = c.value<boolean>('trustIssuingCa');
    return {
      mount: segs.slice(0, -2).join('/'),
      mode,
      role: segs[segs.length - 1]!,
      commonName,
      params,
      ...(c.options.key_type !== undefined && { keyType: c.options.key_type as 'ec-p256' | 'rsa2048' }),
      ...(trust !== undefined && { trustIssuingCa: trust }),
      ...connectionOf(c),
    };
  },
});
