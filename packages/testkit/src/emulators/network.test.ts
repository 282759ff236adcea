import { request } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startAwsSecretsManagerEmulator } from './aws-secrets-manager.js';
import { trackConnections } from './network.js';

describe('trackConnections', () => {
  it('records connections to an emulator as loopback', async () => {
    const emulator = await startAwsSecretsManagerEmulator();
    const net = trackConnections();
    try {
      await new Promise<void>((resolve, reject) => {
        request(emulator.url, { method: 'POST', agent: false }, (res) => res.resume().on('end', resolve))
          .on('error', reject)
          .end('{}');
      });
      expect(net.connections).toHaveLength(1);
      expect(net.connections[0]).toMatchObject({
        host: '127.0.0.1',
        port: emulator.port,
        addresses: ['127.0.0.1'],
      });
      expect(net.offLoopback()).toEqual([]);
    } finally {
      net.stop();
      await emulator.close();
    }
  });

  it('flags a connection to any other address, such as a cloud metadata endpoint', () => {
    const net = trackConnections();
    try {
      // An out-of-range port makes connect() throw before any packet is sent; the attempt is still recorded.
      expect(() => new Socket().connect({ host: '169.254.169.254', port: 70_000 })).toThrow(RangeError);
      expect(net.offLoopback()).toEqual([
        { host: '169.254.169.254', port: 70_000, path: undefined, addresses: [] },
      ]);
    } finally {
      net.stop();
    }
  });

  it('stops recording after stop(), while other trackers keep recording', () => {
    const outer = trackConnections();
    const inner = trackConnections();
    inner.stop();
    expect(() => new Socket().connect({ host: 'localhost', port: 70_000 })).toThrow(RangeError);
    outer.stop();
    expect(() => new Socket().connect({ host: 'localhost', port: 70_001 })).toThrow(RangeError);
    expect(inner.connections).toEqual([]);
    expect(outer.connections.map((c) => c.port)).toEqual([70_000]);
    expect(outer.offLoopback()).toEqual([]);
  });
});
