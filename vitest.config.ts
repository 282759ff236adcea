// One vitest run for the whole workspace: a project per package (unit tests beside the code) plus
// `tests/` (cross-package). `@mtlskit/*` resolves to each package's source, so tests need no rebuild;
// the CommonJS test in tests/ loads the built dist on purpose.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));
const packages = readdirSync(`${root}packages`);

const alias = [
  { find: /^@mtlskit\/([a-z0-9-]+)\/([a-z0-9-]+)$/, replacement: `${root}packages/$1/src/$2.ts` },
  { find: /^@mtlskit\/([a-z0-9-]+)$/, replacement: `${root}packages/$1/src/index.ts` },
];

// Projects do not inherit the root's test options, so each one gets these.
const timeouts = { testTimeout: 30_000, hookTimeout: 30_000 };
const env = {
  AWS_EC2_METADATA_DISABLED: 'true',
  METADATA_SERVER_DETECTION: 'none',
  NO_PROXY: '127.0.0.1,localhost',
  no_proxy: '127.0.0.1,localhost',
  // The AWS SDK warns once per process on Node 20 that its 2027 releases will need Node 22.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

export default defineConfig({
  resolve: { alias },
  test: {
    env,
    ...timeouts,
    projects: [
      ...packages.map((name) => ({
        resolve: { alias },
        test: { ...timeouts, name, root: `${root}packages/${name}`, include: ['src/**/*.test.ts'], env },
      })),
      {
        resolve: { alias },
        test: {
          ...timeouts,
          name: 'e2e',
          root: `${root}tests`,
          include: ['**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'hardening/**'],
          env,
        },
      },
      // Fuzz and leak scan over every package (docs/reliability.md): a short mode here, the long one
      // with MTLSKIT_LONG=1 npx vitest run --project hardening.
      {
        resolve: { alias },
        test: {
          ...timeouts,
          name: 'hardening',
          root: `${root}tests/hardening`,
          include: ['**/*.test.ts'],
          env,
        },
      },
    ],
  },
});
