// One deadline helper for every call that may hang: a vendor SDK call, a source load, a filesystem
// call. It combines the caller's abort signal with a timeout, hands the combined signal to the work,
// and settles at the abort or the timeout even when the work ignores its signal (a black-holed
// socket, an SDK that never looks at it). What the work yields too late is dropped quietly.

/** Options of {@link withDeadline}. */
export interface DeadlineOptions {
  /** The caller's signal: its abort rejects with its reason. */
  signal?: AbortSignal | undefined;
  /** Milliseconds before the work is abandoned; `Infinity` or absent: no timeout. */
  timeoutMs?: number | undefined;
  /** The error to reject with at the timeout. */
  onTimeout: () => unknown;
  /** Maps what the work rejects with (not an abort, not the timeout): e.g. a vendor error to an MtlsError. */
  onError?: (err: unknown) => unknown;
  /** Further signals that abort the work (a resolver's close()). Their reason is the rejection. */
  also?: readonly AbortSignal[];
}

/**
 * Runs `run(signal)` under a deadline. Rejects with the caller's abort reason when `signal` (or one
 * of `also`) aborts, with `onTimeout()` when `timeoutMs` passes, with `onError(err)` (or `err`) when
 * the work fails; resolves with what the work returns otherwise. The timer is unref'd.
 */
export function withDeadline<T>(
  run: (signal: AbortSignal) => Promise<T>,
  options: DeadlineOptions,
): Promise<T> {
  const { signal, timeoutMs, onTimeout, onError, also = [] } = options;
  const outer = [signal, ...also].filter((s): s is AbortSignal => s !== undefined);
  const aborted = outer.find((s) => s.aborted);
  if (aborted) return Promise.reject(aborted.reason);

  const inner = new AbortController();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const listeners: Array<[AbortSignal, () => void]> = [];
    const finish = (settle: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const [s, l] of listeners) s.removeEventListener('abort', l);
      settle();
    };
    for (const s of outer) {
      const onAbort = (): void => {
        inner.abort(s.reason);
        finish(() => reject(s.reason));
      };
      s.addEventListener('abort', onAbort, { once: true });
      listeners.push([s, onAbort]);
    }
    if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
      timer = setTimeout(() => {
        const error = onTimeout();
        inner.abort(error);
        finish(() => reject(error));
      }, timeoutMs);
      timer.unref?.();
    }
    let work: Promise<T>;
    try {
      work = run(inner.signal);
    } catch (err) {
      work = Promise.reject(err);
    }
    work.then(
      (value) => finish(() => resolve(value)),
      (err: unknown) => finish(() => reject(onError ? onError(err) : err)),
    );
  });
}
