// What the load and soak suites measure with: a full garbage collection (with or without
// --expose-gc), memory after it, latency percentiles, the live handles of the process by type (every
// socket, TLS wrap, HTTP/2 session and timer, ref'ed or not, counted by async_hooks from creation to
// destruction), and the listeners on a set of emitters. Each suite prints its figures in one line;
// docs/reliability.md quotes the long mode's.
import { createHook } from 'node:async_hooks';
import type { EventEmitter } from 'node:events';
import os from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';

export { LONG } from './fuzz-support.js';

/** A number from the environment, or the default. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}

let collect: (() => void) | undefined;

/**
 * A full collection, twice (the first may only queue finalizers), with the event loop turned in
 * between so that sockets closed just now release their buffers. Works without --expose-gc, as the
 * resolver benchmark does: the flag is set at run time and `gc` taken from a fresh context.
 */
export async function fullGc(): Promise<void> {
  if (collect === undefined) {
    if (typeof globalThis.gc === 'function') collect = globalThis.gc as () => void;
    else {
      v8.setFlagsFromString('--expose-gc');
      collect = vm.runInNewContext('gc') as () => void;
    }
  }
  for (let i = 0; i < 2; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    collect();
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
  collect();
}

export interface Memory {
  heapUsed: number;
  external: number;
  rss: number;
}

export function memory(): Memory {
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, external: m.external, rss: m.rss };
}

export const mib = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MiB`;

/** The q-quantile (0..1) of `sorted` (ascending), nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Async resource types that are handles or timers (not promises or one-off requests). */
const HANDLE_TYPES = new Set([
  'TCPWRAP',
  'TLSWRAP',
  'PIPEWRAP',
  'Timeout',
  'Immediate',
  'HTTP2SESSION',
  'HTTP2STREAM',
  'HTTPCLIENTREQUEST',
  'HTTPINCOMINGMESSAGE',
  'FSEVENTWRAP',
  'STATWATCHER',
  'SIGNALWRAP',
]);

/**
 * Counts live handles and timers by type, from their creation to their destruction, whether they
 * keep the process alive or not (`process.getActiveResourcesInfo()` omits unref'ed timers, which is
 * what the resolver's and the Vault source's are). `stop()` disables the hook.
 */
export function trackHandles({ stacks = false }: { stacks?: boolean } = {}): {
  live(): Record<string, number>;
  /** With `stacks`: the live handles by type and where they were created (a few frames), to find a leak. */
  sites(): Map<string, number>;
  stop(): void;
} {
  const types = new Map<number, { type: string; resource: WeakRef<object> }>();
  const created = new Map<number, string>();
  // A cleared or fired timer is marked `_destroyed` at once, but its destroy hook runs a little later
  // (Node batches them): a timer so marked is not counted.
  const isLive = ({ resource }: { resource: WeakRef<object> }) =>
    (resource.deref() as { _destroyed?: boolean } | undefined)?._destroyed !== true;
  const hook = createHook({
    init(asyncId, type, _trigger, resource) {
      if (!HANDLE_TYPES.has(type)) return;
      types.set(asyncId, { type, resource: new WeakRef(resource as object) });
      if (stacks) {
        const frames = (new Error().stack ?? '').split('\n').slice(2);
        const ours = frames.filter((f) => !f.includes('node:internal') && !f.includes('async_hooks'));
        created.set(asyncId, `${type} ${ours.slice(0, 4).join(' <')}`);
      }
    },
    destroy(asyncId) {
      types.delete(asyncId);
      created.delete(asyncId);
    },
  });
  hook.enable();
  return {
    live() {
      const counts: Record<string, number> = {};
      for (const entry of types.values()) {
        if (isLive(entry)) counts[entry.type] = (counts[entry.type] ?? 0) + 1;
      }
      return counts;
    },
    sites() {
      const counts = new Map<string, number>();
      for (const [id, site] of created) {
        const entry = types.get(id);
        if (entry !== undefined && isLive(entry)) counts.set(site, (counts.get(site) ?? 0) + 1);
      }
      return counts;
    },
    stop: () => hook.disable(),
  };
}

/** Listeners on each named emitter, summed over every event name it has. */
export function listenerCounts(emitters: Record<string, EventEmitter>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [name, emitter] of Object.entries(emitters)) {
    counts[name] = emitter.eventNames().reduce((sum, event) => sum + emitter.listenerCount(event), 0);
  }
  return counts;
}

/** Entries of `after` above `before` by more than `slack`: what grew. */
export function grown(
  before: Record<string, number>,
  after: Record<string, number>,
  slack = 0,
): Record<string, { before: number; after: number }> {
  const out: Record<string, { before: number; after: number }> = {};
  for (const [key, value] of Object.entries(after)) {
    const was = before[key] ?? 0;
    if (value > was + slack) out[key] = { before: was, after: value };
  }
  return out;
}

/** The machine line the docs quote: Node, CPUs, load average now. */
export function machineLine(): string {
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return `Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'CPU'}, load average ${load}`;
}
