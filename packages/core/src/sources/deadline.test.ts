import { describe, expect, it } from 'vitest';
import { withDeadline } from './deadline.js';

const never = () => new Promise<never>(() => {});
const timeout = () => new Error('timed out');

describe('withDeadline', () => {
  it('resolves with what the work returns, and the signal it was given is not aborted', async () => {
    let seen: AbortSignal | undefined;
    const value = await withDeadline(
      async (s) => {
        seen = s;
        return 42;
      },
      { timeoutMs: 1000, onTimeout: timeout },
    );
    expect(value).toBe(42);
    expect(seen?.aborted).toBe(false);
  });

  it('rejects at the timeout even when the work ignores its signal, and aborts that signal', async () => {
    let seen: AbortSignal | undefined;
    const started = Date.now();
    const err = await withDeadline(
      (s) => {
        seen = s;
        return never();
      },
      { timeoutMs: 50, onTimeout: timeout },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe('timed out');
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBe(err);
  });

  it("rejects with the caller's abort reason, at once, whether or not the work honours it", async () => {
    const ac = new AbortController();
    const reason = new Error('caller gave up');
    const pending = withDeadline(() => never(), { signal: ac.signal, timeoutMs: 10_000, onTimeout: timeout });
    ac.abort(reason);
    await expect(pending).rejects.toBe(reason);
    const already = withDeadline(async () => 1, { signal: ac.signal, onTimeout: timeout });
    await expect(already).rejects.toBe(reason);
  });

  it('aborts on any of the further signals (a resolver closing)', async () => {
    const closing = new AbortController();
    const pending = withDeadline(() => never(), { also: [closing.signal], onTimeout: timeout });
    closing.abort(new Error('closed'));
    await expect(pending).rejects.toThrow('closed');
  });

  it('maps what the work rejects with through onError, and a synchronous throw too', async () => {
    const onError = (e: unknown) => new Error(`mapped: ${(e as Error).message}`);
    await expect(
      withDeadline(
        async () => {
          throw new Error('vendor');
        },
        { onTimeout: timeout, onError },
      ),
    ).rejects.toThrow('mapped: vendor');
    await expect(
      withDeadline(
        () => {
          throw new Error('sync');
        },
        { onTimeout: timeout, onError },
      ),
    ).rejects.toThrow('mapped: sync');
  });

  it('ignores what the work yields after the deadline (no unhandled rejection)', async () => {
    let fail: (e: Error) => void = () => {};
    const err = await withDeadline(
      () =>
        new Promise<never>((_, reject) => {
          fail = reject;
        }),
      { timeoutMs: 10, onTimeout: timeout },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe('timed out');
    fail(new Error('late'));
    await new Promise((r) => setTimeout(r, 10));
  });
});
