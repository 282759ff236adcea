// The request log of an emulator: every call it received, in order, with what it answered, so a
// test can assert on traffic ("one DescribeSecret and no GetSecretValue: the cache held").

import type { FaultKind } from './faults.js';

/** One call an emulator received. */
export interface LoggedCall {
  /** 1 for the first call since the emulator started (not reset by `clear()`). */
  readonly seq: number;
  readonly at: Date;
  /** The emulator's name for the operation, e.g. `GetSecretValue` or `AccessSecretVersion`. */
  readonly operation: string;
  /** The secret the call named, when it named one. */
  readonly secret: string | undefined;
  /** HTTP method and path (for gRPC, the method path). */
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The request body: parsed JSON when it was JSON, else text (absent when empty). */
  readonly body: unknown;
  /** Address of the peer: always loopback, which tests may assert. */
  readonly remoteAddress: string | undefined;
  /** The fault applied to this call, if any. */
  readonly fault: FaultKind | undefined;
  /** What was answered (HTTP status or gRPC code); undefined while pending or when no answer was sent. */
  status: number | undefined;
}

/** Selects calls by operation and/or secret. */
export interface CallFilter {
  operation?: string;
  secret?: string;
}

function matches(
  call: LoggedCall,
  filter: CallFilter | ((call: LoggedCall) => boolean) | undefined,
): boolean {
  if (filter === undefined) return true;
  if (typeof filter === 'function') return filter(call);
  return (
    (filter.operation === undefined || call.operation === filter.operation) &&
    (filter.secret === undefined || call.secret === filter.secret)
  );
}

/** Calls received, oldest first. */
export class RequestLog {
  readonly #calls: LoggedCall[] = [];
  #seq = 0;

  /** Records a call; emulators call this, tests read. */
  record(call: Omit<LoggedCall, 'seq' | 'at' | 'status'> & { status?: number }): LoggedCall {
    const entry: LoggedCall = { ...call, seq: ++this.#seq, at: new Date(), status: call.status };
    this.#calls.push(entry);
    return entry;
  }

  /** All calls, or those matching the filter. */
  calls(filter?: CallFilter | ((call: LoggedCall) => boolean)): LoggedCall[] {
    return this.#calls.filter((c) => matches(c, filter));
  }

  /** How many calls match (all when no filter). */
  count(filter?: CallFilter | ((call: LoggedCall) => boolean)): number {
    return this.calls(filter).length;
  }

  /** Operation names in order, e.g. `['DescribeSecret', 'GetSecretValue']`. */
  operations(filter?: CallFilter | ((call: LoggedCall) => boolean)): string[] {
    return this.calls(filter).map((c) => c.operation);
  }

  last(filter?: CallFilter | ((call: LoggedCall) => boolean)): LoggedCall | undefined {
    return this.calls(filter).at(-1);
  }

  /** Forgets the calls so far (sequence numbers keep counting). */
  clear(): void {
    this.#calls.length = 0;
  }
}
