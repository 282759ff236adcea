// Secret Manager resource names, global (`projects/P/secrets/S[/versions/V]`) and regional
// (`projects/P/locations/L/secrets/S[/versions/V]`): the one grammar the source's `name` option and
// the `gcp-sm://` reference share. No SDK here: the scheme module imports it.

/** A secret version's resource name, taken apart. */
export interface GcpSecretName {
  /** Project id (`my-project`, `example.com:my-project`) or number. */
  project: string;
  /** The region of a regional secret (`europe-west1`); absent for a global one. */
  location?: string;
  secret: string;
  /** A version number, `latest` (the default), or an alias. */
  version: string;
  /** `projects/P[/locations/L]/secrets/S`: the parent of new versions. */
  secretName: string;
  /** `…/versions/V`: what is read. */
  versionName: string;
}

/** What is wrong with a name: the problem, its fix, and where (offset and length in the name). */
export interface NameProblem {
  problem: string;
  fix: string;
  start: number;
  length: number;
}

export const NAME_FORMS =
  'projects/P/secrets/S[/versions/V] or projects/P/locations/L/secrets/S[/versions/V]';

const PROJECT = /^(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$|^\d{1,20}$/;
const LOCATION = /^[a-z][a-z0-9-]{0,62}$/;
const SECRET = /^[A-Za-z0-9_-]{1,255}$/;
const VERSION = /^(?:\d+|[A-Za-z][A-Za-z0-9_-]{0,62})$/;

const PARTS: Record<string, [RegExp, string, string]> = {
  project: [
    PROJECT,
    'a project id or number',
    'A project id has 6-30 lower-case letters, digits and hyphens; a project number is digits.',
  ],
  location: [LOCATION, 'a location', 'Write a region such as europe-west1.'],
  secret: [SECRET, 'a secret id', 'Secret ids have 1-255 letters, digits, "_" and "-".'],
  version: [VERSION, 'a secret version', 'Write a version number, latest, or an alias.'],
};

/** Parses a resource name; a string that is not one gets a {@link NameProblem}. */
export function parseSecretName(name: string): GcpSecretName | NameProblem {
  const p = name.split('/');
  const regional = p[2] === 'locations';
  const base = regional ? 2 : 0;
  const shaped =
    p[0] === 'projects' &&
    p[base + 2] === 'secrets' &&
    (p.length === base + 4 || (p.length === base + 6 && p[base + 4] === 'versions'));
  if (!shaped) {
    return {
      problem: `"${name}" is not a secret resource name`,
      fix: `Write ${NAME_FORMS}.`,
      start: 0,
      length: name.length,
    };
  }
  const at = (i: number) => p.slice(0, i).join('/').length + (i > 0 ? 1 : 0);
  const fields: Array<[keyof typeof PARTS, number]> = [
    ['project', 1],
    ...(regional ? ([['location', 3]] as Array<[keyof typeof PARTS, number]>) : []),
    ['secret', base + 3],
    ['version', base + 5],
  ];
  for (const [field, index] of fields) {
    const value = p[index] ?? 'latest';
    const [pattern, what, fix] = PARTS[field]!;
    if (!pattern.test(value))
      return { problem: `"${value}" is not ${what}`, fix, start: at(index), length: value.length };
  }
  const project = p[1]!;
  const secret = p[base + 3]!;
  const version = p[base + 5] ?? 'latest';
  const secretName = regional
    ? `projects/${project}/locations/${p[3]}/secrets/${secret}`
    : `projects/${project}/secrets/${secret}`;
  return {
    project,
    ...(regional && { location: p[3]! }),
    secret,
    version,
    secretName,
    versionName: `${secretName}/versions/${version}`,
  };
}

export function isNameProblem(parsed: GcpSecretName | NameProblem): parsed is NameProblem {
  return 'problem' in parsed;
}

/** The endpoint serving a location's regional secrets. */
export function regionalEndpoint(location: string): string {
  return `secretmanager.${location}.rep.googleapis.com`;
}

/**
 * The version number a resource name ends with (`…/versions/7` → `7`). Answers name the project by
 * number where the request had its id, so versions are compared, never whole names.
 */
export function versionNumberOf(name: unknown): string | undefined {
  if (typeof name !== 'string') return undefined;
  return /\/secrets\/[^/]+\/versions\/(\d+)$/.exec(name)?.[1];
}
