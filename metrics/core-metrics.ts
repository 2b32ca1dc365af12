// Metrics of the core, read from its batch registry on scrape: batches by state, the oldest
// batch not yet proven (the production monitor's "oldest unproven batch") and how long it has
// waited, the newest batch, leases that ran out.
import { Gauge, Registry } from 'prom-client';
import type { BatchRegistry } from '../core/batch-registry';

export function registerCoreMetrics(registry: Registry, batches: BatchRegistry): void {
  const registers = [registry];
  let oldest: Gauge | null = null;
  let oldestAge: Gauge | null = null;
  let newest: Gauge | null = null;
  let expired: Gauge | null = null;
  // Registered first: its collect reads the registry once per scrape and sets the others too.
  new Gauge({
    name: 'zkp_core_batches',
    help: 'Batches known to the core, by state (sealed: waiting for a prover; picked: handed out; proven: final proof accepted).',
    labelNames: ['state'],
    registers,
    collect() {
      const s = batches.summary();
      for (const [state, n] of Object.entries(s.counts)) this.set({ state }, n);
      expired!.set(s.expired_leases);
      newest!.set(s.newest ?? 0);
      // Batch numbers start at 1: 0 means every batch is proven.
      oldest!.set(0);
      oldestAge!.set(0);
      if (s.oldest_unproven !== null) {
        oldest!.set(s.oldest_unproven);
        const rec = batches.get(s.oldest_unproven);
        const sealed = rec ? Date.parse(rec.sealed_at) : NaN;
        if (Number.isFinite(sealed)) oldestAge!.set(Math.max(0, (Date.now() - sealed) / 1000));
      }
    },
  });
  oldest = new Gauge({ name: 'zkp_core_oldest_unproven_batch', help: 'Number of the oldest batch without an accepted proof (0 when every batch is proven).', registers });
  oldestAge = new Gauge({ name: 'zkp_core_oldest_unproven_batch_age_seconds', help: 'Seconds since the oldest unproven batch was sealed (0 when every batch is proven).', registers });
  newest = new Gauge({ name: 'zkp_core_newest_batch', help: 'Number of the newest sealed batch (0 when none).', registers });
  expired = new Gauge({ name: 'zkp_core_expired_leases', help: 'Picked batches whose lease ran out (handed out again on the next request).', registers });
}
