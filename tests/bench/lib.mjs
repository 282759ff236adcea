// Shared helpers for benchmarks: timing loops and writing results into docs/benchmarks.md.
// Benchmarks import the built packages (run `npm run build` or `node scripts/setup.mjs` first) and
// report ratios measured within one run, since this machine is shared and noisy.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { fileURLToPath } from 'node:url';

const DOC = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

/** Runs `fn` (sync or async) repeatedly for about `ms` milliseconds after a warm-up; returns ns per op. */
export async function measure(fn, { ms = 1000, warmup = 200, batch = 1 } = {}) {
  const end0 = performance.now() + warmup;
  while (performance.now() < end0) for (let i = 0; i < batch; i++) await fn();
  let ops = 0;
  const start = performance.now();
  const end = start + ms;
  while (performance.now() < end) {
    for (let i = 0; i < batch; i++) await fn();
    ops += batch;
  }
  return ((performance.now() - start) * 1e6) / ops;
}

/**
 * Wall time and CPU time (this process: client and server, both sides of every handshake) in ns per
 * call of each variant: after one warm-up round, `rounds` rounds of `perRound` sequential calls, the
 * order alternating each round, so that drift, GC and a shared machine's load fall on every variant
 * alike. CPU time says what a call costs even when a loaded machine stretches the wall time with waiting.
 */
export async function interleaved(variants, rounds, perRound) {
  const names = Object.keys(variants);
  const wall = Object.fromEntries(names.map((k) => [k, 0]));
  const cpu = Object.fromEntries(names.map((k) => [k, 0]));
  const byRound = [];
  for (const name of names) for (let i = 0; i < perRound; i++) await variants[name]();
  for (let round = 0; round < rounds; round++) {
    const times = {};
    byRound.push(times);
    for (const name of round % 2 === 0 ? names : [...names].reverse()) {
      const fn = variants[name];
      const started = performance.now();
      const cpuStarted = process.cpuUsage();
      for (let i = 0; i < perRound; i++) await fn();
      const used = process.cpuUsage(cpuStarted);
      times[name] = performance.now() - started;
      wall[name] += times[name];
      cpu[name] += (used.user + used.system) / 1000;
    }
  }
  const perCall = (totals) =>
    Object.fromEntries(names.map((k) => [k, (totals[k] * 1e6) / (rounds * perRound)]));
  /** The median over rounds of `a`'s time over `b`'s: each ratio compares calls made moments apart. */
  const medianRatio = (a, b) => {
    const ratios = byRound.map((t) => t[a] / t[b]).sort((x, y) => x - y);
    const mid = ratios.length >> 1;
    return ratios.length % 2 ? ratios[mid] : (ratios[mid - 1] + ratios[mid]) / 2;
  };
  return { wall: perCall(wall), cpu: perCall(cpu), medianRatio };
}

/** One GET through a node:https `agent`, the response read to its end. */
export function httpsGet(url, agent) {
  return new Promise((resolve, reject) => {
    https
      .get(url, { agent }, (res) => {
        res.resume();
        res.on('end', resolve);
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** Formats nanoseconds for a table cell. */
export function fmtNs(ns) {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${ns.toFixed(0)} ns`;
}

/** Machine facts printed under each section so readers can judge the numbers. */
export function machine() {
  return `Node ${process.version}, ${process.platform}/${process.arch}, measured ${new Date().toISOString().slice(0, 16)}Z`;
}

/**
 * Replaces (or appends) the section between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in
 * docs/benchmarks.md, so each benchmark owns its part of the page and reruns update it in place.
 */
export function writeSection(name, markdown) {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  let doc = existsSync(DOC)
    ? readFileSync(DOC, 'utf8')
    : '# Benchmarks\n\nRun with `npm run bench` (or one file: `node tests/bench/NAME.bench.mjs`).\n';
  const block = `${open}\n${markdown.trim()}\n${close}`;
  const at = doc.indexOf(open);
  const to = doc.indexOf(close);
  doc =
    at >= 0 && to > at
      ? doc.slice(0, at) + block + doc.slice(to + close.length)
      : `${doc.trimEnd()}\n\n${block}\n`;
  writeFileSync(DOC, doc);
}
