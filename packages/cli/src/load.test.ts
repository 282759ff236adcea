import { MtlsError } from '@mtlskit/core';
import { loadMaterial } from '@mtlskit/core/decode';
import { describe, expect, it } from 'vitest';

describe('loadMaterial', () => {
  it('reports a source failure that is not an MtlsError as SOURCE_UNAVAILABLE, by name and code only', async () => {
    const secret = 'password=hunter2-in-a-driver-message';
    const failure = Object.assign(new TypeError(`connect failed: ${secret}`), { code: 'ECONNRESET' });
    const err = await loadMaterial({
      id: 'vault://kv/app',
      load: async () => {
        throw failure;
      },
    }).catch((e: unknown) => e);
    expect(MtlsError.is(err, 'SOURCE_UNAVAILABLE')).toBe(true);
    expect((err as MtlsError).message).toBe(
      'Loading the credential from vault://kv/app failed (TypeError ECONNRESET). Check that the source is reachable and its settings are right, then retry.',
    );
    expect((err as MtlsError).message).not.toContain(secret);
    expect((err as MtlsError).sourceId).toBe('vault://kv/app');
  });

  it('passes an MtlsError through unchanged', async () => {
    const denied = new MtlsError('ACCESS_DENIED', 'denied');
    await expect(
      loadMaterial({
        id: 'x',
        load: async () => {
          throw denied;
        },
      }),
    ).rejects.toBe(denied);
  });
});
