// Shared set-up of the adapter's tests: a loopback AWS emulator and sources pointed at it with the
// real SDK, explicit credentials (so the SDK never looks for any elsewhere), one attempt per call
// and short deadlines.
import {
  type AwsSecretsManagerEmulator,
  type AwsSecretsManagerEmulatorOptions,
  startAwsSecretsManagerEmulator,
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
  close(): Promise<void>;
}

export async function startAwsHarness(options: AwsSecretsManagerEmulatorOptions = {}): Promise<AwsHarness> {
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
    },
  };
}

/** Waits until `predicate` holds (polling), or fails after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
