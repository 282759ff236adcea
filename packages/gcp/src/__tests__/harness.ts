// Shared set-up of the adapter's tests: a loopback Secret Manager emulator, and sources pointed at it
// with the real Google client over either transport — gRPC (plain HTTP/2, no TLS, no call credentials)
// or the REST fallback (HTTP/1.1, a pass-through auth client). `universeDomain` is given so the client
// never looks up default credentials. Every harness records the process's outgoing connections while
// it runs and fails its close() if one left loopback: no metadata-server probe, no call to Google.
import { createRequire } from 'node:module';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import {
  type GcpSecretManagerEmulator,
  type GcpSecretManagerEmulatorOptions,
  type LoopbackHarness,
  startGcpSecretManagerEmulator,
  startLoopbackHarness,
} from '@mtlskit/testkit';
import {
  type GcpClientOptions,
  type GcpSecretManagerSource,
  type GcpSecretManagerSourceOptions,
  gcpSecretManagerSource,
  type SecretManagerClientLike,
} from '../source.js';

export type Transport = 'grpc' | 'rest';

/**
 * The emulator's log as `OPERATION VERSION` per call (the version segment asked for: `latest`,
 * `current`, `3`), or the operation alone when the call names no version. Both transports.
 */
export function askedOf(emulator: GcpSecretManagerEmulator): string[] {
  return emulator.log.calls().map((c) => {
    const body = c.body as { name?: unknown } | undefined;
    const name = typeof body?.name === 'string' ? body.name : c.path;
    const version = /\/versions\/([^/:?]+)/.exec(name)?.[1];
    return version === undefined ? c.operation : `${c.operation} ${version}`;
  });
}
export const TRANSPORTS: readonly Transport[] = ['grpc', 'rest'];

/** The google-gax the client uses (not a dependency of this package): its grpc and auth library. */
interface Gax {
  grpc: { credentials: { createInsecure(): unknown } };
  googleAuthLibrary: { PassThroughClient: new () => object };
}
const require = createRequire(import.meta.url);
export const gax = require(
  require.resolve('google-gax', { paths: [require.resolve('@google-cloud/secret-manager')] }),
) as Gax;

/** Client options that point the real client at the emulator over `transport`. */
export function emulatorClientOptions(
  emulator: GcpSecretManagerEmulator,
  transport: Transport,
  authClient?: object,
): GcpClientOptions {
  return emulator.clientOptions(transport, authClient) as GcpClientOptions;
}

export interface GcpHarness extends LoopbackHarness<GcpSecretManagerEmulator> {
  transport: Transport;
  /** A source on the emulator (a client of its own); options override the test defaults. Closed by `close()`. */
  source(options: Partial<GcpSecretManagerSourceOptions> & { name: string }): GcpSecretManagerSource;
  /** A real client on the emulator, for injection. Closed by `close()`. */
  client(): SecretManagerClientLike;
}

export async function startGcpHarness(
  transport: Transport,
  options: GcpSecretManagerEmulatorOptions = {},
): Promise<GcpHarness> {
  const base = await startLoopbackHarness(() => startGcpSecretManagerEmulator(options));
  const { emulator } = base;
  return {
    ...base,
    transport,
    source(sourceOptions) {
      return base.own(
        gcpSecretManagerSource({
          transport,
          clientOptions: emulatorClientOptions(emulator, transport),
          timeoutMs: 2_000,
          onWarning: () => {},
          ...sourceOptions,
        }),
      );
    },
    client() {
      const client = new SecretManagerServiceClient({
        ...emulatorClientOptions(emulator, transport),
        fallback: transport === 'rest',
      });
      return base.own(client) as unknown as SecretManagerClientLike;
    },
  };
}
