// The `gcp-sm:` scheme: its option table and grammar, defined with core's scheme API. This module
// does not load the Google client, so parsing a `gcp-sm:` reference (its "did you mean", its carets)
// costs nothing; `@mtlskit/gcp` registers the source factory. Importing it defines the scheme.
import { defineScheme, type ReferenceCursor } from '@mtlskit/core/adapter';
import { isNameProblem, NAME_FORMS, parseSecretName } from './name.js';

/** What a `gcp-sm:` reference names. */
export interface GcpSmTarget {
  /** The secret version's resource name, `projects/P[/locations/L]/secrets/S/versions/V`. */
  name: string;
  /** Project id or number. */
  project: string;
  /** The region of a regional secret (served by `secretmanager.L.rep.googleapis.com`). */
  location?: string;
  secret: string;
  /** A version number, an alias, or `latest` when not written. */
  version: string;
  transport: 'grpc' | 'rest';
  /** Deadline of each call, in milliseconds. */
  timeoutMs?: number;
}

function buildGcpSm(c: ReferenceCursor): GcpSmTarget {
  c.requireSlashes('gcp-sm://projects/P/secrets/S');
  if (c.path === '') throw c.pathProblem('the secret resource name is missing', `Write ${NAME_FORMS}.`, 0, 1);
  // segments() refuses empty and dot segments with carets; the grammar then checks each part.
  const parsed = parseSecretName(c.segments('secret resource name').join('/'));
  if (isNameProblem(parsed)) throw c.pathProblem(parsed.problem, parsed.fix, parsed.start, parsed.length);
  const timeoutMs = c.value<number>('timeoutMs');
  return {
    name: parsed.versionName,
    project: parsed.project,
    ...(parsed.location !== undefined && { location: parsed.location }),
    secret: parsed.secret,
    version: parsed.version,
    transport: c.value<'grpc' | 'rest'>('transport') ?? 'grpc',
    ...(timeoutMs !== undefined && { timeoutMs }),
  };
}

/** The `gcp-sm:` scheme, defined with core when this module is imported. */
export const gcpSmScheme = defineScheme<'gcp-sm', GcpSmTarget>({
  scheme: 'gcp-sm',
  packageName: '@mtlskit/gcp',
  slashes: true,
  form: 'gcp-sm://projects/P/secrets/S[/versions/V] | gcp-sm://projects/P/locations/L/secrets/S[/versions/V]',
  summary:
    'Google Secret Manager: a secret version holding a bundle (default version `latest`); a regional secret is read from its regional endpoint.',
  options: {
    transport: {
      type: 'enum',
      values: ['grpc', 'rest'],
      description: 'gRPC, or HTTP/1.1 REST (the client’s fallback mode) where gRPC cannot pass.',
      default: 'grpc',
    },
    timeoutMs: {
      type: 'integer',
      min: 1,
      description: 'Deadline of each Secret Manager call, in milliseconds.',
      default: 10_000,
    },
    passphrase: {
      type: 'reference',
      description:
        'Where the key’s passphrase comes from, e.g. `env:MTLS_PASSPHRASE` or another `gcp-sm://…`.',
    },
    ca: {
      type: 'reference',
      description:
        'Where the CA certificates to trust for the server come from, e.g. `file:/etc/ssl/api-ca.pem`.',
    },
  },
  build: buildGcpSm,
});
