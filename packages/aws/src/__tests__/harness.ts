// Shared set-up of the adapter's tests: a loopback AWS emulator and sources pointed at it with the
// real SDK, explicit credentials (so the SDK never looks for any elsewhere), one attempt per call
// and short deadlines. Every harness records the process's outgoing connections while it runs and
// fails its close() if one left loopback: no test of this package reaches AWS or a metadata service.
import {
  type AwsSecretsManagerEmulator,
  type AwsSecretsManagerEmulatorOptions,
  startAwsSecretsManagerEmulator,
  trackConnections,
} from '@mtlskit/testkit';
import {
  type AwsSecretsManagerSource,
  type AwsSecretsManagerSourceOptions,
  awsSecretsManagerSource,
} from '../source.js';

export const TEST_CREDENTIALS = {
  accessKeyId: 'AKIDMTLSKITTEST',
  secretAccessKey: 'mtlskit-test-secret-access-key',
};
export const TEST_REGION = 'eu-west-1';

export interface AwsHarness {
  emulator: AwsSecretsManagerEmulator;
  /** A source on the emulator; options override the test defaults. Closed by `close()`. */
  source(options: AwsSecretsManagerSourceOptions): AwsSecretsManagerSource;
  /** Closes sources and emulator; rejects when any connection made meanwhile left loopback. */
  close(): Promise<void>;
}

export async function startAwsHarness(options: AwsSecretsManagerEmulatorOptions = {}): Promise<AwsHarness> {
  const net = trackConnections();
  const emulator = await startAwsSecretsManagerEmulator({ region: TEST_REGION, ...options });
  const opened: AwsSecretsManagerSource[] = [];
  return {
    emulator,
    source(sourceOptions) {
      const source = awsSecretsManagerSource({
        endpoint: emulator.url,
        region: TEST_REGION,
        credentials: TEST_CREDENTIALS,
        maxAttempts: 1,
        timeoutMs: 2_000,
        ...sourceOptions,
      });
      opened.push(source);
      return source;
    },
    async close() {
      await Promise.all(opened.map((s) => s.close()));
      await emulator.close();
      net.stop();
      const away = net.offLoopback();
      if (away.length > 0) {
        throw new Error(`connections left loopback: ${away.map((c) => `${c.host}:${c.port}`).join(', ')}`);
      }
    },
  };
}
