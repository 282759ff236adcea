import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startLoopbackHarness, until } from './harness.js';

function closable(name: string, closed: string[]) {
  return { close: async () => void closed.push(name) };
}

describe('startLoopbackHarness', () => {
  it('closes what it owns, last owned first, then the emulator', async () => {
    const closed: string[] = [];
    const harness = await startLoopbackHarness(async () => closable('emulator', closed));
    expect(harness.own(closable('client', closed)).close).toBeTypeOf('function');
    harness.own(closable('source', closed));
    await harness.close();
    expect(closed).toEqual(['source', 'client', 'emulator']);
  });

  it('rejects its close() naming a connection that left loopback', async () => {
    const harness = await startLoopbackHarness(async () => ({ close: async () => {} }));
    expect(() => new Socket().connect({ host: '169.254.169.254', port: 70_000 })).toThrow(RangeError);
    await expect(harness.close()).rejects.toThrow('connections left loopback: 169.254.169.254:70000');
  });

  it('stops recording when the emulator does not start', async () => {
    const connect = Socket.prototype.connect;
    await expect(startLoopbackHarness(() => Promise.reject(new Error('no port')))).rejects.toThrow('no port');
    // No tracker is left recording, so the tracking hook is gone again.
    expect(Socket.prototype.connect).toBe(connect);
  });
});

describe('until', () => {
  it('resolves once the predicate holds', async () => {
    let n = 0;
    await until(() => ++n >= 3, 'three polls');
    expect(n).toBe(3);
  });

  it('fails naming what it waited for', async () => {
    await expect(until(() => false, 'the rotation', 30)).rejects.toThrow(
      'timed out waiting for the rotation',
    );
  });
});
