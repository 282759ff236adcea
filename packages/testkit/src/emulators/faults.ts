// Per-call fault injection for the emulators: a test queues "the next GetSecretValue on prod/mtls is
// throttled" and the emulator applies it to exactly the calls it matches. Transport-neutral: the
// HTTP emulators and a gRPC one consult the same injector; each emulator decides how a fault looks
// on its wire (an AWS `__type`, an Azure `error.code`, a gRPC status).

/**
 * What goes wrong:
 * - `notFound`, `denied`, `throttled`, `serverError`: the vendor's own error for that case.
 * - `error`: any vendor error, given by `code` (e.g. AWS `DecryptionFailure`) and `status`.
 * - `slow`: the answer is held back `delayMs` (default: until the client gives up or the emulator closes).
 * - `corrupt`: a well-formed answer whose secret value is damaged (checksums, where the wire has them,
 *   still describe the original value).
 * - `stale`: a read of the current value is served the version it replaced, as a replica that has not
 *   caught up with the latest rotation answers (stores are eventually consistent).
 * - `malformed`: an answer that is not valid for the protocol (truncated JSON).
 * - `reset`: the connection is reset without an answer.
 */
export type FaultKind =
  | 'notFound'
  | 'denied'
  | 'throttled'
  | 'serverError'
  | 'error'
  | 'slow'
  | 'corrupt'
  | 'stale'
  | 'malformed'
  | 'reset';

export const FAULT_KINDS: readonly FaultKind[] = [
  'notFound',
  'denied',
  'throttled',
  'serverError',
  'error',
  'slow',
  'corrupt',
  'stale',
  'malformed',
  'reset',
];

/** A fault and the calls it applies to. */
export interface FaultSpec {
  kind: FaultKind;
  /** Only calls of this operation (the emulator's name for it, e.g. `GetSecretValue`). */
  operation?: string;
  /** Only calls that name this secret. */
  secret?: string;
  /** How many matching calls it hits before it is used up. Default 1; `Infinity` until cleared. */
  times?: number;
  /** How many matching calls to let through first (`after: 1` fails the second call). Default 0. */
  after?: number;
  /** `slow`: how long to hold the answer back; absent, hold it until the client disconnects. */
  delayMs?: number;
  /** `serverError` and `error`: the status to answer with (HTTP status, or gRPC code for gRPC emulators). */
  status?: number;
  /** `error`: the vendor's error code or type. */
  code?: string;
  /** The error message to send instead of the emulator's default one. */
  message?: string;
}

/** What the emulator knows about a call when it decides whether a fault applies. */
export interface CallIdentity {
  operation: string;
  secret?: string | undefined;
}

/** A queued fault; `hits` counts the calls it has answered. */
export interface InjectedFault {
  readonly spec: Readonly<FaultSpec>;
  readonly hits: number;
  /** Calls left before it is used up. */
  readonly remaining: number;
  /** Withdraws it. */
  clear(): void;
}

class QueuedFault implements InjectedFault {
  hits = 0;
  passed = 0;
  constructor(
    readonly spec: Readonly<FaultSpec>,
    private readonly queue: QueuedFault[],
  ) {}

  get remaining(): number {
    return Math.max(0, (this.spec.times ?? 1) - this.hits);
  }

  clear(): void {
    const at = this.queue.indexOf(this);
    if (at >= 0) this.queue.splice(at, 1);
  }

  matches(call: CallIdentity): boolean {
    return (
      (this.spec.operation === undefined || this.spec.operation === call.operation) &&
      (this.spec.secret === undefined || this.spec.secret === call.secret)
    );
  }
}

/** The queue of faults an emulator applies, first match first. */
export class FaultInjector {
  readonly #queue: QueuedFault[] = [];

  /** Queues a fault; it applies to the next `times` matching calls. */
  inject(spec: FaultSpec): InjectedFault {
    const times = spec.times ?? 1;
    if (!(times > 0)) throw new RangeError(`fault times must be positive, got ${times}`);
    if (!((spec.after ?? 0) >= 0))
      throw new RangeError(`fault after must not be negative, got ${spec.after}`);
    const fault = new QueuedFault(Object.freeze({ ...spec }), this.#queue);
    this.#queue.push(fault);
    return fault;
  }

  /**
   * The fault for this call, if one matches, counted as used. Emulators call this once per call;
   * tests rarely need it. `applies` says which kinds this call can show (default: all): a fault it
   * cannot show (a `corrupt` value on a call that returns no value) is not taken, and neither counts
   * towards `after` nor is used up — it waits for the next call that can show it.
   */
  take(call: CallIdentity, applies?: (kind: FaultKind) => boolean): FaultSpec | undefined {
    const fault = this.#queue.find((f) => f.matches(call) && (applies?.(f.spec.kind) ?? true));
    if (!fault) return undefined;
    if (fault.passed < (fault.spec.after ?? 0)) {
      fault.passed += 1;
      return undefined;
    }
    fault.hits += 1;
    if (fault.remaining === 0) fault.clear();
    return fault.spec;
  }

  /** Faults still queued. */
  pending(): InjectedFault[] {
    return [...this.#queue];
  }

  clear(): void {
    this.#queue.length = 0;
  }
}

/**
 * Damages a secret value deterministically, the way a `corrupt` fault serves it: the middle half
 * of a text is overwritten with `#`, the middle half of bytes is inverted. Same length, same ends.
 */
export function corruptValue<T extends string | Uint8Array>(value: T): T {
  const start = Math.floor(value.length / 4);
  const end = Math.max(start + 1, Math.ceil((value.length * 3) / 4));
  if (typeof value === 'string') {
    return (value.slice(0, start) +
      '#'.repeat(Math.max(0, Math.min(end, value.length) - start)) +
      value.slice(end)) as T;
  }
  const bytes = new Uint8Array(value);
  for (let i = start; i < Math.min(end, bytes.length); i++) bytes[i] = (bytes[i] ?? 0) ^ 0xff;
  return bytes as T;
}
