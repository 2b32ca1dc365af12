// The stuck-work watchdog: `findStuckWork` on a timer inside a running component, so waiting
// work is reported without anyone asking. Each stuck item is logged once as a warning when it
// is first seen and once more when it clears; gauges give the current counts for alerts.
import { Gauge, Registry } from 'prom-client';
import { Logger } from '../lib/logger';
import { formatVersion } from '../lib/protocol-version';
import { OpsContext } from './context';
import { StuckReport, findStuckWork } from './stuck';

export interface StuckWatchOptions {
  /** Idle time after which waiting work counts as stuck. */
  olderThanMs: number;
  /** Time between checks. Default: a quarter of `olderThanMs`, between 5 s and 60 s. */
  intervalMs?: number;
  /** Also report consumer groups with records waiting and no members. Default true. */
  consumerGroups?: boolean;
  /** Registers `zkp_stuck_*` gauges here. */
  registry?: Registry;
  logger: Logger;
}

export interface StuckWatch {
  /** One check now (also what the timer runs); resolves with its report. */
  check(): Promise<StuckReport>;
  /** The last report, null before the first check. */
  readonly last: StuckReport | null;
  stop(): Promise<void>;
}

/** Stable names of what a report finds stuck, for "first seen" and "cleared" messages. */
export function stuckItems(report: StuckReport): Map<string, Record<string, unknown>> {
  const items = new Map<string, Record<string, unknown>>();
  for (const g of report.stuckGroups) {
    items.set(`group ${g.batchRunKey} ${g.parent}`, { kind: 'group', state: g.state, batch: g.batch, run: g.run, parent: g.parent, job: g.jobId, landed: g.landed, expected: g.expected, waitingOn: g.waitingOn.slice(0, 5), idleMs: g.idleMs });
  }
  for (const m of report.missingFinalProofs) {
    items.set(`final ${m.batchRunKey}`, { kind: 'missing-final-proof', batch: m.batch, run: m.run, idleMs: m.idleMs });
  }
  for (const c of report.stalledConsumerGroups) {
    items.set(`consumer-group ${c.group}`, { kind: 'stalled-consumer-group', group: c.group, lag: c.lag });
  }
  return items;
}

export function watchStuckWork(ctx: OpsContext, o: StuckWatchOptions): StuckWatch {
  const version = formatVersion(ctx.version);
  const intervalMs = o.intervalMs ?? Math.min(60_000, Math.max(5_000, Math.floor(o.olderThanMs / 4)));
  const gauge = (name: string, help: string) => (o.registry ? new Gauge({ name, help, labelNames: ['protocol_version'], registers: [o.registry] }) : null);
  const groups = gauge('zkp_stuck_groups', 'Aggregation groups waiting longer than the stuck threshold (incomplete with produced children, or complete and not emitted).');
  const finals = gauge('zkp_stuck_missing_final_proofs', 'Batch-runs whose scheduler proof landed longer ago than the threshold with no final proof.');
  const consumers = gauge('zkp_stuck_consumer_groups', 'Consumer groups of the version with records waiting and no members.');
  let seen = new Map<string, Record<string, unknown>>();
  let last: StuckReport | null = null;
  let running: Promise<StuckReport> | null = null;
  let stopped = false;

  const check = (): Promise<StuckReport> =>
    (running ??= (async () => {
      try {
        const report = await findStuckWork(ctx, { olderThanMs: o.olderThanMs, consumerGroups: o.consumerGroups ?? true });
        groups?.labels(version).set(report.stuckGroups.length);
        finals?.labels(version).set(report.missingFinalProofs.length);
        consumers?.labels(version).set(report.stalledConsumerGroups.length);
        const now = stuckItems(report);
        for (const [name, detail] of now) if (!seen.has(name)) o.logger.warn({ stuck: name, ...detail }, 'work is stuck');
        for (const name of seen.keys()) if (!now.has(name)) o.logger.info({ stuck: name }, 'stuck work moved on');
        seen = now;
        last = report;
        return report;
      } finally {
        running = null;
      }
    })());

  const timer = setInterval(() => {
    if (!stopped) check().catch((e) => o.logger.warn({ err: (e as Error).message }, 'stuck-work check failed'));
  }, intervalMs);
  timer.unref();

  return {
    check,
    get last() {
      return last;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
