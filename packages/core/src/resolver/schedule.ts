// The resolver's timing policy, apart from the state it drives: how long a credential is trusted
// before the source is asked again (interval with jitter, the first check spread over the interval,
// sooner near expiry), when `expiring` fires (the warning window), when an issuing source mints the
// next certificate (the renew fraction), how long to wait after a failure (capped exponential
// backoff), how long a load may take, and the wake-up of each resolver (on the system clock, a slot
// of one timer shared by them all). Every option is checked here, once, when the resolver is built.
import { MtlsError } from '../errors.js';
import type { SourceKind } from '../types.js';
import { warnWindowMs } from '../validation/policy.js';

/** Time as the resolver sees it. Inject one in tests; `setTimeout` drives background refreshes. */
export interface ResolverClock {
  now(): number;
  setTimeout?(fn: () => void, ms: number): unknown;
  clearTimeout?(handle: unknown): void;
}

export const SYSTEM_CLOCK: ResolverClock = { now: () => Date.now() };

/** The timing options of `createTlsResolver`, as given. */
export interface ScheduleOptions {
  refreshIntervalMs?: number;
  jitter?: number;
  warnDays?: number;
  issuingRenewFraction?: number;
  backoff?: { initialMs?: number; maxMs?: number };
  loadTimeoutMs?: number;
}

/** The timing policy with its defaults applied. */
export interface Schedule {
  readonly intervalMs: number;
  readonly jitter: number;
  /** Explicit warning window in days; undefined: 30 days or a third of the lifetime, the smaller. */
  readonly warnDays: number | undefined;
  readonly renewFraction: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly loadTimeoutMs: number;
}

const DEFAULTS = {
  refreshIntervalMs: 15 * 60_000,
  jitter: 0.1,
  issuingRenewFraction: 2 / 3,
  backoffInitialMs: 1_000,
  backoffMaxMs: 5 * 60_000,
  loadTimeoutMs: 60_000,
} as const;

// Close to notAfter a static source is polled more often, and an issuing source whose certificate is
// already past its renewal point (a stale cache in front of it, clock skew) is asked again: in both
// cases never more than once a second, so a source is not hammered.
const MIN_POLL_MS = 1_000;
// setTimeout fires at once for longer delays (with a warning): longer waits are re-armed.
const MAX_TIMER_MS = 2 ** 31 - 1;
// Node keeps the list of a cleared unref'd timer until the time it was set for, one list per distinct
// delay: a wait longer than this is cut to a power of two (the timer fires early and re-arms for the
// rest), so the long waits armed at each refresh share a few lists instead of leaving one each.
const COARSE_TIMER_MS = 60_000;

/**
 * A delay for Node's own setTimeout: over COARSE_TIMER_MS, the power of two below it (the timer fires
 * early, finds nothing due and re-arms for the rest). A clock with timers of its own (tests' fake
 * clocks) gets the delay as it is.
 */
function coarse(delay: number, clock?: ResolverClock): number {
  if (clock?.setTimeout !== undefined || delay <= COARSE_TIMER_MS) return delay;
  return 2 ** Math.floor(Math.log2(delay));
}

/** A bad option of `createTlsResolver`. */
export function invalidOption(name: string, message: string): MtlsError {
  return new MtlsError('INVALID_OPTION', `options.${name} ${message}`, { field: name });
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw invalidOption(name, `must be a positive number of ms (got ${value})`);
  return value;
}

function fraction(name: string, value: number | undefined, fallback: number, open: boolean): number {
  if (value === undefined) return fallback;
  const ok = Number.isFinite(value) && (open ? value > 0 && value < 1 : value >= 0 && value <= 1);
  if (!ok)
    throw invalidOption(
      name,
      `must be a number ${open ? 'between 0 and 1, exclusive' : 'from 0 to 1'} (got ${value})`,
    );
  return value;
}

/** The last schedule made, and what it was made from: a set's thousands of resolvers share one. */
let last: { inputs: readonly unknown[]; schedule: Schedule } | undefined;

/** Checks the timing options and applies their defaults; `policyWarnDays` is the validation policy's. */
export function resolveSchedule(options: ScheduleOptions, policyWarnDays: number | undefined): Schedule {
  const inputs = [
    options.refreshIntervalMs,
    options.jitter,
    options.warnDays,
    options.issuingRenewFraction,
    options.backoff?.initialMs,
    options.backoff?.maxMs,
    options.loadTimeoutMs,
    policyWarnDays,
  ];
  if (last !== undefined && inputs.every((v, i) => Object.is(v, last!.inputs[i]))) return last.schedule;
  const schedule = Object.freeze(scheduleOf(options, policyWarnDays));
  last = { inputs, schedule };
  return schedule;
}

function scheduleOf(options: ScheduleOptions, policyWarnDays: number | undefined): Schedule {
  const warnDays = options.warnDays ?? policyWarnDays;
  if (warnDays !== undefined && (!Number.isFinite(warnDays) || warnDays < 0))
    throw invalidOption('warnDays', `must be 0 or more (got ${warnDays})`);
  const backoffInitialMs = positive(
    'backoff.initialMs',
    options.backoff?.initialMs,
    DEFAULTS.backoffInitialMs,
  );
  return {
    intervalMs: positive('refreshIntervalMs', options.refreshIntervalMs, DEFAULTS.refreshIntervalMs),
    jitter: fraction('jitter', options.jitter, DEFAULTS.jitter, false),
    warnDays,
    renewFraction: fraction(
      'issuingRenewFraction',
      options.issuingRenewFraction,
      DEFAULTS.issuingRenewFraction,
      true,
    ),
    backoffInitialMs,
    backoffMaxMs: Math.max(
      backoffInitialMs,
      positive('backoff.maxMs', options.backoff?.maxMs, DEFAULTS.backoffMaxMs),
    ),
    loadTimeoutMs: positive('loadTimeoutMs', options.loadTimeoutMs, DEFAULTS.loadTimeoutMs),
  };
}

/** The moments that matter for one installed certificate, in ms since the epoch. */
export interface CredentialTimes {
  readonly notAfterMs: number;
  /** Issuing sources: when to mint the next certificate. */
  readonly renewAt: number;
  /** Static sources: from here on `expiring` fires and the source is polled more often. */
  readonly warnWindowMs: number;
  /** When `expiring` fires (static: the warning window before notAfter; issuing: never by time). */
  readonly warnAt: number;
}

/** notBefore this little before arrival is a backdate for clock skew, not an aged certificate. */
const BACKDATE_MS = 5 * 60_000;

/**
 * `receivedMs` is when the certificate was installed. An issuing source's certificate already due for
 * renewal on arrival because its notBefore was backdated (Vault PKI backdates 30 s, so a certificate of
 * under 15 s is due the moment it arrives) has its lifetime counted from arrival instead, so it is not
 * minted again and again. One whose notBefore is older than a backdate (a stale cache handing out an
 * aged certificate) stays due.
 */
export function credentialTimes(
  s: Schedule,
  kind: SourceKind,
  notBeforeMs: number,
  notAfterMs: number,
  receivedMs: number = notBeforeMs,
): CredentialTimes {
  const window = warnWindowMs(s.warnDays, notBeforeMs, notAfterMs);
  let renewAt = notBeforeMs + (notAfterMs - notBeforeMs) * s.renewFraction;
  if (kind === 'issuing' && renewAt <= receivedMs && receivedMs - notBeforeMs <= BACKDATE_MS) {
    const start = Math.min(notAfterMs, receivedMs);
    renewAt = start + (notAfterMs - start) * s.renewFraction;
  }
  return {
    notAfterMs,
    renewAt,
    warnWindowMs: window,
    warnAt: kind === 'issuing' ? Number.POSITIVE_INFINITY : notAfterMs - window,
  };
}

/** `ms` shortened by up to the jitter fraction, at random, so fleets don't refresh in step. */
export function jittered(s: Schedule, ms: number): number {
  return ms * (1 - s.jitter * Math.random());
}

/** The earliest point of the interval the first refresh is spread from (see refreshDelay). */
const FIRST_REFRESH_FROM = 0.1;

/**
 * `ms` at a random point between a tenth of it and the whole of it (all of `ms` when jitter is 0).
 * Credentials loaded together — a set of thousands made ready at start-up, a fleet deployed at once —
 * would otherwise refresh together for ever after: shortening each delay by up to `jitter` only keeps
 * them within that fraction of one another. Spread once, they stay spread, and N credentials cost
 * N / interval source calls a second, evenly.
 */
export function spread(s: Schedule, ms: number): number {
  if (s.jitter === 0) return ms;
  return ms * (1 - (1 - FIRST_REFRESH_FROM) * Math.random());
}

/**
 * How long after a successful load the source is asked again. `first`: the resolver's first load —
 * its first check of a static source is spread over the interval (see {@link spread}).
 */
export function refreshDelay(
  s: Schedule,
  kind: SourceKind,
  t: CredentialTimes,
  now: number,
  first = false,
): number {
  if (kind === 'issuing') return jittered(s, Math.max(MIN_POLL_MS, t.renewAt - now));
  const remaining = t.notAfterMs - now;
  if (remaining <= t.warnWindowMs)
    return jittered(s, Math.min(s.intervalMs, Math.max(MIN_POLL_MS, remaining / 4)));
  return first ? spread(s, s.intervalMs) : jittered(s, s.intervalMs);
}

/**
 * How long after the `failures`-th failure in a row the source is asked again: doubling from the
 * initial delay up to the cap; while a served certificate is still valid (`usableUntil`), no later
 * than its expiry.
 */
export function backoffDelay(
  s: Schedule,
  failures: number,
  usableUntil: number | undefined,
  now: number,
): number {
  const exp = Math.min(s.backoffMaxMs, s.backoffInitialMs * 2 ** Math.min(30, failures - 1));
  const delay = jittered(s, exp);
  if (usableUntil === undefined) return delay;
  return Math.min(delay, Math.max(s.backoffInitialMs, usableUntil - now));
}

/**
 * The wake-ups of every resolver on the system clock, behind one timer: a binary heap by deadline,
 * the process's one `setTimeout` armed for the earliest. Ten thousand resolvers then hold ten
 * thousand heap slots rather than ten thousand timers (each a Timeout, and with deadlines all
 * different, a timer list of its own in Node's timer queue).
 */
class SharedTimer {
  readonly #heap: WakeUp[] = [];
  #handle: NodeJS.Timeout | undefined;
  /** When the armed timer fires; Infinity when none is armed. */
  #at = Number.POSITIVE_INFINITY;
  /** The clearTimeout of the setTimeout that armed it (tests may swap the global ones). */
  #clear: typeof clearTimeout | undefined;

  add(w: WakeUp): void {
    w.index = this.#heap.length;
    this.#heap.push(w);
    this.#up(w.index);
    if (w.deadline < this.#at) this.#arm();
  }

  /** Takes `w` out; the timer stays armed for what was the earliest, and re-arms when it fires. */
  remove(w: WakeUp): void {
    const heap = this.#heap;
    const i = w.index;
    w.index = -1;
    const last = heap.pop()!;
    // With nothing left to wake, no timer is left armed either.
    if (heap.length === 0) this.#arm();
    if (last === w) return;
    heap[i] = last;
    last.index = i;
    this.#down(i);
    this.#up(last.index);
  }

  #arm(): void {
    if (this.#handle !== undefined) this.#clear?.(this.#handle);
    this.#handle = undefined;
    const first = this.#heap[0];
    this.#at = first === undefined ? Number.POSITIVE_INFINITY : first.deadline;
    if (first === undefined) return;
    const delay = coarse(Math.min(MAX_TIMER_MS, Math.max(0, first.deadline - Date.now())));
    this.#clear = clearTimeout;
    this.#handle = setTimeout(() => this.#fire(), delay);
    this.#handle.unref?.();
  }

  #fire(): void {
    this.#handle = undefined;
    const now = Date.now();
    const due: WakeUp[] = [];
    const heap = this.#heap;
    while (heap.length > 0 && heap[0]!.deadline <= now) {
      const w = heap[0]!;
      this.remove(w);
      due.push(w);
    }
    // Re-armed before firing: a wake-up re-arms itself from its callback (add() moves the timer
    // earlier when it must). A timer that fired a little early finds nothing due and waits again.
    this.#arm();
    for (const w of due) {
      try {
        w.fired();
      } catch (err) {
        // As it would from a timer of its own: uncaught, without keeping the others from firing.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  #up(i: number): void {
    const heap = this.#heap;
    const w = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (p.deadline <= w.deadline) break;
      heap[i] = p;
      p.index = i;
      i = parent;
    }
    heap[i] = w;
    w.index = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const w = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap[child + 1]!.deadline < heap[child]!.deadline) child++;
      const c = heap[child]!;
      if (c.deadline >= w.deadline) break;
      heap[i] = c;
      c.index = i;
      i = child;
    }
    heap[i] = w;
    w.index = i;
  }
}

const systemTimer = new SharedTimer();

/**
 * The one wake-up of a resolver, calling `fire` at the deadline it is armed for. On the system clock
 * it is a slot of one timer shared by every resolver; on an injected clock, a timer of that clock's
 * (or the global) `setTimeout`. Timers are unref'd; waits longer than setTimeout takes are re-armed.
 */
export class WakeUp {
  readonly #clock: ResolverClock;
  readonly #fire: () => void;
  /** An injected clock's timer handle. */
  #timer: unknown;
  /** SharedTimer's: the deadline, and the position in its heap (-1: not in it). */
  deadline = Number.POSITIVE_INFINITY;
  index = -1;

  constructor(clock: ResolverClock, fire: () => void) {
    this.#clock = clock;
    this.#fire = fire;
  }

  get armed(): boolean {
    return this.index >= 0 || this.#timer !== undefined;
  }

  /** Fires at `deadline` (at once when past, never when infinite), replacing any earlier wake-up. */
  arm(deadline: number): void {
    this.disarm();
    if (!Number.isFinite(deadline)) return;
    this.deadline = deadline;
    if (this.#clock === SYSTEM_CLOCK) {
      systemTimer.add(this);
      return;
    }
    const delay = coarse(Math.min(MAX_TIMER_MS, Math.max(0, deadline - this.#clock.now())), this.#clock);
    const setTimer = this.#clock.setTimeout ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
    const handle = setTimer.call(
      this.#clock,
      () => {
        this.#timer = undefined;
        this.#fire();
      },
      delay,
    );
    (handle as { unref?: () => void } | undefined)?.unref?.();
    this.#timer = handle;
  }

  disarm(): void {
    if (this.index >= 0) systemTimer.remove(this);
    if (this.#timer === undefined) return;
    const clearTimer = this.#clock.clearTimeout ?? ((h: unknown) => clearTimeout(h as NodeJS.Timeout));
    clearTimer.call(this.#clock, this.#timer);
    this.#timer = undefined;
  }

  /** The shared timer reached the deadline (and took this wake-up out of its heap). */
  fired(): void {
    this.#fire();
  }
}
