// The one error class of mtlskit: every failure a user can see is an MtlsError with a stable code,
// a retryable flag, the id of the source involved, and a cause stripped of anything secret.
import { inspect } from 'node:util';
import { redactCause, redactText } from './redact.js';

/** Stable error codes, with whether a retry can help. Codes never change meaning once released. */
export const ERROR_CODES = {
  INVALID_REFERENCE: { retryable: false, summary: 'a malformed reference string' },
  INVALID_OPTION: {
    retryable: false,
    summary: 'a bad option or argument value given in code (not a reference)',
  },
  ADAPTER_NOT_INSTALLED: { retryable: false, summary: "the scheme's package is not installed" },
  SOURCE_NOT_FOUND: { retryable: false, summary: 'secret, version, file or variable absent' },
  ACCESS_DENIED: { retryable: false, summary: 'authentication or authorisation refused' },
  THROTTLED: { retryable: true, summary: 'the vault rate-limited the call' },
  SOURCE_UNAVAILABLE: { retryable: true, summary: 'network error, timeout, 5xx, sealed vault' },
  INTEGRITY_FAILED: { retryable: false, summary: 'checksum mismatch or decryption failure in the vault' },
  MISSING_FIELD: { retryable: false, summary: 'no certificate or no key in what was loaded' },
  DECODE_FAILED: { retryable: false, summary: 'a field is in no format mtlskit reads' },
  WRONG_PASSPHRASE: {
    retryable: false,
    summary: 'encrypted key or PKCS#12 with a wrong or missing passphrase',
  },
  KEY_MISMATCH: { retryable: false, summary: 'the key does not belong to the leaf certificate' },
  CHAIN_INVALID: {
    retryable: false,
    summary: 'chain out of order and not reorderable, or a CA that does not parse',
  },
  EXPIRED: { retryable: false, summary: "past the certificate's notAfter" },
  NOT_YET_VALID: { retryable: false, summary: "before the certificate's notBefore" },
  NO_CLIENT_AUTH: {
    retryable: false,
    summary:
      'the certificate (or an intermediate) is not allowed for TLS client authentication: extended key usage, key usage or Netscape type',
  },
  IDENTITY_MISMATCH: { retryable: false, summary: 'subject or SAN differ from the expected identity' },
  WEAK_CREDENTIAL: {
    retryable: false,
    summary: "a key too small or a signature hash too weak for this Node's OpenSSL security level",
  },
  CLOSED: { retryable: false, summary: 'the resolver was closed' },
  PROXY_FAILED: {
    retryable: true,
    summary:
      'the egress proxy refused or failed the CONNECT tunnel (status kept, proxy credentials never shown)',
  },
} as const satisfies Record<string, { retryable: boolean; summary: string }>;

export type MtlsErrorCode = keyof typeof ERROR_CODES;

/** An {@link MtlsError} whose `code` is known to be one of `C`: what `MtlsError.is` and `MtlsError.from` narrow to. */
export type MtlsErrorWithCode<C extends MtlsErrorCode> = MtlsError & { readonly code: C };

// How far `MtlsError.from` follows `cause`: HTTP clients wrap once or twice (got: RequestError → the
// agent's error; fetch: TypeError → the dispatcher's error). The bound keeps a hostile chain finite.
const MAX_CAUSE_DEPTH = 8;

export interface MtlsErrorOptions {
  /** The `id` of the source the failure came from, e.g. `aws-sm://prod/mtls`. */
  sourceId?: string;
  /** The credential field involved (`cert`, `key`, `pfx`, ...), when there is one. */
  field?: string;
  /** The underlying error. It is stored redacted: see {@link redactCause}. */
  cause?: unknown;
  /** Overrides the code's default retryability (rarely needed). */
  retryable?: boolean;
}

// Brand shared by every copy of this module (ESM and require(esm), or two installed versions), so that
// `instanceof MtlsError` holds for an error built by any of them.
const BRAND = Symbol.for('mtlskit.MtlsError');

/**
 * Every failure of mtlskit. `code` is stable (see {@link ERROR_CODES}); `message` names the field and
 * says what to do; neither the message nor `cause` ever carries key bytes, passphrases or tokens.
 */
export class MtlsError extends Error {
  readonly code: MtlsErrorCode;
  readonly retryable: boolean;
  readonly sourceId: string | undefined;
  readonly field: string | undefined;

  constructor(code: MtlsErrorCode, message: string, options: MtlsErrorOptions = {}) {
    const cause = options.cause === undefined ? undefined : redactCause(options.cause);
    super(redactText(message), cause === undefined ? undefined : { cause });
    Object.defineProperty(this, BRAND, { value: true });
    this.name = 'MtlsError';
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    // Redacted like the message: an id is often built from what the user wrote (a reference), and it is
    // shown on its own by inspect and JSON.
    this.sourceId = typeof options.sourceId === 'string' ? redactText(options.sourceId) : options.sourceId;
    this.field = options.field;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== MtlsError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  /**
   * True when `err` itself is an MtlsError, with one of `codes` when given; narrows `err.code` to them.
   * An HTTP client hands mtlskit's error back wrapped (axios' `AxiosError`, got's `RequestError`,
   * fetch's `TypeError: fetch failed`, each with the MtlsError in `cause`): use {@link MtlsError.from}
   * there, which looks through `cause`.
   */
  static is<C extends MtlsErrorCode = MtlsErrorCode>(
    err: unknown,
    ...codes: C[]
  ): err is MtlsErrorWithCode<C> {
    return err instanceof MtlsError && (codes.length === 0 || (codes as MtlsErrorCode[]).includes(err.code));
  }

  /**
   * The MtlsError behind `err`: `err` itself or the first error along its `cause` chain that is an
   * MtlsError with one of `codes` (any code when none are given), or undefined. Use it on what an HTTP
   * client throws: `MtlsError.from(err, 'EXPIRED')?.message`.
   */
  static from<C extends MtlsErrorCode = MtlsErrorCode>(
    err: unknown,
    ...codes: C[]
  ): MtlsErrorWithCode<C> | undefined {
    const seen = new Set<unknown>();
    let current = err;
    for (let depth = 0; depth <= MAX_CAUSE_DEPTH && !seen.has(current); depth++) {
      if (MtlsError.is(current, ...codes)) return current;
      if (typeof current !== 'object' || current === null) return undefined;
      seen.add(current);
      current = causeOf(current);
    }
    return undefined;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      sourceId: this.sourceId,
      field: this.field,
      cause: this.cause,
    };
  }

  [inspect.custom](): string {
    const where = [this.sourceId && `source ${this.sourceId}`, this.field && `field ${this.field}`]
      .filter(Boolean)
      .join(', ');
    const head = `MtlsError [${this.code}]${where ? ` (${where})` : ''}: ${this.message}`;
    const frames = (this.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
    const cause = this.cause === undefined ? '' : `\n  cause: ${inspect(this.cause)}`;
    return [head, ...frames].join('\n') + cause;
  }
}

// A getter that throws (a hostile or half-built error) ends the walk rather than the caller's catch block.
function causeOf(err: object): unknown {
  try {
    return (err as { cause?: unknown }).cause;
  } catch {
    return undefined;
  }
}
