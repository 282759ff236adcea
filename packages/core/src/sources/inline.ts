// inlineSource: a credential the program already holds (a config object, a test fixture). It
// keeps the material out of `util.inspect` and JSON, and supports store() so renewal flows can be
// exercised in memory.
import type { CredentialMaterial, CredentialSource, SourceContext, StoreResult } from '../types.js';
import { describeSource, materialDigest, throwIfAborted } from './shared.js';

export interface InlineSourceOptions {
  /** Default `inline`. */
  id?: string;
}

export type InlineCredentialSource = CredentialSource & {
  readonly kind: 'static';
  version(ctx?: SourceContext): Promise<string>;
  store(material: CredentialMaterial): Promise<StoreResult>;
};

function copy(material: CredentialMaterial): CredentialMaterial {
  const out: CredentialMaterial = { ...material };
  if (Array.isArray(material.ca)) out.ca = [...material.ca];
  delete out.version;
  delete out.fetchedAt;
  return out;
}

/** A source over material held in memory. `store()` replaces it; `version()` changes with its content. */
export function inlineSource(
  material: CredentialMaterial,
  options: InlineSourceOptions = {},
): InlineCredentialSource {
  const id = options.id ?? 'inline';
  let held = copy(material);
  let version = materialDigest(held);
  const source: InlineCredentialSource = {
    id,
    kind: 'static',
    async load(ctx?: SourceContext) {
      throwIfAborted(ctx?.signal);
      return { ...copy(held), version, fetchedAt: new Date() };
    },
    async version(ctx?: SourceContext) {
      throwIfAborted(ctx?.signal);
      return version;
    },
    async store(next: CredentialMaterial, opts?: { signal?: AbortSignal }) {
      throwIfAborted(opts?.signal);
      held = copy(next);
      version = materialDigest(held);
      return { version };
    },
  };
  describeSource(source, 'InlineSource', id, 'static');
  return source;
}
