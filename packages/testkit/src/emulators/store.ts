// The in-memory secret store every vault emulator serves from: named secrets, each an ordered list of
// immutable versions carrying labels (AWS staging labels, or just "current"). Vendor-neutral on
// purpose: the AWS, Azure, GCP and Vault emulators all keep their secrets here and only differ in
// how they put it on the wire.
import { randomUUID } from 'node:crypto';

/** A secret value as stored: text or bytes. */
export type SecretValue = string | Uint8Array;

/** One immutable version of a secret. */
export interface SecretVersion {
  /** The version id: a UUID, a counter, or whatever the store's `versionIds` option makes. */
  readonly id: string;
  /** 1 for the first version of the secret, then 2, 3... (Vault and GCP number their versions). */
  readonly number: number;
  readonly value: SecretValue;
  /** The labels on this version right now (e.g. `AWSCURRENT`, `AWSPENDING`). */
  readonly labels: readonly string[];
  readonly createdAt: Date;
  /** Disabled versions still exist but cannot be read (GCP `DISABLED`, Azure `enabled: false`). */
  readonly enabled: boolean;
  /** Vendor extras, e.g. Azure's `contentType`. */
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** A secret and all of its versions, oldest first. */
export interface StoredSecret {
  readonly name: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly versions: readonly SecretVersion[];
  /** Vendor extras, e.g. the AWS ARN. */
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** Options of {@link SecretStore.put}. */
export interface PutOptions {
  /**
   * Labels for the new version. Absent: it becomes current (the store's `currentLabel`), and the
   * version that was current gets the `previousLabel`. A label lives on one version at a time, so
   * giving one moves it here.
   */
  labels?: readonly string[];
  /** The version id to use instead of a generated one (AWS `ClientRequestToken`). */
  versionId?: string;
  metadata?: Record<string, unknown>;
  /** Creation time of the version (default: now, and always later than the secret's previous version). */
  createdAt?: Date;
}

/** How the store names new versions: random UUIDs (AWS), a counter (GCP, Vault), or a function. */
export type VersionIdScheme = 'uuid' | 'counter' | ((secret: string, number: number) => string);

export interface SecretStoreOptions {
  /** The label that means "the version to serve by default". Default `current`. */
  currentLabel?: string;
  /** The label the previously current version gets when another becomes current. Default `previous`. */
  previousLabel?: string;
  versionIds?: VersionIdScheme;
}

interface MutableVersion {
  id: string;
  number: number;
  value: SecretValue;
  labels: string[];
  createdAt: Date;
  enabled: boolean;
  metadata: Record<string, unknown>;
}

interface MutableSecret {
  name: string;
  createdAt: Date;
  updatedAt: Date;
  versions: MutableVersion[];
  metadata: Record<string, unknown>;
}

function copyValue(value: SecretValue): SecretValue {
  return typeof value === 'string' ? value : new Uint8Array(value);
}

function snapshotVersion(v: MutableVersion): SecretVersion {
  return Object.freeze({
    id: v.id,
    number: v.number,
    value: copyValue(v.value),
    labels: Object.freeze([...v.labels]),
    createdAt: new Date(v.createdAt),
    enabled: v.enabled,
    metadata: Object.freeze({ ...v.metadata }),
  });
}

/** Named secrets with versions and labels, in memory. Reads return snapshots, never live objects. */
export class SecretStore {
  readonly currentLabel: string;
  readonly previousLabel: string;
  readonly #versionIds: VersionIdScheme;
  readonly #secrets = new Map<string, MutableSecret>();

  constructor(options: SecretStoreOptions = {}) {
    this.currentLabel = options.currentLabel ?? 'current';
    this.previousLabel = options.previousLabel ?? 'previous';
    this.#versionIds = options.versionIds ?? 'uuid';
  }

  /** Names of all secrets, in creation order. */
  names(): string[] {
    return [...this.#secrets.keys()];
  }

  has(name: string): boolean {
    return this.#secrets.has(name);
  }

  /** Creates an empty secret (no versions yet) when absent; returns it either way. */
  create(name: string, metadata: Record<string, unknown> = {}): StoredSecret {
    let secret = this.#secrets.get(name);
    if (!secret) {
      const now = new Date();
      secret = { name, createdAt: now, updatedAt: now, versions: [], metadata: { ...metadata } };
      this.#secrets.set(name, secret);
    }
    return this.#snapshot(secret);
  }

  /** Adds a version (creating the secret when absent) and returns it. */
  put(name: string, value: SecretValue, options: PutOptions = {}): SecretVersion {
    this.create(name);
    const secret = this.#secrets.get(name)!;
    const number = secret.versions.length + 1;
    const id = options.versionId ?? this.#newVersionId(name, number);
    // Versions of one secret are created in order, each strictly later than the one before (as in
    // the real stores), even when a test writes two within one millisecond.
    const previous = secret.versions.at(-1)?.createdAt.getTime() ?? Number.NEGATIVE_INFINITY;
    const createdAt = options.createdAt ?? new Date(Math.max(Date.now(), previous + 1));
    if (secret.versions.some((v) => v.id === id)) {
      throw new Error(`secret ${JSON.stringify(name)} already has a version ${JSON.stringify(id)}`);
    }
    const version: MutableVersion = {
      id,
      number,
      value: copyValue(value),
      labels: [],
      createdAt,
      enabled: true,
      metadata: { ...options.metadata },
    };
    secret.versions.push(version);
    secret.updatedAt = new Date();
    const labels = options.labels ?? [this.currentLabel];
    for (const label of labels) this.#attach(secret, label, version);
    return snapshotVersion(version);
  }

  /** The secret and its versions, or `undefined` when absent. */
  describe(name: string): StoredSecret | undefined {
    const secret = this.#secrets.get(name);
    return secret && this.#snapshot(secret);
  }

  /**
   * One version: by id, by label, or (neither given) the current one. `undefined` when the secret,
   * the version or the label does not exist, or when both are given and name different versions.
   */
  get(name: string, select: { versionId?: string; label?: string } = {}): SecretVersion | undefined {
    const secret = this.#secrets.get(name);
    if (!secret) return undefined;
    const byId =
      select.versionId === undefined ? undefined : secret.versions.find((v) => v.id === select.versionId);
    if (select.versionId !== undefined && !byId) return undefined;
    const label = select.label ?? (select.versionId === undefined ? this.currentLabel : undefined);
    const byLabel = label === undefined ? undefined : secret.versions.find((v) => v.labels.includes(label));
    if (label !== undefined && !byLabel) return undefined;
    if (byId && byLabel && byId !== byLabel) return undefined;
    const found = byId ?? byLabel;
    return found && snapshotVersion(found);
  }

  /** The newest version (highest number), whatever its labels. */
  latest(name: string): SecretVersion | undefined {
    const versions = this.#secrets.get(name)?.versions;
    const last = versions?.[versions.length - 1];
    return last && snapshotVersion(last);
  }

  /**
   * Moves `label` to the version `toVersionId` (or only removes it from `fromVersionId` when `to` is
   * absent). Moving the current label hands the previous label to the version that had it.
   */
  moveLabel(name: string, label: string, move: { to?: string; from?: string }): void {
    const secret = this.#require(name);
    if (move.to === undefined) {
      const from = secret.versions.find((v) => v.id === move.from);
      if (from) from.labels = from.labels.filter((l) => l !== label);
      return;
    }
    const target = secret.versions.find((v) => v.id === move.to);
    if (!target) throw new Error(`secret ${JSON.stringify(name)} has no version ${JSON.stringify(move.to)}`);
    this.#attach(secret, label, target);
    secret.updatedAt = new Date();
  }

  /** Enables or disables one version. */
  setEnabled(name: string, versionId: string, enabled: boolean): void {
    const version = this.#require(name).versions.find((v) => v.id === versionId);
    if (!version)
      throw new Error(`secret ${JSON.stringify(name)} has no version ${JSON.stringify(versionId)}`);
    version.enabled = enabled;
  }

  /** Removes a secret and all its versions; true when it existed. */
  delete(name: string): boolean {
    return this.#secrets.delete(name);
  }

  clear(): void {
    this.#secrets.clear();
  }

  #attach(secret: MutableSecret, label: string, target: MutableVersion): void {
    const holder = secret.versions.find((v) => v !== target && v.labels.includes(label));
    if (holder) {
      holder.labels = holder.labels.filter((l) => l !== label);
      if (label === this.currentLabel) {
        for (const v of secret.versions) v.labels = v.labels.filter((l) => l !== this.previousLabel);
        holder.labels.push(this.previousLabel);
      }
    }
    if (!target.labels.includes(label)) target.labels.push(label);
    if (label === this.currentLabel) target.labels = target.labels.filter((l) => l !== this.previousLabel);
  }

  #require(name: string): MutableSecret {
    const secret = this.#secrets.get(name);
    if (!secret) throw new Error(`no secret named ${JSON.stringify(name)}`);
    return secret;
  }

  #newVersionId(name: string, number: number): string {
    const scheme = this.#versionIds;
    if (scheme === 'uuid') return randomUUID();
    if (scheme === 'counter') return String(number);
    return scheme(name, number);
  }

  #snapshot(secret: MutableSecret): StoredSecret {
    return Object.freeze({
      name: secret.name,
      createdAt: new Date(secret.createdAt),
      updatedAt: new Date(secret.updatedAt),
      versions: Object.freeze(secret.versions.map(snapshotVersion)),
      metadata: Object.freeze({ ...secret.metadata }),
    });
  }
}
