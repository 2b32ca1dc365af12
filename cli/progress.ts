// Progress bars per batch and aggregation round for the local pipeline, fed by the stage
// observer (every saved job) and the batch plans in the prover store.
import { AggregationRound, roundName } from '../topics/catalog';
import { AggregationPlan } from '../topics/geometry';
import { ProverJob } from '../schemas';

const ROUNDS = [0, 1, 2, 3, 4, 5] as AggregationRound[];
const SHORT = ['basic', 'leaf', 'node', 'tip', 'sched', 'compr'];

export class ProgressBoard {
  private readonly done = new Map<number, number[]>();
  private readonly plans = new Map<number, AggregationPlan>();
  private readonly accepted = new Set<number>();
  private linesDrawn = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly batches: number[],
  ) {}

  setPlan(batch: number, plan: AggregationPlan): void {
    this.plans.set(batch, plan);
  }

  hasPlan(batch: number): boolean {
    return this.plans.has(batch);
  }

  jobSaved(job: ProverJob): void {
    let d = this.done.get(job.batch_number);
    if (!d) this.done.set(job.batch_number, (d = [0, 0, 0, 0, 0, 0]));
    d[job.aggregation_round]++;
  }

  markAccepted(batch: number): void {
    this.accepted.add(batch);
  }

  private bar(done: number, total: number, width = 12): string {
    const filled = total === 0 ? 0 : Math.min(width, Math.round((done / total) * width));
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.min(done, total)).padStart(5)}/${String(total).padEnd(5)}`;
  }

  lines(): string[] {
    return this.batches.map((b) => {
      const plan = this.plans.get(b);
      const d = this.done.get(b) ?? [0, 0, 0, 0, 0, 0];
      if (!plan) return `batch ${String(b).padStart(3)}  waiting for basic witness generation`;
      const cells = ROUNDS.map((r) => `${SHORT[r]} ${this.bar(d[r], plan.jobsPerRound[r], r < 3 ? 12 : 1)}`);
      return `batch ${String(b).padStart(3)}  ${cells.join('  ')}${this.accepted.has(b) ? '  accepted' : ''}`;
    });
  }

  /** Redraws in place on a terminal; elsewhere prints a snapshot. */
  private lastSnapshot = '';

  render(): void {
    const lines = this.lines();
    if (this.out.isTTY) {
      if (this.linesDrawn > 0) this.out.write(`\x1b[${this.linesDrawn}A`);
      for (const l of lines) this.out.write(`\x1b[2K${l}\n`);
      this.linesDrawn = lines.length;
    } else {
      // A log, not a screen: a snapshot only when something moved.
      const snapshot = lines.join('\n');
      if (snapshot === this.lastSnapshot) return;
      this.lastSnapshot = snapshot;
      this.out.write(`${snapshot}\n`);
    }
  }
}

export { roundName };
