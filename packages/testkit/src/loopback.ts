// Listening for the testkit's servers: loopback only, on a port the system picks.
import type { AddressInfo, Server } from 'node:net';

/** Starts `server` on an ephemeral port of 127.0.0.1; resolves with the port, rejects when listening fails. */
export function listenOnLoopback(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
