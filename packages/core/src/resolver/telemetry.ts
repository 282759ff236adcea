// What a resolver tells the outside about its loads: OpenTelemetry metrics and a span per load
// (through `@opentelemetry/api` only, an optional peer dependency: without it installed nothing
// loads and nothing is recorded), and `node:diagnostics_channel` channels for tools that do not use
// OpenTelemetry. Everything carries the credential's name and its source's scheme and nothing else:
// no ids, paths, URLs, fingerprints or anything read from the material — those would leak, or make
// a new series on every rotation.
import diagnostics_channel from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import type * as OTel from '@opentelemetry/api';
import type { MtlsError } from '../errors.js';
import { schemeNames, schemeOf } from '../references/scheme.js';

/** Where a resolver's metrics go: an OpenTelemetry MeterProvider (structurally, so core's types need no OpenTelemetry). */
export interface TelemetryMeterProvider {
  getMeter(name: string, version?: string, options?: object): unknown;
}

/** Where a resolver's spans go: an OpenTelemetry TracerProvider. */
export interface TelemetryTracerProvider {
  getTracer(name: string, version?: string, options?: object): unknown;
}

/** Diagnostics channel names (contract): subscribe with `diagnostics_channel.subscribe(name, fn)`. */
export const CHANNELS = Object.freeze({
  /** A tracing channel: `tracing:mtlskit:credential:load:start` / `end` / `asyncStart` / `asyncEnd` / `error`. */
  load: 'mtlskit:credential:load',
  rotated: 'mtlskit:credential:rotated',
  expiring: 'mtlskit:credential:expiring',
  refreshFailed: 'mtlskit:credential:refreshFailed',
});

/** The message of every load subchannel; `outcome` and `errorType` are set when the load settles. */
export interface LoadChannelMessage {
  name: string;
  scheme: string;
  /** The load may end at a `version()` probe that finds nothing new. */
  probe: boolean;
  outcome?: 'success' | 'failure';
  /** On failure, the MtlsError code (also in `error.code`). */
  errorType?: string;
  /** On failure, `{ code, retryable }` only: messages name paths and ids. */
  error?: { code: string; retryable: boolean };
  /** On success: a new credential was installed (not an unchanged one or a probe). */
  changed?: boolean;
}

export interface RotatedChannelMessage {
  name: string;
  scheme: string;
  previousFingerprint256: string;
  fingerprint256: string;
  notAfter: Date;
}

export interface ExpiringChannelMessage {
  name: string;
  scheme: string;
  fingerprint256: string;
  notAfter: Date;
  expiresInMs: number;
}

export interface RefreshFailedChannelMessage {
  name: string;
  scheme: string;
  code: string;
  retryable: boolean;
  stale: boolean;
  retryInMs: number;
}

const loadChannel = diagnostics_channel.tracingChannel<unknown, LoadChannelMessage>(CHANNELS.load);
const rotatedChannel = diagnostics_channel.channel(CHANNELS.rotated);
const expiringChannel = diagnostics_channel.channel(CHANNELS.expiring);
const refreshFailedChannel = diagnostics_channel.channel(CHANNELS.refreshFailed);

const ATTR_NAME = 'mtlskit.credential.name';
const ATTR_SCHEME = 'mtlskit.source.scheme';
const ATTR_OUTCOME = 'mtlskit.load.outcome';
const ATTR_ERROR_TYPE = 'error.type';
/** A source built by hand whose id does not start with a known scheme. */
const CUSTOM_SCHEME = 'custom';

/** Load times in seconds: a local file takes a millisecond, a vault call across regions seconds. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The scheme of a source id or reference (`aws-sm`, `env`, …) when it is one mtlskit knows, else
 * `custom`: an arbitrary id must not become an attribute.
 */
export function schemeAttribute(idOrReference: string | undefined): string {
  const scheme = idOrReference === undefined ? undefined : schemeOf(idOrReference);
  return scheme !== undefined && schemeNames().includes(scheme) ? scheme : CUSTOM_SCHEME;
}

type Api = typeof OTel;
let api: Api | null | undefined;
let packageVersion: string | undefined;

/**
 * Where `@opentelemetry/api` 1.x keeps what is registered globally (a provider, a context manager, a
 * logger); absent until something is. While it is absent and no provider was given, nothing is
 * recorded anywhere, so the API is not loaded (requiring it costs more than the rest of a cold start's
 * telemetry): a resolver looks again at each load.
 */
const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');

function otelRegistered(): boolean {
  return (globalThis as Record<symbol, unknown>)[OTEL_GLOBAL] !== undefined;
}

/** `@opentelemetry/api`, required once per process when first needed; null when not installed. */
function loadApi(): Api | null {
  if (api !== undefined) return api;
  const require = createRequire(import.meta.url);
  try {
    api = require('@opentelemetry/api') as Api;
  } catch {
    api = null;
    return api;
  }
  try {
    // By the package's own name: the file that runs this is a bundle's chunk, not src/resolver.
    packageVersion = (require('@mtlskit/core/package.json') as { version?: string }).version;
  } catch {
    // A copy bundled into an application, without its package.json: the meter goes without a version.
  }
  return api;
}

interface Instruments {
  notAfter: OTel.ObservableGauge;
  lastSuccess: OTel.ObservableGauge;
  stale: OTel.ObservableGauge;
  loads: OTel.Counter;
  duration: OTel.Histogram;
  rotations: OTel.Counter;
}

// One set of instruments per meter: every resolver reports through the same ones.
const instrumentsByMeter = new WeakMap<OTel.Meter, Instruments>();

function instrumentsOf(meter: OTel.Meter): Instruments {
  let instruments = instrumentsByMeter.get(meter);
  if (instruments === undefined) {
    instruments = {
      notAfter: meter.createObservableGauge('mtlskit.credential.not_after', {
        unit: 's',
        description: "The current credential's notAfter, in Unix seconds.",
      }),
      lastSuccess: meter.createObservableGauge('mtlskit.credential.last_success', {
        unit: 's',
        description: 'When the last load or version probe succeeded, in Unix seconds.',
      }),
      stale: meter.createObservableGauge('mtlskit.credential.stale', {
        unit: '1',
        description: '1 while the last good credential is served after failed refreshes, else 0.',
      }),
      loads: meter.createCounter('mtlskit.credential.loads', {
        unit: '{load}',
        description: 'Loads and version probes of the source, by outcome.',
      }),
      duration: meter.createHistogram('mtlskit.credential.load.duration', {
        unit: 's',
        description: 'Time of each load or version probe.',
        advice: { explicitBucketBoundaries: DURATION_BUCKETS },
      }),
      rotations: meter.createCounter('mtlskit.credential.rotations', {
        unit: '{rotation}',
        description: 'Credentials handed out that replaced another.',
      }),
    };
    instrumentsByMeter.set(meter, instruments);
  }
  return instruments;
}

/** What the observable gauges read from the resolver at each collection. */
export interface TelemetryState {
  /** notAfter of the credential served, ms since the epoch. */
  notAfterMs(): number | undefined;
  lastSuccessMs(): number | undefined;
  stale(): boolean;
  /** The source's id (or the reference, before the source is built), for the scheme. */
  sourceId(): string | undefined;
}

export interface TelemetryOptions {
  name: string;
  meterProvider?: TelemetryMeterProvider;
  tracerProvider?: TelemetryTracerProvider;
}

/**
 * Whether a resolver with these options has anything to report to right now: a provider given, one
 * registered globally, or a subscriber on one of the channels. Until then it builds no telemetry
 * (ten thousand resolvers of a set, uninstrumented, build none); it asks again at each load and event.
 */
export function telemetryWanted(
  options: Pick<TelemetryOptions, 'meterProvider' | 'tracerProvider'>,
): boolean {
  return (
    options.meterProvider !== undefined ||
    options.tracerProvider !== undefined ||
    otelRegistered() ||
    loadChannel.hasSubscribers ||
    rotatedChannel.hasSubscribers ||
    expiringChannel.hasSubscribers ||
    refreshFailedChannel.hasSubscribers
  );
}

/** The end of one load, given the outcome. */
export type LoadEnd = (outcome: { error?: MtlsError; changed?: boolean }) => void;

/** One resolver's instrumentation. */
export class ResolverTelemetry {
  readonly #name: string;
  readonly #state: TelemetryState;
  readonly #options: TelemetryOptions;
  /** Set up with OpenTelemetry (or found it missing): see {@link OTEL_GLOBAL}. */
  #ready = false;
  #api: Api | null = null;
  #instruments: Instruments | undefined;
  #tracer: OTel.Tracer | undefined;
  #meter: OTel.Meter | undefined;
  #observe: OTel.BatchObservableCallback | undefined;
  #closed = false;
  /** The attributes of the current scheme, rebuilt only when the source id changes. */
  #attributes: { [ATTR_NAME]: string; [ATTR_SCHEME]: string } | undefined;
  #attributesFor: string | undefined;

  constructor(options: TelemetryOptions, state: TelemetryState) {
    this.#name = options.name;
    this.#state = state;
    this.#options = options;
    this.#setUp();
  }

  /** Gets the meter, tracer and instruments once OpenTelemetry is in use: a provider given, or one registered. */
  #setUp(): void {
    if (this.#ready || this.#closed) return;
    const { meterProvider: givenMeters, tracerProvider: givenTracers } = this.#options;
    if (givenMeters === undefined && givenTracers === undefined && !otelRegistered()) return;
    this.#ready = true;
    const otel = loadApi();
    if (otel === null) return;
    this.#api = otel;
    const state = this.#state;
    const meterProvider = (givenMeters as OTel.MeterProvider | undefined) ?? otel.metrics;
    const tracerProvider = (givenTracers as OTel.TracerProvider | undefined) ?? otel.trace;
    const meter = meterProvider.getMeter('mtlskit', packageVersion);
    this.#meter = meter;
    this.#tracer = tracerProvider.getTracer('mtlskit', packageVersion);
    const instruments = instrumentsOf(meter);
    this.#instruments = instruments;
    this.#observe = (result) => {
      const attributes = this.attributes();
      const notAfter = state.notAfterMs();
      if (notAfter !== undefined) result.observe(instruments.notAfter, notAfter / 1000, attributes);
      const lastSuccess = state.lastSuccessMs();
      if (lastSuccess !== undefined) result.observe(instruments.lastSuccess, lastSuccess / 1000, attributes);
      result.observe(instruments.stale, state.stale() ? 1 : 0, attributes);
    };
    meter.addBatchObservableCallback(this.#observe, [
      instruments.notAfter,
      instruments.lastSuccess,
      instruments.stale,
    ]);
  }

  /** `mtlskit.credential.name` and `mtlskit.source.scheme`: the same object while the source is the same. */
  attributes(): { [ATTR_NAME]: string; [ATTR_SCHEME]: string } {
    const id = this.#state.sourceId();
    if (this.#attributes === undefined || id !== this.#attributesFor) {
      this.#attributesFor = id;
      this.#attributes = { [ATTR_NAME]: this.#name, [ATTR_SCHEME]: schemeAttribute(id) };
    }
    return this.#attributes;
  }

  /**
   * Runs one load inside its span and tracing channel. `run` receives the function to call when the
   * load settles (before its promise does), so that figures are recorded before anyone awaiting it.
   */
  load<T>(probe: boolean, run: (end: LoadEnd) => Promise<T>): Promise<T> {
    this.#setUp();
    const tracer = this.#tracer;
    const tracing = loadChannel.hasSubscribers;
    if (tracer === undefined && !tracing) return run(() => {});
    const started = performance.now();
    const message: LoadChannelMessage | undefined = tracing
      ? { name: this.#name, scheme: this.attributes()[ATTR_SCHEME], probe }
      : undefined;
    const otel = this.#api;
    const span = tracer?.startSpan('mtlskit.credential.load', {
      kind: otel?.SpanKind.INTERNAL,
      attributes: this.attributes(),
    });
    let ended = false;
    const end: LoadEnd = ({ error, changed }) => {
      if (ended) return;
      ended = true;
      const attributes = this.attributes();
      // A load that close() cut short is not a load the source failed.
      if (this.#instruments !== undefined && error?.code !== 'CLOSED') {
        this.#instruments.duration.record((performance.now() - started) / 1000, attributes);
        this.#instruments.loads.add(
          1,
          error === undefined
            ? { ...attributes, [ATTR_OUTCOME]: 'success' }
            : { ...attributes, [ATTR_OUTCOME]: 'failure', [ATTR_ERROR_TYPE]: error.code },
        );
      }
      if (span !== undefined) {
        // The scheme may be known only now (a reference resolved during the load).
        span.setAttributes(attributes);
        if (error !== undefined) {
          span.setAttribute(ATTR_ERROR_TYPE, error.code);
          span.setStatus({ code: otel!.SpanStatusCode.ERROR, message: error.code });
        }
        span.end();
      }
      if (message !== undefined) {
        message.scheme = attributes[ATTR_SCHEME];
        if (error === undefined) {
          message.outcome = 'success';
          message.changed = changed === true;
        } else {
          message.outcome = 'failure';
          message.errorType = error.code;
          message.error = { code: error.code, retryable: error.retryable };
          loadChannel.error.publish(message);
        }
        loadChannel.asyncStart.publish(message);
        loadChannel.asyncEnd.publish(message);
      }
    };
    const call = () => {
      if (message !== undefined) loadChannel.start.publish(message);
      try {
        return run(end);
      } finally {
        if (message !== undefined) loadChannel.end.publish(message);
      }
    };
    // The span is the active one while the source runs, so a vendor SDK that traces nests under it.
    return span === undefined || otel === null
      ? call()
      : otel.context.with(otel.trace.setSpan(otel.context.active(), span), call);
  }

  rotated(event: { previousFingerprint256: string; fingerprint256: string; notAfter: Date }): void {
    this.#setUp();
    this.#instruments?.rotations.add(1, this.attributes());
    if (!rotatedChannel.hasSubscribers) return;
    rotatedChannel.publish({
      name: this.#name,
      scheme: this.attributes()[ATTR_SCHEME],
      previousFingerprint256: event.previousFingerprint256,
      fingerprint256: event.fingerprint256,
      notAfter: event.notAfter,
    } satisfies RotatedChannelMessage);
  }

  expiring(event: { fingerprint256: string; notAfter: Date; expiresInMs: number }): void {
    if (!expiringChannel.hasSubscribers) return;
    expiringChannel.publish({
      name: this.#name,
      scheme: this.attributes()[ATTR_SCHEME],
      fingerprint256: event.fingerprint256,
      notAfter: event.notAfter,
      expiresInMs: event.expiresInMs,
    } satisfies ExpiringChannelMessage);
  }

  refreshFailed(event: { error: MtlsError; stale: boolean; retryInMs: number }): void {
    if (!refreshFailedChannel.hasSubscribers) return;
    refreshFailedChannel.publish({
      name: this.#name,
      scheme: this.attributes()[ATTR_SCHEME],
      code: event.error.code,
      retryable: event.error.retryable,
      stale: event.stale,
      retryInMs: event.retryInMs,
    } satisfies RefreshFailedChannelMessage);
  }

  /** Stops reporting gauges for this resolver (a closed resolver has no credential to report). */
  close(): void {
    this.#closed = true;
    if (this.#observe !== undefined && this.#instruments !== undefined) {
      this.#meter?.removeBatchObservableCallback(this.#observe, [
        this.#instruments.notAfter,
        this.#instruments.lastSuccess,
        this.#instruments.stale,
      ]);
    }
  }
}
