// The version guard of the Secrets Manager source: what it has seen of each secret, so that a
// lagging replica is told from a rotation or an operator's rollback. Secrets Manager is eventually
// consistent: right after a rotation a read (GetSecretValue, and DescribeSecret alike) may be served
// by a replica that still has the version the rotation replaced. The guard keeps, per secret, the
// version the source stands by (its baseline), the versions replaced since, and the creation dates
// read, and decides what a probe announces and which version a load settles on. It calls nothing:
// source.ts feeds it what AWS answered. docs/adapters/aws.md explains the rules with examples.

/** How many versions of one secret the guard remembers (creation dates, versions replaced). */
export const REMEMBERED_VERSIONS = 16;

/** What the source has seen of one secret. */
interface History {
  /**
   * The version the source stands by: the one the first load got, then the last one a probe accepted,
   * or a load returned as newer by creation date (instead of the announced one, or with no probe
   * before it: see `settle`). Probes are compared with it; a probe's own read never moves it.
   */
  baseline?: string;
  /** Versions that were the baseline and were replaced since: reporting one again goes back. */
  replaced: Set<string>;
  /** Creation dates (AWS's CreatedDate) of the versions read, the last {@link REMEMBERED_VERSIONS} of them. */
  createdAt: Map<string, number>;
  /**
   * A step back from the baseline seen once and held back — reported by the last probe (which
   * announced the baseline instead) or returned by a load: accepted if the next probe reports it
   * again. `after`: the probes screened once it was held; a probe started before then overlapped the
   * observation that held it and does not count as the next.
   */
  held?: { versionId: string; after: number };
  /** How many probes of this secret have been screened. */
  probes: number;
}

/** Drops the oldest entries of `entries` beyond {@link REMEMBERED_VERSIONS}. */
function trimOldest(entries: Set<string> | Map<string, unknown>): void {
  for (const key of entries.keys()) {
    if (entries.size <= REMEMBERED_VERSIONS) return;
    entries.delete(key);
  }
}

/** Per secret (`K`: how the source names one, e.g. the field it holds), the baseline and what it has seen. */
export class VersionGuard<K = string> {
  readonly #histories = new Map<K, History>();

  #history(key: K): History {
    let h = this.#histories.get(key);
    if (h === undefined) {
      h = { replaced: new Set(), createdAt: new Map(), probes: 0 };
      this.#histories.set(key, h);
    }
    return h;
  }

  /** The version the source stands by for `key`, if any yet. */
  baseline(key: K): string | undefined {
    return this.#histories.get(key)?.baseline;
  }

  /** Whether the source knew `versionId` of `key` (had read it, stood by it, or replaced it). */
  knows(key: K, versionId: string): boolean {
    const h = this.#histories.get(key);
    return (
      h !== undefined && (h.createdAt.has(versionId) || h.baseline === versionId || h.replaced.has(versionId))
    );
  }

  /** Records a version's creation date (ms; 0 or less: unknown). Only that: a read never moves the baseline. */
  noteRead(key: K, versionId: string, createdAt: number): void {
    if (!(createdAt > 0)) return; // no CreatedDate: nothing to compare with
    const h = this.#history(key);
    h.createdAt.delete(versionId);
    h.createdAt.set(versionId, createdAt);
    trimOldest(h.createdAt);
  }

  /** The source stands by `versionId` from now on; the previous baseline counts as replaced. */
  accept(key: K, versionId: string): void {
    const h = this.#history(key);
    h.held = undefined;
    if (h.baseline === versionId) return;
    if (h.baseline !== undefined) {
      h.replaced.delete(h.baseline);
      h.replaced.add(h.baseline);
      trimOldest(h.replaced);
    }
    h.replaced.delete(versionId);
    h.baseline = versionId;
  }

  /** A version created before the baseline, or one that was the baseline and was replaced. */
  #stepsBack(h: History, versionId: string, created: number | undefined): boolean {
    const baselineCreated = h.baseline === undefined ? undefined : h.createdAt.get(h.baseline);
    return (
      h.replaced.has(versionId) ||
      (created !== undefined && baselineCreated !== undefined && created < baselineCreated)
    );
  }

  /** Marks the start of a probe of `key`; hand what it returns to {@link screen}. */
  probeStarting(key: K): number {
    return this.#history(key).probes;
  }

  /**
   * The version a probe of `key` announces, given the version it `reported`, `started` (from
   * {@link probeStarting}) and whether the probe itself read `reported` for the first time
   * (DescribeSecret denied: its creation date then says nothing). A step back from the baseline — a
   * version created before it, or one it replaced — is what a replica behind a rotation serves, or an
   * operator's rollback: the baseline is announced instead the first time; when the next probe
   * reports the same version again, it is accepted. Any other version (newer, or never read so its
   * date is unknown) is accepted at once.
   */
  screen(key: K, reported: string, started: number, firstSeen = false): string {
    const h = this.#history(key);
    h.probes += 1;
    const baseline = h.baseline;
    if (baseline === undefined || reported === baseline) {
      this.accept(key, reported);
      return reported;
    }
    // A date learnt by this very probe (DescribeSecret denied) is that of a version never seen.
    const created = firstSeen ? undefined : h.createdAt.get(reported);
    if (!this.#stepsBack(h, reported, created)) {
      this.accept(key, reported);
      return reported;
    }
    if (h.held?.versionId === reported) {
      // Reported by the probe after the one that held it: the stage really is back on this version.
      if (started >= h.held.after) {
        this.accept(key, reported);
        return reported;
      }
      return baseline; // a probe that overlapped the one that held it: the same observation
    }
    h.held = { versionId: reported, after: h.probes };
    return baseline;
  }

  /**
   * What a load returned is what the resolver now holds. The source stands by the first load's
   * versions, and by a version a load returned that is newer than the baseline by both creation dates
   * (a `refresh()` after a rotation, with no probe to steer it). A step back a load returned — an
   * operator's rollback picked up by `refresh()`, or a lagging replica — counts as a first
   * observation: the next probe that reports it again accepts it, one that reports the baseline
   * brings the baseline back. Anything else waits for the next probe to decide.
   */
  settle(parts: readonly { key: K; versionId: string }[]): void {
    for (const { key, versionId } of parts) {
      const h = this.#history(key);
      if (h.baseline === undefined) {
        h.baseline = versionId;
        continue;
      }
      if (versionId === h.baseline) continue;
      const created = h.createdAt.get(versionId);
      const baselineCreated = h.createdAt.get(h.baseline);
      if (this.#stepsBack(h, versionId, created)) {
        if (h.held?.versionId !== versionId) h.held = { versionId, after: h.probes };
      } else if (created !== undefined && baselineCreated !== undefined && created > baselineCreated) {
        this.accept(key, versionId);
      }
    }
  }
}
