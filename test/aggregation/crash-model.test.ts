// A model of the pipeline around the counters: consumers that save a proof, land it, and
// produce the parent job together with the offset commit, and that die (kill -9) at any
// point of that. Undone work is redelivered. Whatever the crashes, every parent job is
// triggered exactly once, and the batch reaches its final proof.
import { createHash, randomInt } from 'node:crypto';
import { expect } from 'chai';
import type Redis from 'ioredis';
import { AggregationCounters, type GroupSpec, type LandResult } from '../../aggregation/counters';
import { connect, uniqueBatchRun } from './support';

interface Job {
  round: number;
  circuit: number;
  depth: number;
  seq: number;
}
const jobId = (j: Job) => `r${j.round}:c${j.circuit}:d${j.depth}:s${j.seq}`;

/**
 * A small stand-in for the batch geometry: basic jobs per type, leaf groups of
 * `leafArity`, node levels of `nodeArity` until one per type, the tip over the top node
 * of every type, scheduler, compression.
 */
function geometry(types: Record<number, number>, leafArity: number, nodeArity: number) {
  const parentOf = new Map<string, { parent: Job; member: number }>();
  const children = new Map<string, string[]>();
  const link = (child: Job, parent: Job, member: number) => {
    parentOf.set(jobId(child), { parent, member });
    const list = children.get(jobId(parent)) ?? [];
    list[member] = jobId(child);
    children.set(jobId(parent), list);
  };
  const basic: Job[] = [];
  const tip: Job = { round: 3, circuit: 255, depth: 0, seq: 0 };
  const scheduler: Job = { round: 4, circuit: 1, depth: 0, seq: 0 };
  const compression: Job = { round: 5, circuit: 1, depth: 0, seq: 0 };
  const typeIds = Object.keys(types).map(Number).sort((a, b) => a - b);
  typeIds.forEach((type, typeIndex) => {
    const leafCircuit = type + 2;
    for (let s = 0; s < types[type]; s++) {
      const job = { round: 0, circuit: type, depth: 0, seq: s };
      basic.push(job);
      link(job, { round: 1, circuit: leafCircuit, depth: 0, seq: Math.floor(s / leafArity) }, s % leafArity);
    }
    let level: Job[] = [];
    for (let s = 0; s < Math.ceil(types[type] / leafArity); s++) level.push({ round: 1, circuit: leafCircuit, depth: 0, seq: s });
    let depth = 0;
    do {
      const next: Job[] = [];
      level.forEach((job, i) => {
        const parent = { round: 2, circuit: leafCircuit, depth, seq: Math.floor(i / nodeArity) };
        if (i % nodeArity === 0) next.push(parent);
        link(job, parent, i % nodeArity);
      });
      level = next;
      depth += 1;
    } while (level.length > 1);
    link(level[0], tip, typeIndex);
  });
  link(tip, scheduler, 0);
  link(scheduler, compression, 0);
  const plan: GroupSpec[] = [...children].map(([parent, list]) => ({ parent, expected: list.length }));
  return { basic, parentOf, children, plan, finalJob: jobId(compression) };
}

/** Parent job content: a pure function of the parent's id and its children (never of who triggered it). */
function parentContent(parent: Job, children: string[]): string {
  return JSON.stringify({ id: jobId(parent), inputs: children.map((c) => `proof/${c}`) });
}

type CrashPoint = 'before-save' | 'after-save' | 'after-land' | 'after-produce' | 'after-commit';

interface Options {
  /** true: produce and offset commit are one transaction (a fenced or dead instance's produce is aborted). */
  transactional: boolean;
  crashRate: number;
  /** Probability that a message is handed to a second consumer while the first still works on it. */
  duplicateDeliveryRate: number;
  consumers: number;
}

async function runPipeline(clients: Redis[], opts: Options) {
  const geo = geometry({ 3: 23, 5: 9, 7: 1, 11: 40 }, 4, 3);
  const b = uniqueBatchRun();
  const admin = new AggregationCounters(clients[0]);
  await admin.registerPlan(b, geo.plan);

  // The "topic": messages with offsets; a committed offset is never delivered again.
  const log: { offset: number; job: Job; content: string }[] = [];
  const committed = new Set<number>();
  const available: number[] = [];
  const append = (job: Job, content: string) => {
    log.push({ offset: log.length, job, content });
    available.push(log.length - 1);
  };
  for (const j of geo.basic) append(j, JSON.stringify({ id: jobId(j) }));

  const store = new Map<string, string>(); // object store: key -> bytes
  const produced = new Map<string, string[]>(); // parent id -> contents of every visible produce
  const landings: { parent: string; member: number; result: LandResult }[] = [];
  const crashes: Record<CrashPoint, number> = {
    'before-save': 0,
    'after-save': 0,
    'after-land': 0,
    'after-produce': 0,
    'after-commit': 0,
  };
  let finalProof: string | undefined;
  let inFlight = 0;

  const crashAt = (point: CrashPoint) => {
    if (Math.random() < opts.crashRate) {
      crashes[point] += 1;
      return true;
    }
    return false;
  };

  async function consume(counters: AggregationCounters): Promise<void> {
    const idle = () => available.length === 0 && inFlight === 0;
    while (!idle()) {
      if (available.length === 0) {
        await new Promise((r) => setImmediate(r));
        continue;
      }
      const offset = available.splice(randomInt(available.length), 1)[0];
      if (committed.has(offset)) continue;
      // A duplicate delivery: another consumer gets the same message while this one works.
      if (Math.random() < opts.duplicateDeliveryRate) available.push(offset);
      inFlight += 1;
      try {
        const done = await processOne(counters, offset);
        if (!done && !committed.has(offset)) available.push(offset); // redelivery after the crash
      } finally {
        inFlight -= 1;
      }
    }
  }

  async function processOne(counters: AggregationCounters, offset: number): Promise<boolean> {
    const { job } = log[offset];
    const id = jobId(job);
    await new Promise((r) => setImmediate(r)); // witness generation and proving
    if (crashAt('before-save')) return false;
    const proof = createHash('sha256').update(id).digest('hex'); // deterministic output
    store.set(`proof/${id}`, proof);
    if (crashAt('after-save')) return false;

    const link = geo.parentOf.get(id);
    if (!link) {
      // The compression job: its proof is the batch's final proof.
      finalProof = proof;
      committed.add(offset);
      return true;
    }
    const parentId = jobId(link.parent);
    const result = await counters.land(b, parentId, link.member);
    landings.push({ parent: parentId, member: link.member, result });
    if (crashAt('after-land')) return false;

    // Kafka transaction: produce the parent job (when triggered) and commit the offset.
    const content = result.status === 'TRIGGER' ? parentContent(link.parent, geo.children.get(parentId)!) : undefined;
    if (opts.transactional) {
      if (crashAt('after-produce')) return false; // the transaction aborts: nothing visible
      if (committed.has(offset)) return true; // fenced: another instance committed this message; abort
      if (content) {
        produced.set(parentId, [...(produced.get(parentId) ?? []), content]);
        append(link.parent, content);
      }
      committed.add(offset);
      await afterCommit(counters, content ? parentId : undefined);
      return true;
    }
    // At-least-once without transactions: the produce is visible before the commit.
    if (content) {
      produced.set(parentId, [...(produced.get(parentId) ?? []), content]);
      append(link.parent, content);
    }
    if (crashAt('after-produce')) return false;
    committed.add(offset);
    await afterCommit(counters, content ? parentId : undefined);
    return true;
  }

  /** Step 4: once the commit is known, mark the parent emitted (skipped when the consumer dies first). */
  async function afterCommit(counters: AggregationCounters, parentId: string | undefined): Promise<void> {
    if (!parentId || crashAt('after-commit')) return;
    await counters.markEmitted(b, [parentId]);
  }

  await Promise.all(
    [...Array(opts.consumers).keys()].map((i) => consume(new AggregationCounters(clients[i % clients.length]))),
  );
  const progress = (await admin.progress(b))!;
  await admin.clear(b);
  return { geo, produced, landings, crashes, finalProof, progress, store };
}

describe('aggregation crash model: save proof, land, produce + commit, with kill -9 anywhere', () => {
  const clients: Redis[] = [];
  before(() => {
    for (let i = 0; i < 4; i++) clients.push(connect());
  });
  after(() => {
    for (const c of clients) c.disconnect();
  });

  function expectOneOwnerPerGroup(run: Awaited<ReturnType<typeof runPipeline>>) {
    const owners = new Map<string, Set<number>>();
    for (const l of run.landings) {
      if (l.result.status !== 'TRIGGER') continue;
      const set = owners.get(l.parent) ?? new Set<number>();
      set.add(l.member);
      owners.set(l.parent, set);
    }
    for (const g of run.geo.plan) {
      expect(owners.get(g.parent)?.size, g.parent).to.equal(1);
    }
    expect(run.progress.waiting).to.deep.equal([]);
    expect(run.progress.triggered).to.equal(run.geo.plan.length);
  }

  it('with transactional produce + commit: every parent job is produced exactly once, despite crashes at every step and duplicate deliveries', async () => {
    const run = await runPipeline(clients, {
      transactional: true,
      crashRate: 0.25,
      duplicateDeliveryRate: 0.1,
      consumers: 6,
    });
    for (const point of Object.keys(run.crashes) as CrashPoint[]) {
      expect(run.crashes[point], `crashes ${point}`).to.be.greaterThan(0);
    }
    expectOneOwnerPerGroup(run);
    expect([...run.produced.keys()].sort()).to.deep.equal(run.geo.plan.map((g) => g.parent).sort());
    for (const [parent, contents] of run.produced) expect(contents, parent).to.have.length(1);
    expect(run.finalProof).to.equal(run.store.get(`proof/${run.geo.finalJob}`));
  });

  it('with at-least-once produce (crash between produce and commit): duplicates carry the same parent id and content, and the batch still completes once per group', async () => {
    const run = await runPipeline(clients, {
      transactional: false,
      crashRate: 0.25,
      duplicateDeliveryRate: 0.1,
      consumers: 6,
    });
    expect(run.crashes['after-produce']).to.be.greaterThan(0);
    expectOneOwnerPerGroup(run);
    expect([...run.produced.keys()].sort()).to.deep.equal(run.geo.plan.map((g) => g.parent).sort());
    let duplicated = 0;
    for (const [parent, contents] of run.produced) {
      expect(new Set(contents).size, parent).to.equal(1);
      if (contents.length > 1) duplicated += 1;
    }
    expect(duplicated, 'some parent jobs were produced more than once').to.be.greaterThan(0);
    expect(run.finalProof).to.equal(run.store.get(`proof/${run.geo.finalJob}`));
  });

  it('a consumer that lands the completing child and dies before producing is redelivered and triggers then', async () => {
    const [redis] = clients;
    const counters = new AggregationCounters(redis);
    const b = uniqueBatchRun();
    await counters.registerPlan(b, [{ parent: 'r1:c3:d0:s0', expected: 3 }]);
    await counters.land(b, 'r1:c3:d0:s0', 0);
    await counters.land(b, 'r1:c3:d0:s0', 2);
    // First delivery of member 1: lands, sees TRIGGER, dies before the produce.
    expect((await counters.land(b, 'r1:c3:d0:s0', 1)).status).to.equal('TRIGGER');
    // Meanwhile duplicates of the other members arrive: they must not take the trigger.
    expect((await counters.land(b, 'r1:c3:d0:s0', 0)).status).to.equal('ALREADY_TRIGGERED');
    expect((await counters.land(b, 'r1:c3:d0:s0', 2)).status).to.equal('ALREADY_TRIGGERED');
    // Redelivery of member 1 (offset never committed): TRIGGER again, so the parent is produced.
    expect(await counters.land(b, 'r1:c3:d0:s0', 1)).to.deep.equal({
      status: 'TRIGGER',
      landed: 3,
      expected: 3,
      owner: 1,
    });
    await counters.clear(b);
  });
});
