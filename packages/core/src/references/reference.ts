// One-string references to a credential (`aws-sm://prod/mtls?region=eu-west-1`): the grammar of every
// scheme DESIGN.md names, the table of options each scheme takes, and formatting back to a string.
// Core owns the grammar of all seven built-in schemes, so a malformed reference fails here with
// INVALID_REFERENCE before any adapter package is loaded. Adapters (see registry.ts) may register
// further schemes and extra options; their option tables are read from the shared store below.
import { MtlsError } from '../errors.js';
import { looksLikeBase64 } from '../redact.js';
import { FIELD_ALIASES, normaliseFieldName } from '../validation/policy.js';

/** How an option's value is checked. `reference` values are themselves references (`env:VAR`). */
export type SchemeOptionType = 'string' | 'integer' | 'boolean' | 'url' | 'enum' | 'reference';

/** One option of a scheme: what `?name=value` accepts. */
export interface SchemeOption {
  type: SchemeOptionType;
  /** One sentence for documentation and error messages. */
  description: string;
  /** The reference is invalid without it. */
  required?: boolean;
  /** The value used when absent (documentation only: the typed target applies it). */
  default?: string | number | boolean;
  /** Allowed values of an `enum` option. */
  values?: readonly string[];
}

/** Option name → description, for one scheme. */
export type SchemeOptions = Readonly<Record<string, SchemeOption>>;

/** The four parts every reference has: `scheme:` + optional `//` + path + `?options`. */
export interface ReferenceParts {
  /** Lower-case scheme without the colon: `env`, `aws-sm`, ... */
  scheme: string;
  /** Whether `//` follows the colon (`aws-sm://...`). */
  slashes?: boolean;
  /** Everything between the scheme (and `//`) and `?`, percent-decoded. */
  path?: string;
  /** Query options in the order written, percent-decoded. */
  options?: Readonly<Record<string, string>>;
}

/** The credential fields a reference can name one by one. */
export type ReferenceField = 'cert' | 'key' | 'passphrase' | 'ca' | 'pfx';

/** `env:` — environment variables. */
export interface EnvTarget {
  /** `env:NAME`: one variable (or `NAME_FILE`) holding the whole value, read as a bundle. */
  variable?: string;
  /** Prefix of the default variable names (`MTLS_`). */
  prefix: string;
  /** Inline variable per field (`MTLS_CERT`, or the rename); `<name>_FILE` holds a path instead. */
  names: Readonly<Record<ReferenceField, string>>;
}

/** `file:` — files and directories. */
export interface FileTarget {
  /** `file:PATH`: a directory of well-known names, or one PEM file holding key and certificate. */
  path?: string;
  /** Explicit file per field (`?cert=PATH&key=PATH`); alongside `path`, only `ca` and `passphrase`. */
  files: Readonly<Partial<Record<ReferenceField, string>>>;
}

/** `aws-sm:` — AWS Secrets Manager. */
export interface AwsSmTarget {
  /** The secret holding a bundle: a name (may contain `/`) or a full ARN. */
  secretId?: string;
  /** One secret per field (`?cert=ID&key=ID`); beside `secretId`, only `ca` and `passphrase`. */
  fields: Readonly<Partial<Record<ReferenceField, string>>>;
  /** The `region` option, else the region of the first ARN given. */
  region?: string;
  versionId?: string;
  versionStage?: string;
  endpoint?: string;
}

/** `azure-kv:` — Azure Key Vault secrets (including a certificate's secret). */
export interface AzureKvTarget {
  /** The vault as written: a name (`myvault`) or a host (`myvault.vault.azure.cn`); '' when `vaultUrl` is given. */
  vault: string;
  /** Where requests go: the `vaultUrl` option, `https://NAME.vault.azure.net`, or `https://HOST`. No trailing slash. */
  vaultUrl: string;
  secret: string;
  /** Absent: the current version. */
  version?: string;
}

/** `gcp-sm:` — Google Secret Manager. */
export interface GcpSmTarget {
  project: string;
  secret: string;
  /** `latest` when not written. */
  version: string;
  /** The full resource name, `projects/P/secrets/S/versions/V`. */
  name: string;
  transport: 'grpc' | 'rest';
}

/** `vault:` — HashiCorp Vault KV v1/v2. */
export interface VaultTarget {
  mount: string;
  /** The secret's path inside the mount. */
  path: string;
  /** Absent: detected from the mount. */
  kv?: 1 | 2;
  /** KV v2 version; absent: the current one. */
  version?: number;
  namespace?: string;
}

/** `vault-pki:` — HashiCorp Vault PKI. */
export interface VaultPkiTarget {
  mount: string;
  /** `sign`: the key is generated in the process and only a CSR goes to Vault; `issue`: Vault generates it. */
  mode: 'sign' | 'issue';
  role: string;
  /** Request parameters passed to Vault as written (`common_name`, `ttl`, `alt_names`, ...). */
  params: Readonly<Record<string, string>>;
  /** Key generated in the process for `sign` (default `ec-p256`). */
  keyType?: string;
  namespace?: string;
}

/** The structured view of each built-in scheme. */
export interface BuiltinTargets {
  env: EnvTarget;
  file: FileTarget;
  'aws-sm': AwsSmTarget;
  'azure-kv': AzureKvTarget;
  'gcp-sm': GcpSmTarget;
  vault: VaultTarget;
  'vault-pki': VaultPkiTarget;
}

export type BuiltinScheme = keyof BuiltinTargets;

/** The target of scheme `S`: typed for built-in schemes, `undefined` for third-party ones. */
export type TargetOf<S extends string> = string extends S
  ? BuiltinTargets[BuiltinScheme] | undefined
  : S extends BuiltinScheme
    ? BuiltinTargets[S]
    : undefined;

/** A parsed, validated reference. Frozen. */
export interface ParsedReference<S extends string = string> {
  readonly scheme: S;
  readonly slashes: boolean;
  readonly path: string;
  readonly options: Readonly<Record<string, string>>;
  /** `passphrase=<reference>`: where the passphrase comes from, parsed. */
  readonly passphrase?: ParsedReference;
  /** The scheme's structured view (for built-in schemes). */
  readonly target: TargetOf<S>;
}

// ---------------------------------------------------------------------------------------------
// Option tables of the built-in schemes: the single source of docs/references.md and of the
// "valid options are ..." part of error messages.

const passphraseRef: SchemeOption = {
  type: 'reference',
  description: 'A reference to the passphrase of an encrypted key or PKCS#12, e.g. `env:MTLS_PASSPHRASE`.',
};

const vaultNamespace: SchemeOption = {
  type: 'string',
  description: 'Vault Enterprise namespace; default `VAULT_NAMESPACE`.',
};

/** The options that name where each field is held, one by one (`env:`, `file:`, `aws-sm:`). */
function fieldOptions(holder: string, note = ''): SchemeOptions {
  const held = (what: string): SchemeOption => ({
    type: 'string',
    description: `${holder} holding ${what}.${note}`,
  });
  return {
    cert: held('the certificate (leaf, optionally followed by intermediates)'),
    key: held('the private key'),
    passphrase: held('the passphrase, or a reference to it such as `file:/run/secrets/pass`'),
    ca: held('the CA certificates to trust for the server'),
    pfx: held('a PKCS#12 (instead of cert and key)'),
  };
}

/** Whether a scheme writes `//` after the colon, its one-line summary and its options. */
export const BUILTIN_SCHEMES: Readonly<
  Record<BuiltinScheme, { slashes: boolean; form: string; summary: string; options: SchemeOptions }>
> = {
  env: {
    slashes: false,
    form: 'env:[NAME][?options]',
    summary: 'Environment variables; `*_FILE` variables (a path) take precedence over inline values.',
    options: {
      prefix: { type: 'string', description: 'Prefix of the default variable names.', default: 'MTLS_' },
      ...fieldOptions('Variable', ' Its `_FILE` twin (a path) takes precedence.'),
    },
  },
  file: {
    slashes: false,
    form: 'file:PATH | file:?cert=PATH&key=PATH[&ca=PATH][&pfx=PATH]',
    summary:
      'A directory (`certificate.pem`/`private.key`/`ca.pem` or `tls.crt`/`tls.key`/`ca.crt`), one PEM with key and certificate, or explicit files.',
    options: fieldOptions('File'),
  },
  'aws-sm': {
    slashes: true,
    form: 'aws-sm://SECRET_ID[?options] | aws-sm://?cert=ID&key=ID[&passphrase=ID]',
    summary:
      'AWS Secrets Manager: everything between `//` and `?` is the secret id, verbatim (names with `/`, ARNs).',
    options: {
      region: {
        type: 'string',
        description: "AWS region; default: the ARN's region, else the SDK's configuration.",
      },
      versionId: { type: 'string', description: 'A specific version id (bundle mode only).' },
      versionStage: { type: 'string', description: 'A staging label.', default: 'AWSCURRENT' },
      endpoint: { type: 'url', description: 'A custom endpoint (VPC endpoint, LocalStack).' },
      timeoutMs: {
        type: 'integer',
        description: 'Deadline of each Secrets Manager call, SDK retries included, in milliseconds.',
        default: 10_000,
      },
      maxAttempts: {
        type: 'integer',
        description:
          "Attempts per call inside the AWS SDK; default: `AWS_MAX_ATTEMPTS` when set, else 2. The resolver's backoff handles the rest.",
      },
      ...fieldOptions('Secret'),
    },
  },
  'azure-kv': {
    slashes: true,
    form: 'azure-kv://VAULT/SECRET[/VERSION][?vaultUrl=URL]',
    summary:
      'Azure Key Vault: VAULT is a vault name (`NAME.vault.azure.net`) or, when it contains a dot, a host. A bundle, or a certificate-backed secret (PFX or PEM).',
    options: {
      vaultUrl: {
        type: 'url',
        description: 'The vault URL, overriding VAULT (private endpoints, emulators).',
      },
      passphrase: passphraseRef,
    },
  },
  'gcp-sm': {
    slashes: true,
    form: 'gcp-sm://projects/P/secrets/S[/versions/V]',
    summary: 'Google Secret Manager: a secret version holding a bundle.',
    options: {
      transport: {
        type: 'enum',
        values: ['grpc', 'rest'],
        description: 'gRPC, or HTTP/1.1 REST where gRPC cannot pass.',
        default: 'grpc',
      },
      passphrase: passphraseRef,
    },
  },
  vault: {
    slashes: true,
    form: 'vault://[MOUNT/]PATH[?mount=MOUNT][&kv=1|2]',
    summary:
      'HashiCorp Vault KV: a secret holding the fields. Without `mount`, the first segment of PATH is the mount; with it, PATH is inside the mount.',
    options: {
      mount: { type: 'string', description: 'The KV mount, for nested mounts (`team-a/kv`).' },
      kv: {
        type: 'enum',
        values: ['1', '2'],
        description: 'KV version; detected from the mount when absent.',
      },
      version: { type: 'integer', description: 'A KV v2 version number; default: the current one.' },
      namespace: vaultNamespace,
      passphrase: passphraseRef,
    },
  },
  'vault-pki': {
    slashes: true,
    form: 'vault-pki://MOUNT/sign/ROLE[?options] | vault-pki://MOUNT/issue/ROLE[?options]',
    summary:
      'HashiCorp Vault PKI: `sign` sends a CSR for a key generated in the process (the key never leaves it); `issue` lets Vault generate the key.',
    options: {
      common_name: { type: 'string', description: 'Subject common name requested.' },
      alt_names: { type: 'string', description: 'Comma-separated DNS/email subject alternative names.' },
      ip_sans: { type: 'string', description: 'Comma-separated IP subject alternative names.' },
      uri_sans: { type: 'string', description: 'Comma-separated URI subject alternative names.' },
      other_sans: { type: 'string', description: 'Other SANs, in Vault syntax (`oid;type:value`).' },
      ttl: {
        type: 'string',
        description: 'Requested lifetime, a Vault duration (`72h`); default: the role’s.',
      },
      not_after: { type: 'string', description: 'Requested notAfter, RFC 3339 (instead of ttl).' },
      exclude_cn_from_sans: { type: 'boolean', description: 'Keep the common name out of the SANs.' },
      key_type: {
        type: 'enum',
        values: ['ec-p256', 'ec-p384', 'rsa2048', 'rsa3072', 'rsa4096', 'ed25519'],
        description: 'Key generated in the process (`sign` only).',
        default: 'ec-p256',
      },
      namespace: vaultNamespace,
      passphrase: passphraseRef,
    },
  },
};

// ---------------------------------------------------------------------------------------------
// Option tables that adapters registered. Kept on globalThis so that two copies of core (ESM and
// require(esm), or a duplicated install) share one registry: an adapter registering with its own
// copy of core must still be found by the application's copy.

/** What the registry stores per registered scheme; reference.ts only reads `options`. */
export interface RegisteredScheme {
  readonly scheme: string;
  readonly packageName: string;
  readonly options: SchemeOptions;
}

const STORE = Symbol.for('mtlskit.schemeRegistry');

/** The shared store of registered schemes (internal: registry.ts writes it). */
export function schemeStore<T extends RegisteredScheme = RegisteredScheme>(): Map<string, T> {
  const g = globalThis as Record<symbol, unknown>;
  let store = g[STORE] as Map<string, T> | undefined;
  if (store === undefined) {
    store = new Map<string, T>();
    Object.defineProperty(g, STORE, { value: store, enumerable: false });
  }
  return store;
}

const SCHEME_SYNTAX = /^[a-z][a-z0-9+.-]*$/;
const SCHEME_PREFIX = /^([A-Za-z][A-Za-z0-9+.-]*):/;

/** The scheme a text starts with (`AWS-SM://x` → `aws-sm`), whether or not it exists; undefined without one. */
export function schemeOf(text: string): string | undefined {
  return SCHEME_PREFIX.exec(text)?.[1]?.toLowerCase();
}

/** Whether `scheme` has the syntax of a scheme name (lower case letters, digits, `+`, `.`, `-`). */
export function isSchemeName(scheme: string): boolean {
  return SCHEME_SYNTAX.test(scheme);
}

/** Every scheme a reference may use right now: the built-in ones, then registered ones. */
export function schemeNames(): string[] {
  return [...new Set([...Object.keys(BUILTIN_SCHEMES), ...schemeStore().keys()])];
}

/** The options `scheme` accepts: the built-in table merged with what its adapter registered. */
export function schemeOptions(scheme: string): SchemeOptions | undefined {
  const builtin = (BUILTIN_SCHEMES as Record<string, { options: SchemeOptions }>)[scheme]?.options;
  const registered = schemeStore().get(scheme)?.options;
  if (builtin === undefined && registered === undefined) return undefined;
  return { ...registered, ...builtin };
}

// ---------------------------------------------------------------------------------------------
// Errors that point at the wrong part.

/** A problem found while parsing: where (offsets in the raw text) and what to do. */
class ReferenceProblem extends Error {
  constructor(
    readonly start: number,
    readonly length: number,
    readonly problem: string,
    readonly fix: string,
    /** For an unknown option: the scheme it was given to (an adapter not installed may add it). */
    readonly unknownOptionOf?: string,
  ) {
    super(problem);
  }
}

function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
  return text.replace(/[\u0000-\u001f\u007f]/g, '?');
}

/**
 * Whether an option value is a reference (`env:PASS`, `env%3APASS`): its scheme is read from its
 * first characters, percent-decoded, so a value nested many times is not decoded whole at each level.
 */
function isReferenceValue(value: string): boolean {
  const head = value.slice(0, 256);
  let decoded = head;
  try {
    decoded = percentDecode(head, 0);
  } catch {}
  return looksLikeReference(decoded);
}

/**
 * The text with the value of every `passphrase=` that is not a reference replaced by `*`s of the
 * same length (so the caret still lines up): written where a name or a reference belongs, it may
 * be the passphrase itself, and an error must not repeat it. A value that is a reference is searched
 * the same way (`passphrase=env:P?passphrase=...`), in a loop rather than by recursion: nesting has
 * no limit here, the text is not valid yet.
 */
function maskLiteralPassphrases(text: string): string {
  const q = text.indexOf('?');
  if (q < 0) return text;
  const maskSegment = (seg: string): string => {
    let kept = '';
    let rest = seg;
    while (rest.startsWith('passphrase=')) {
      const value = rest.slice('passphrase='.length);
      if (!isReferenceValue(value)) return `${kept}passphrase=${'*'.repeat(value.length)}`;
      const inner = value.indexOf('?');
      if (inner < 0) break;
      kept += `passphrase=${value.slice(0, inner + 1)}`;
      rest = value.slice(inner + 1);
    }
    return kept + rest;
  };
  return `${text.slice(0, q + 1)}${text
    .slice(q + 1)
    .split('&')
    .map(maskSegment)
    .join('&')}`;
}

/**
 * A key that names a passphrase (`password=`, `"passphrase":`, `pfx_password: `, `\"passphrase\":` in
 * JSON written inside a JSON string…) and the separator after it; maskKeyedPassphrases finds where
 * its value ends. Every FIELD_ALIASES.passphrase name contains `passphrase` or `password`; any key
 * that does is treated alike.
 */
const PASSPHRASE_KEY =
  /(?<![A-Za-z0-9_.-])(\\?["']|)([A-Za-z0-9_.-]*pass[-_.]?(?:phrase|word))\1(\s*[:=]\s*)/gi;
const PASSPHRASE_NAMES = new Set(FIELD_ALIASES.passphrase.map(normaliseFieldName));
/** A JSON number, true, false or null, ending where a JSON value ends (`,`, `}`, `]` or the text's end). */
const JSON_LITERAL = /(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)(?=\s*(?:[,}\]]|$))/y;

/**
 * Where the value that starts at `from` lies (its quotes left out). A quoted value runs to its
 * closing quote (`\"` and `''` escapes kept inside; JSON written inside a JSON string is quoted with
 * `\"`); an unquoted one after `=` to the next `&` or line break, after a `:` to the end of the line,
 * unless the key is quoted and the value a whole JSON number (or true, false, null) that a `,`, `}`
 * or `]` ends. A passphrase may hold spaces, commas, semicolons and braces: only these ends are
 * trusted.
 */
function passphraseValueEnd(
  text: string,
  from: number,
  quotedKey: boolean,
  sep: string,
): { start: number; end: number } {
  const n = text.length;
  const c = text[from];
  if (c === '\\' && text[from + 1] === '"') {
    // JSON inside a JSON string: `\"` ends it, `\\` is an escaped backslash that escapes what follows.
    let i = from + 2;
    while (i < n) {
      if (text[i] !== '\\') i++;
      else if (text[i + 1] === '"') break;
      else if (text[i + 1] === '\\') i += text[i + 2] === '\\' ? 4 : 3;
      else i += 2;
    }
    return { start: from + 2, end: Math.min(i, n) };
  }
  if (c === '"' || c === "'") {
    let i = from + 1;
    while (i < n && text[i] !== c) i += text[i] === '\\' ? 2 : 1;
    // YAML writes a single quote inside single quotes as ''.
    while (c === "'" && text[i + 1] === "'") {
      i += 2;
      while (i < n && text[i] !== c) i += text[i] === '\\' ? 2 : 1;
    }
    return { start: from + 1, end: Math.min(i, n) };
  }
  if (quotedKey && !sep.includes('=')) {
    JSON_LITERAL.lastIndex = from;
    const literal = JSON_LITERAL.exec(text);
    if (literal !== null) return { start: from, end: from + literal[0].length };
  }
  const stop = sep.includes('=') ? /[&\r\n]/g : /[\r\n]/g;
  stop.lastIndex = from;
  const end = stop.exec(text)?.index ?? n;
  return { start: from, end };
}

/**
 * The text with the value of every key that names a passphrase (a FIELD_ALIASES.passphrase name, as a
 * JSON or YAML key or as `name=value`) replaced by `*`s of the same length. A JSON bundle pasted where
 * a reference belongs often holds one, and sorted keys put `passphrase` or `password` right before
 * `pfx`. An unquoted value that is itself a reference (`password=env:PASS`) stays readable.
 */
function maskKeyedPassphrases(text: string): string {
  const key = new RegExp(PASSPHRASE_KEY.source, PASSPHRASE_KEY.flags);
  let out = '';
  let done = 0;
  for (let m = key.exec(text); m !== null; m = key.exec(text)) {
    const [head, quote = '', name = '', sep = ''] = m;
    const norm = normaliseFieldName(name);
    if (!PASSPHRASE_NAMES.has(norm) && !/pass(?:phrase|word)$/.test(norm)) continue;
    const at = m.index + head.length;
    const opens = text[at] === '\\' ? text.slice(at, at + 2) : text[at];
    // A reference stays readable (no scheme ends where an unquoted value may), and the keys inside
    // it are masked as the scan goes on from where it starts.
    if (opens !== '"' && opens !== "'" && opens !== '\\"' && isReferenceValue(text.slice(at, at + 256)))
      continue;
    const { start, end } = passphraseValueEnd(text, at, quote !== '', sep);
    out += `${text.slice(done, start)}${'*'.repeat(end - start)}`;
    done = end;
    key.lastIndex = Math.max(end, key.lastIndex);
  }
  return out + text.slice(done);
}

/** How much of a reference an error shows: a window of this many characters around the wrong part. */
const MAX_ECHO = 80;
/** A PEM block, complete or cut off (raw, percent-encoded or with its line breaks). */
const PEM_TEXT = /-----BEGIN[\s\S]*?(?:-----END[^-]{0,64}-----|$)/g;
/** A run of Base64 (or Base64url, or percent-encoded Base64) long enough to be a key or a certificate line. */
const BLOB_RUN = /[A-Za-z0-9+/_%-]{24,}={0,2}/g;
/**
 * The lines that continue something already hidden: after a line break (raw, or a `\n` escape as
 * JSON writes it), runs of the Base64 alphabet, however short (the last line of a PEM body is).
 */
const NEXT_LINES = /(?<=\*)(?:(?:\r\n|\r(?!\n)|\n|\\r\\n|\\r(?!\\n)|\\n)+[A-Za-z0-9+/_%-]+={0,2})+/g;
/** One or more line breaks, each matched one way only (a CRLF is never also a CR then an LF). */
const LINE_BREAKS = /(?:\r\n|\r(?!\n)|\n|\\r\\n|\\r(?!\\n)|\\n)+/g;

/** Base64-shaped (see looksLikeBase64), or 48 hex digits or more: no name or path looks like that. */
function looksLikeBlob(run: string): boolean {
  return (
    looksLikeBase64(run) ||
    (run.length >= 48 && /^[0-9a-f]+$/i.test(run) && /\d/.test(run) && /[a-f]/i.test(run))
  );
}

/**
 * `text` with PEM blocks and Base64-shaped blobs (and the lines that continue them) replaced by `*`s
 * of the same length (so offsets still line up): a credential pasted where a reference belongs must
 * not be echoed back. `first` is where the first one was; `hidden` how many characters were hidden
 * in PEM and in runs of 48 or more (a shorter run alone does not make a text look like a credential);
 * `pem` whether one was PEM.
 */
function maskCredentials(text: string): { masked: string; hidden: number; first: number; pem: boolean } {
  let hidden = 0;
  let first = -1;
  let pem = false;
  const star = (m: string, at: number, counts: boolean): string => {
    if (counts) hidden += m.length;
    if (first < 0 || at < first) first = at;
    return '*'.repeat(m.length);
  };
  let masked = text
    .replace(PEM_TEXT, (m, at: number) => {
      pem = true;
      return star(m, at, true);
    })
    .replace(BLOB_RUN, (m, at: number) => (looksLikeBlob(m) ? star(m, at, m.length >= 48) : m));
  if (first >= 0) {
    // One pass: each match runs over every line that follows, the breaks between them kept.
    masked = masked.replace(NEXT_LINES, (lines: string, at: number) => {
      let out = '';
      let end = 0;
      for (const br of lines.matchAll(LINE_BREAKS)) {
        if (br.index > end) out += star(lines.slice(end, br.index), at + end, hidden > 0);
        out += br[0];
        end = br.index + br[0].length;
      }
      return out + star(lines.slice(end), at + end, hidden > 0);
    });
  }
  return { masked, hidden, first, pem };
}

/** Marks an INVALID_REFERENCE whose text looked like a credential itself (for MTLS_SOURCE's message). */
const CREDENTIAL_LIKE = Symbol('mtlskit.credentialLikeReference');
/** On an "unknown option" INVALID_REFERENCE: the scheme the option was given to. */
const UNKNOWN_OPTION_OF = Symbol('mtlskit.unknownOptionOf');

/**
 * The scheme an "unknown option" INVALID_REFERENCE is about (the option may be one its adapter
 * package adds, when that package is not installed); undefined for every other error.
 */
export function unknownOptionScheme(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const scheme = (err as Record<symbol, unknown>)[UNKNOWN_OPTION_OF];
  return typeof scheme === 'string' ? scheme : undefined;
}

/** True when `err` is the INVALID_REFERENCE of a text that looked like a credential, not a reference. */
export function isCredentialLikeReference(err: unknown): boolean {
  return (
    typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[CREDENTIAL_LIKE] === true
  );
}

function toError(text: string, problem: ReferenceProblem): MtlsError {
  let p = problem;
  // Credentials first, so a value run on over one (`password=x BLOB` on one line) still counts as one.
  const credentials = maskCredentials(text);
  const { hidden, first, pem } = credentials;
  const masked = maskKeyedPassphrases(maskLiteralPassphrases(credentials.masked));
  const credentialLike = hidden > 0 && (pem || hidden * 2 >= text.length);
  if (credentialLike) {
    p = new ReferenceProblem(
      first,
      masked.length - first,
      'this looks like a credential itself (PEM or Base64), not a reference saying where one is',
      'A reference names where the credential is, e.g. env: (reads MTLS_CERT and MTLS_KEY), env:?key=VARIABLE_NAME, file:/etc/mtls or aws-sm://SECRET_ID. Put the credential there.',
    );
  }
  const start = Math.max(0, Math.min(p.start, masked.length));
  const end = Math.max(start + 1, Math.min(start + p.length, masked.length));
  // A window of the text around the wrong part, so a long value is not repeated whole.
  let from = 0;
  let to = masked.length;
  if (credentialLike) {
    // From the hidden part on: what comes before it may be more of the secret (a passphrase, a line).
    from = start;
    to = Math.min(masked.length, from + MAX_ECHO);
  } else if (masked.length > MAX_ECHO) {
    from = Math.max(0, Math.min(start - 16, masked.length - MAX_ECHO));
    to = from + MAX_ECHO;
  }
  const before = from > 0 ? '…' : '';
  const shown = `${before}${printable(masked.slice(from, to))}${to < masked.length ? '…' : ''}`;
  const caretEnd = Math.min(end, Math.max(to, start + 1));
  const caret = `${' '.repeat(before.length + start - from)}${'^'.repeat(Math.max(1, caretEnd - start))}`;
  const hide = (t: string) => maskCredentials(t).masked.replace(/\*{4,}/g, '***');
  const fix = p.fix ? ` ${hide(p.fix)}` : '';
  const message = `Invalid reference: ${hide(p.problem)}.${fix}\n  ${shown}\n  ${caret}`;
  const err = new MtlsError('INVALID_REFERENCE', message, { sourceId: shown });
  if (credentialLike) Object.defineProperty(err, CREDENTIAL_LIKE, { value: true });
  else if (p.unknownOptionOf !== undefined) {
    Object.defineProperty(err, UNKNOWN_OPTION_OF, { value: p.unknownOptionOf });
  }
  return err;
}

// ---------------------------------------------------------------------------------------------
// Percent-encoding. RFC 3986 rules, not HTML forms: `+` is a plus sign (AWS names contain it),
// and `%XX` sequences are decoded as UTF-8 bytes.

/** Decodes `raw` (found at `offset` in the text); throws a ReferenceProblem on a bad escape. */
function percentDecode(raw: string, offset: number): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw); // strict UTF-8, and `+` stays a plus sign
  } catch {
    const stray = /%(?![0-9A-Fa-f]{2})/.exec(raw);
    if (stray) {
      throw new ReferenceProblem(
        offset + stray.index,
        3,
        '"%" does not start a %XX escape',
        'Write %25 for a literal "%".',
      );
    }
    throw new ReferenceProblem(
      offset,
      raw.length,
      'the %XX escapes do not form valid UTF-8',
      'Escape each byte of the UTF-8 encoding.',
    );
  }
}

// Left as they are when formatting: unreserved characters, sub-delimiters and `:@/`. Everything else
// (`%`, `?`, `#`, space, quotes, non-ASCII, ...) is escaped; `&` and `=` depend on the part.
const SAFE_COMMON = "A-Za-z0-9\\-._~!$'()*+,;:@/";
const SAFE_PATH = new RegExp(`[^${SAFE_COMMON}&=]`, 'gu');
const SAFE_KEY = new RegExp(`[^${SAFE_COMMON}]`, 'gu');
const SAFE_VALUE = new RegExp(`[^${SAFE_COMMON}=?]`, 'gu');

function percentEncode(text: string, unsafe: RegExp): string {
  return text.replace(unsafe, (ch) =>
    [...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

// ---------------------------------------------------------------------------------------------
// Parsing.

interface RawOption {
  name: string;
  value: string;
  nameStart: number;
  valueStart: number;
  valueLength: number;
  /** Whether the raw value equals the decoded one, so that offsets inside it are exact. */
  verbatim: boolean;
}

/** Everything a scheme's target builder needs to read the reference and point at its parts. */
class Cursor {
  constructor(
    readonly text: string,
    readonly scheme: string,
    readonly slashes: boolean,
    readonly path: string,
    readonly pathStart: number,
    readonly pathRawLength: number,
    readonly raw: ReadonlyMap<string, RawOption>,
    readonly options: Readonly<Record<string, string>>,
    readonly nestedPassphrase: boolean,
  ) {}

  /** Points at `length` characters from `start` in the decoded path (the whole path when escaped). */
  pathProblem(problem: string, fix: string, start = 0, length = this.path.length): ReferenceProblem {
    if (this.pathRawLength !== this.path.length) {
      return new ReferenceProblem(this.pathStart, this.pathRawLength, problem, fix);
    }
    return new ReferenceProblem(this.pathStart + start, Math.max(1, length), problem, fix);
  }

  optionProblem(name: string, problem: string, fix: string): ReferenceProblem {
    const o = this.raw.get(name);
    if (o === undefined) return new ReferenceProblem(this.text.length, 1, problem, fix);
    return new ReferenceProblem(o.nameStart, o.valueStart + o.valueLength - o.nameStart, problem, fix);
  }

  /** The option's value, except a passphrase that is a nested reference (that one is not a name). */
  plain(name: string): string | undefined {
    if (name === 'passphrase' && this.nestedPassphrase) return undefined;
    return this.options[name];
  }
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The per-field options of env: and file: (and of the sources behind them), in reference order. */
export const REFERENCE_FIELDS: readonly ReferenceField[] = ['cert', 'key', 'passphrase', 'ca', 'pfx'];

function pick(c: Cursor, names: readonly ReferenceField[]): Partial<Record<ReferenceField, string>> {
  const out: Partial<Record<ReferenceField, string>> = {};
  for (const n of names) {
    const v = c.plain(n);
    if (v !== undefined) out[n] = v;
  }
  return out;
}

function refuseSlashes(c: Cursor, form: string): void {
  if (c.slashes) {
    throw new ReferenceProblem(c.pathStart - 2, 2, `${c.scheme}: takes no "//"`, `Write ${form}.`);
  }
}

function requireSlashes(c: Cursor, form: string): void {
  if (!c.slashes) {
    throw new ReferenceProblem(
      c.pathStart,
      Math.max(1, c.pathRawLength),
      `${c.scheme}: needs "//" after the colon`,
      `Write ${form}.`,
    );
  }
}

/** Refuses the options that name the credential piece by piece when the path already names it whole. */
function refuseBesidePath(
  c: Cursor,
  names: readonly string[],
  problem: (name: string) => string,
  fix: (name: string) => string,
): void {
  const name = names.find((n) => c.options[n] !== undefined);
  if (name !== undefined) throw c.optionProblem(name, problem(name), fix(name));
}

/** Splits the decoded path on `/`, refusing empty, `.` and `..` segments. */
function segments(c: Cursor, what: string): string[] {
  const parts = c.path.split('/');
  let at = 0;
  for (const part of parts) {
    if (part === '' || part === '.' || part === '..') {
      throw c.pathProblem(
        part === '' ? `empty segment in the ${what}` : `"${part}" segment in the ${what}`,
        'Remove the extra "/" or the dot segment.',
        Math.max(0, at - (part === '' ? 1 : 0)),
        Math.max(1, part.length),
      );
    }
    at += part.length + 1;
  }
  return parts;
}

function buildEnv(c: Cursor): EnvTarget {
  refuseSlashes(c, 'env:[NAME][?options]');
  const prefix = c.options.prefix ?? 'MTLS_';
  for (const name of ['prefix', ...REFERENCE_FIELDS] as const) {
    const v = c.plain(name);
    if (v !== undefined && !ENV_NAME.test(v)) {
      // A passphrase= that is no variable name may be the passphrase itself: not repeated.
      const shown = name === 'passphrase' ? '' : JSON.stringify(v);
      throw c.optionProblem(
        name,
        `${name}=${shown} is not an environment variable name`,
        'Use letters, digits and "_", not starting with a digit.',
      );
    }
  }
  const names = Object.fromEntries(
    REFERENCE_FIELDS.map((f) => [f, c.plain(f) ?? `${prefix}${f.toUpperCase()}`]),
  ) as Record<ReferenceField, string>;
  if (c.path === '') return { prefix, names };
  if (!ENV_NAME.test(c.path)) {
    throw c.pathProblem(
      `"${c.path}" is not an environment variable name`,
      'Use letters, digits and "_", not starting with a digit.',
    );
  }
  refuseBesidePath(
    c,
    ['prefix', 'cert', 'key', 'ca', 'pfx'],
    (name) => `env:${c.path} reads the whole credential from one variable, so ${name}= does not apply`,
    (name) => `Write env:?${name}=... without a variable name, or drop ${name}=.`,
  );
  return { variable: c.path, prefix, names };
}

function buildFile(c: Cursor): FileTarget {
  let path = c.path;
  if (c.slashes) {
    // file:///abs/path (a file URL with an empty host) or file://localhost/abs/path.
    if (path.startsWith('localhost/')) path = path.slice('localhost'.length);
    if (!path.startsWith('/')) {
      throw c.pathProblem(
        'a file URL with a host is not supported',
        'Write file:/absolute/path or file:relative/path.',
        0,
        Math.max(1, path.indexOf('/') < 0 ? path.length : path.indexOf('/')),
      );
    }
    if (/^\/[A-Za-z]:[\\/]/.test(path)) path = path.slice(1); // file:///C:/certs on Windows
  }
  const files = pick(c, REFERENCE_FIELDS);
  if (path !== '') {
    refuseBesidePath(
      c,
      ['cert', 'key', 'pfx'],
      (name) => `file:${path} already names the credential, so ${name}= conflicts with it`,
      () => 'Use either file:PATH or file:?cert=PATH&key=PATH (ca= and passphrase= may accompany a PATH).',
    );
    return { path, files };
  }
  requireCertOrPfx(c, files, 'file:', 'file:DIR, file:?cert=PATH&key=PATH or file:?pfx=PATH');
  return { files };
}

/** Field mode (`cert=`/`key=` or `pfx=`): checks the combination. */
function requireCertOrPfx(
  c: Cursor,
  fields: Partial<Record<ReferenceField, string>>,
  what: string,
  form: string,
): void {
  if (fields.pfx !== undefined && (fields.cert !== undefined || fields.key !== undefined)) {
    throw c.optionProblem(
      'pfx',
      'pfx= replaces cert= and key=; give one or the other',
      'Drop pfx= or cert=/key=.',
    );
  }
  if (fields.key !== undefined && fields.cert === undefined) {
    throw c.optionProblem('key', 'key= needs cert=', `Add cert= (the certificate for this key).`);
  }
  if (fields.cert === undefined && fields.pfx === undefined) {
    throw new ReferenceProblem(
      c.pathStart,
      Math.max(1, c.text.length - c.pathStart),
      `${what} names no credential`,
      `Write ${form}.`,
    );
  }
}

const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const AWS_ARN = /^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/;

function checkAwsId(id: string, at: (problem: string, fix: string) => ReferenceProblem): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\s\u0000-\u001f\u007f]/.test(id)) {
    throw at('a secret id contains whitespace or a control character', 'Check for a stray space or newline.');
  }
  if (id.length > 2048) throw at('a secret id is longer than 2048 characters', 'Check the reference.');
  if (id.startsWith('arn:') && !AWS_ARN.test(id)) {
    throw at(
      'an ARN that is not a Secrets Manager secret ARN',
      'Expected arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME.',
    );
  }
}

function buildAwsSm(c: Cursor): AwsSmTarget {
  const form = 'aws-sm://SECRET_ID or aws-sm://?cert=ID&key=ID';
  requireSlashes(c, form);
  const fields = pick(c, REFERENCE_FIELDS);
  for (const [name, id] of Object.entries(fields)) checkAwsId(id, (p, f) => c.optionProblem(name, p, f));
  const secretId = c.path === '' ? undefined : c.path;
  if (secretId !== undefined) {
    checkAwsId(secretId, (p, f) => c.pathProblem(p, f));
    refuseBesidePath(
      c,
      ['cert', 'key', 'pfx'],
      (name) => `aws-sm://${secretId} names a bundle secret, so ${name}= conflicts with it`,
      () =>
        'Use either aws-sm://SECRET_ID or aws-sm://?cert=ID&key=ID (ca= and passphrase= may accompany a SECRET_ID).',
    );
  } else {
    requireCertOrPfx(c, fields, 'aws-sm://', form);
    if (c.options.versionId !== undefined) {
      throw c.optionProblem(
        'versionId',
        'versionId= applies to one secret, not to one secret per field',
        'Use versionStage= instead, or a bundle secret.',
      );
    }
  }
  // A full ARN says which region the secret lives in; region= may only repeat it.
  const arnRegion = [secretId, ...Object.values(fields)]
    .map((id) => (id === undefined ? undefined : AWS_ARN.exec(id)?.[2]))
    .find((r) => r !== undefined);
  const region = c.options.region;
  if (region !== undefined && !AWS_REGION.test(region)) {
    throw c.optionProblem('region', `"${region}" is not an AWS region name`, 'Write e.g. region=eu-west-1.');
  }
  if (region !== undefined && arnRegion !== undefined && region !== arnRegion) {
    throw c.optionProblem(
      'region',
      `region=${region} differs from the ARN's region ${arnRegion}`,
      'Drop region= (the ARN says where the secret lives) or correct it.',
    );
  }
  const o = c.options;
  return {
    ...(secretId !== undefined && { secretId }),
    fields,
    ...((region ?? arnRegion) !== undefined && { region: (region ?? arnRegion)! }),
    ...(o.versionId !== undefined && { versionId: o.versionId }),
    ...(o.versionStage !== undefined && { versionStage: o.versionStage }),
    ...(o.endpoint !== undefined && { endpoint: o.endpoint }),
  };
}

const AZURE_VAULT_NAME = /^[A-Za-z](?!.*--)[A-Za-z0-9-]{1,22}[A-Za-z0-9]$/;
const AZURE_HOST =
  /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+(:\d{1,5})?$/;
const AZURE_SECRET = /^[A-Za-z0-9-]{1,127}$/;
const AZURE_VERSION = /^[A-Za-z0-9]{1,64}$/;

function buildAzureKv(c: Cursor): AzureKvTarget {
  const form = 'azure-kv://VAULT/SECRET[/VERSION]';
  requireSlashes(c, form);
  // The vault may be empty when vaultUrl= says where it is: azure-kv:///SECRET?vaultUrl=...
  const parts = c.path.split('/');
  const vault = parts[0] ?? '';
  const rest = parts.slice(1);
  const vaultUrlOption = c.options.vaultUrl;
  if (rest.length < 1 || rest.length > 2 || rest.some((p) => p === '')) {
    throw c.pathProblem(`"${c.path}" is not VAULT/SECRET or VAULT/SECRET/VERSION`, `Write ${form}.`);
  }
  const [secret, version] = rest as [string, string | undefined];
  let vaultUrl: string;
  if (vault === '') {
    if (vaultUrlOption === undefined) {
      throw c.pathProblem('the vault is missing', `Write ${form}, or give vaultUrl=.`, 0, 1);
    }
  } else if (vault.includes('.')) {
    if (!AZURE_HOST.test(vault)) {
      throw c.pathProblem(
        `"${vault}" is not a host name`,
        'Write a vault name or its host.',
        0,
        vault.length,
      );
    }
  } else if (!AZURE_VAULT_NAME.test(vault)) {
    throw c.pathProblem(
      `"${vault}" is not a Key Vault name`,
      'A vault name has 3-24 letters, digits and single hyphens, starting with a letter; a host contains a dot.',
      0,
      vault.length,
    );
  }
  if (!AZURE_SECRET.test(secret)) {
    throw c.pathProblem(
      `"${secret}" is not a Key Vault secret name`,
      'Secret names have 1-127 letters, digits and hyphens.',
      vault.length + 1,
      secret.length,
    );
  }
  if (version !== undefined && !AZURE_VERSION.test(version)) {
    throw c.pathProblem(
      `"${version}" is not a Key Vault secret version`,
      'A version is the 32-character id Key Vault assigned.',
      vault.length + secret.length + 2,
      version.length,
    );
  }
  if (vaultUrlOption !== undefined) vaultUrl = vaultUrlOption.replace(/\/+$/, '');
  else vaultUrl = vault.includes('.') ? `https://${vault}` : `https://${vault}.vault.azure.net`;
  return { vault, vaultUrl, secret, ...(version !== undefined && { version }) };
}

const GCP_PROJECT = /^(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$|^\d{1,20}$/;
const GCP_SECRET = /^[A-Za-z0-9_-]{1,255}$/;
const GCP_VERSION = /^(?:\d+|[A-Za-z][A-Za-z0-9_-]{0,62})$/;

function buildGcpSm(c: Cursor): GcpSmTarget {
  const form = 'gcp-sm://projects/P/secrets/S[/versions/V]';
  requireSlashes(c, form);
  const p = c.path.split('/');
  const shaped =
    (p.length === 4 || p.length === 6) &&
    p[0] === 'projects' &&
    p[2] === 'secrets' &&
    (p.length === 4 || p[4] === 'versions');
  if (!shaped) throw c.pathProblem(`"${c.path}" is not a secret resource name`, `Write ${form}.`);
  const [, project, , secret, , version = 'latest'] = p as [string, string, string, string, string?, string?];
  const at = (i: number) => p.slice(0, i).join('/').length + (i > 0 ? 1 : 0);
  const parts: [value: string, index: number, pattern: RegExp, what: string, fix: string][] = [
    [
      project,
      1,
      GCP_PROJECT,
      'a project id or number',
      'A project id has 6-30 lower-case letters, digits and hyphens; a project number is digits.',
    ],
    [secret, 3, GCP_SECRET, 'a secret id', 'Secret ids have 1-255 letters, digits, "_" and "-".'],
    [version, 5, GCP_VERSION, 'a secret version', 'Write a version number, latest, or an alias.'],
  ];
  for (const [value, index, pattern, what, fix] of parts) {
    if (!pattern.test(value)) throw c.pathProblem(`"${value}" is not ${what}`, fix, at(index), value.length);
  }
  return {
    project,
    secret,
    version,
    name: `projects/${project}/secrets/${secret}/versions/${version}`,
    transport: (c.options.transport ?? 'grpc') as 'grpc' | 'rest',
  };
}

function buildVault(c: Cursor): VaultTarget {
  const form = 'vault://MOUNT/PATH or vault://PATH?mount=MOUNT';
  requireSlashes(c, form);
  if (c.path === '') throw c.pathProblem('the secret path is missing', `Write ${form}.`, 0, 1);
  const segs = segments(c, 'secret path');
  let mount: string;
  let path: string;
  if (c.options.mount !== undefined) {
    mount = c.options.mount.replace(/^\/+|\/+$/g, '');
    if (mount === '' || mount.split('/').some((s) => s === '' || s === '.' || s === '..')) {
      throw c.optionProblem(
        'mount',
        `mount=${c.options.mount} is not a mount path`,
        'Write e.g. mount=team-a/kv.',
      );
    }
    path = segs.join('/');
  } else {
    if (segs.length < 2) {
      throw c.pathProblem(
        `"${c.path}" names a mount but no secret inside it`,
        `Write ${form} (without mount=, the first segment is the mount).`,
      );
    }
    mount = segs[0]!;
    path = segs.slice(1).join('/');
  }
  const kv = c.options.kv === undefined ? undefined : (Number(c.options.kv) as 1 | 2);
  const version = c.options.version === undefined ? undefined : Number(c.options.version);
  if (version !== undefined && version < 1) {
    throw c.optionProblem('version', 'KV versions start at 1', 'Write version=1 or higher, or drop it.');
  }
  if (version !== undefined && kv === 1) {
    throw c.optionProblem('version', 'KV v1 has no versions', 'Drop version= or use a KV v2 mount (kv=2).');
  }
  return {
    mount,
    path,
    ...(kv !== undefined && { kv }),
    ...(version !== undefined && { version }),
    ...(c.options.namespace !== undefined && { namespace: c.options.namespace }),
  };
}

const PKI_PARAMS = [
  'common_name',
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

function buildVaultPki(c: Cursor): VaultPkiTarget {
  const form = 'vault-pki://MOUNT/sign/ROLE or vault-pki://MOUNT/issue/ROLE';
  requireSlashes(c, form);
  if (c.path === '') throw c.pathProblem('the mount and role are missing', `Write ${form}.`, 0, 1);
  const segs = segments(c, 'PKI path');
  const mode = segs[segs.length - 2];
  if (segs.length < 3 || (mode !== 'sign' && mode !== 'issue')) {
    throw c.pathProblem(`"${c.path}" does not end in /sign/ROLE or /issue/ROLE`, `Write ${form}.`);
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
  return {
    mount: segs.slice(0, -2).join('/'),
    mode,
    role: segs[segs.length - 1]!,
    params,
    ...(c.options.key_type !== undefined && { keyType: c.options.key_type }),
    ...(c.options.namespace !== undefined && { namespace: c.options.namespace }),
  };
}

const BUILDERS: { [S in BuiltinScheme]: (c: Cursor) => BuiltinTargets[S] } = {
  env: buildEnv,
  file: buildFile,
  'aws-sm': buildAwsSm,
  'azure-kv': buildAzureKv,
  'gcp-sm': buildGcpSm,
  vault: buildVault,
  'vault-pki': buildVaultPki,
};

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function suggestion(word: string, candidates: readonly string[]): string {
  const near = candidates.find((c) => c.startsWith(word) || word.startsWith(c) || levenshtein(word, c) <= 2);
  return near === undefined ? '' : ` Did you mean ${JSON.stringify(near)}?`;
}

/** True when `value` starts with a scheme that exists (`env:`, `vault://`, ...). */
function looksLikeReference(value: string): boolean {
  const scheme = schemeOf(value);
  return scheme !== undefined && schemeNames().includes(scheme);
}

function checkValue(o: RawOption, spec: SchemeOption, scheme: string): void {
  const at = (problem: string, fix: string) =>
    new ReferenceProblem(o.valueStart, Math.max(1, o.valueLength), problem, fix);
  switch (spec.type) {
    case 'integer':
      if (!/^\d{1,15}$/.test(o.value))
        throw at(`${o.name}=${o.value} is not a whole number`, `Write e.g. ${o.name}=3.`);
      break;
    case 'boolean':
      if (o.value !== 'true' && o.value !== 'false') {
        throw at(`${o.name}=${o.value} is not true or false`, `Write ${o.name}=true or ${o.name}=false.`);
      }
      break;
    case 'enum':
      if (!spec.values?.includes(o.value)) {
        throw at(
          `${o.name}=${o.value} is not one of ${spec.values?.join(', ')}`,
          `Write ${o.name}=${spec.values?.[0]}.`,
        );
      }
      break;
    case 'url': {
      let ok = false;
      try {
        const u = new URL(o.value);
        ok = (u.protocol === 'https:' || u.protocol === 'http:') && u.hostname !== '';
      } catch {}
      if (!ok)
        throw at(`${o.name}=${o.value} is not an http(s) URL`, `Write e.g. ${o.name}=https://host:port.`);
      break;
    }
    case 'reference':
      if (!looksLikeReference(o.value)) {
        throw at(
          `${o.name}= of ${scheme}: must be a reference`,
          `Write e.g. ${o.name}=env:MTLS_PASSPHRASE or ${o.name}=file:/run/secrets/passphrase.`,
        );
      }
      break;
    default:
      break;
  }
}

function parseAt(text: string, nested: boolean): ParsedReference {
  if (typeof text !== 'string') {
    throw new ReferenceProblem(
      0,
      1,
      `a reference is a string, not ${typeof text}`,
      'Pass a string such as env:.',
    );
  }
  if (text === '')
    throw new ReferenceProblem(0, 1, 'the reference is empty', 'Write e.g. env: or file:/etc/mtls.');
  if (text.trim() !== text) {
    const start = /^\s/.test(text) ? 0 : text.trimEnd().length;
    throw new ReferenceProblem(start, 1, 'the reference has surrounding whitespace', 'Remove it.');
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  const ctl = /[\u0000-\u001f\u007f]/.exec(text);
  if (ctl)
    throw new ReferenceProblem(
      ctl.index,
      1,
      'the reference contains a control character',
      'Percent-encode it.',
    );

  const scheme = schemeOf(text);
  if (scheme === undefined) {
    const fix = /^[./~]/.test(text)
      ? `For a file or directory write file:${text}.`
      : 'A reference starts with a scheme: env:, file:, aws-sm://, azure-kv://, gcp-sm://, vault://, vault-pki://.';
    throw new ReferenceProblem(0, Math.max(1, text.search(/[:?/]|$/)), 'the reference has no scheme', fix);
  }
  const known = schemeNames();
  const options = schemeOptions(scheme);
  if (options === undefined) {
    throw new ReferenceProblem(
      0,
      scheme.length,
      `unknown scheme "${scheme}:"`,
      `Schemes that exist: ${known.map((s) => `${s}:`).join(', ')}.${suggestion(scheme, known)}`,
    );
  }

  let pos = scheme.length + 1;
  const slashes = text.startsWith('//', pos);
  if (slashes) pos += 2;
  const q = text.indexOf('?', pos);
  const pathRaw = text.slice(pos, q < 0 ? undefined : q);
  const path = percentDecode(pathRaw, pos);

  const raw = new Map<string, RawOption>();
  if (q >= 0) {
    let at = q + 1;
    const query = text.slice(q + 1);
    for (const seg of query === '' ? [] : query.split('&')) {
      if (seg === '') {
        throw new ReferenceProblem(
          Math.max(q, at - 1),
          1,
          'an empty option (two "&" in a row, or a trailing "&")',
          'Remove the extra "&".',
        );
      }
      const eq = seg.indexOf('=');
      if (eq < 0)
        throw new ReferenceProblem(at, seg.length, `option "${seg}" has no value`, `Write ${seg}=VALUE.`);
      const name = percentDecode(seg.slice(0, eq), at);
      const valueRaw = seg.slice(eq + 1);
      const value = percentDecode(valueRaw, at + eq + 1);
      const spec = options[name];
      if (spec === undefined) {
        const valid = Object.keys(options);
        throw new ReferenceProblem(
          at,
          Math.max(1, eq),
          `unknown option "${name}" for ${scheme}:`,
          `Valid options: ${valid.join(', ') || '(none)'}.${suggestion(name, valid)}`,
          scheme,
        );
      }
      if (raw.has(name))
        throw new ReferenceProblem(at, seg.length, `option "${name}" is given twice`, 'Keep one.');
      if (value === '')
        throw new ReferenceProblem(
          at,
          seg.length,
          `option "${name}" is empty`,
          `Give it a value or remove it.`,
        );
      const o: RawOption = {
        name,
        value,
        nameStart: at,
        valueStart: at + eq + 1,
        valueLength: valueRaw.length,
        verbatim: valueRaw === value,
      };
      checkValue(o, spec, scheme);
      raw.set(name, o);
      at += seg.length + 1;
    }
  }
  for (const [name, spec] of Object.entries(options)) {
    if (spec.required && !raw.has(name)) {
      throw new ReferenceProblem(
        text.length,
        1,
        `${scheme}: needs option "${name}"`,
        `Add ${q < 0 ? '?' : '&'}${name}=...`,
      );
    }
  }
  const opts = Object.freeze(Object.fromEntries([...raw].map(([k, o]) => [k, o.value])));

  let passphrase: ParsedReference | undefined;
  const pp = raw.get('passphrase');
  if (pp !== undefined && looksLikeReference(pp.value)) {
    if (nested) {
      throw new ReferenceProblem(
        pp.nameStart,
        pp.valueStart + pp.valueLength - pp.nameStart,
        'a passphrase reference cannot have its own passphrase=',
        'Remove the inner passphrase=.',
      );
    }
    try {
      passphrase = parseAt(pp.value, true);
    } catch (err) {
      if (!(err instanceof ReferenceProblem)) throw err;
      const start = pp.verbatim ? pp.valueStart + err.start : pp.valueStart;
      const length = pp.verbatim ? err.length : pp.valueLength;
      throw new ReferenceProblem(
        start,
        length,
        `in passphrase=: ${err.problem}`,
        err.fix,
        err.unknownOptionOf,
      );
    }
  }

  const cursor = new Cursor(
    text,
    scheme,
    slashes,
    path,
    pos,
    pathRaw.length,
    raw,
    opts,
    passphrase !== undefined,
  );
  const builder = (BUILDERS as Record<string, ((c: Cursor) => unknown) | undefined>)[scheme];
  const target = builder?.(cursor);
  return Object.freeze({
    scheme,
    slashes,
    path,
    options: opts,
    ...(passphrase !== undefined && { passphrase }),
    target: target === undefined ? undefined : Object.freeze(target),
  }) as ParsedReference;
}

/**
 * Parses and validates a reference such as `aws-sm://prod/mtls?region=eu-west-1` or
 * `file:/etc/mtls`. Throws INVALID_REFERENCE whose message points at the wrong part.
 * Reads no environment and loads no adapter: option tables of registered adapters are consulted.
 */
export function parseReference<S extends string = string>(text: string): ParsedReference<S> {
  try {
    return parseAt(text, false) as unknown as ParsedReference<S>;
  } catch (err) {
    if (err instanceof ReferenceProblem) throw toError(String(text), err);
    throw err;
  }
}

/**
 * Writes a reference back as a string, percent-encoding what must be (`%`, `?`, `&`, `#`, spaces,
 * non-ASCII). `parseReference(formatReference(ref))` gives back `ref`. Throws INVALID_REFERENCE when
 * the parts do not form a valid reference.
 */
export function formatReference(parts: ReferenceParts): string {
  const scheme = parts.scheme;
  if (typeof scheme !== 'string' || !isSchemeName(scheme)) {
    throw new MtlsError(
      'INVALID_REFERENCE',
      `Invalid reference: scheme ${JSON.stringify(scheme)} is not a scheme name.`,
    );
  }
  let path = percentEncode(parts.path ?? '', SAFE_PATH);
  if (!parts.slashes && path.startsWith('//')) path = `%2F${path.slice(1)}`;
  const query = Object.entries(parts.options ?? {})
    .map(([k, v]) => `${percentEncode(k, SAFE_KEY)}=${percentEncode(v, SAFE_VALUE)}`)
    .join('&');
  const text = `${scheme}:${parts.slashes ? '//' : ''}${path}${query ? `?${query}` : ''}`;
  parseReference(text);
  return text;
}
