// Shared set-up of the adapter's tests: a loopback AWS emulator and sources pointed at it with the
// real SDK, explicit credentials (so the SDK never looks for any elsewhere), one attempt per call
// and short deadlines. Every harness records the process's outgoing connections while it runs and
// fails its close() if one left loopback: no test of this package reaches AWS or a metadata service.
import {
  type AwsSecretsManagerEmulator,
  type AwsSecretsManagerEmulatorOptions,
  type LoopbackHarness,
  startAwsSecretsManagerEmulator,
  startLoopbackHarness,
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

export interface AwsHarness extends LoopbackHarness<AwsSecretsManagerEmulator> {
  /** A source on the emulator; options override the test defaults. Closed by `close()`. */
  source(options: AwsSecretsManagerSourceOptions): AwsSecretsManagerSource;
}

export async function startAwsHarness(options: AwsSecretsManagerEmulatorOptions = {}): Promise<AwsHarness> {
  const base = await startLoopbackHarness(() =>
    startAwsSecretsManagerEmulator({ region: TEST_REGION, ...options }),
  );
  return {
    ...base,
    source(sourceOptions) {
      return base.own(
        awsSecretsManagerSource({
          endpoint: base.emulator.url,
          region: TEST_REGION,
          credentials: TEST_CREDENTIALS,
          maxAttempts: 1,
          timeoutMs: 2_000,
          ...sourceOptions,
        }),
      );
    },
  };
}
