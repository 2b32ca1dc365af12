import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AggregationRound } from '../../topics/catalog';
import {
  defaultPartitionConfig,
  loadPartitionConfig,
  partitionsForPair,
  partitionsForTopic,
  validatePartitionConfig,
  withPartitionOverrides,
} from '../../topics/partitions';

const base = { byRound: { '0': 4, '1': 2, '2': 2, '3': 2, '4': 2, '5': 2 }, dlt: 1, batches: 2, events: 4 };

describe('topics/partitions', () => {
  it('defaults: round 0 has 4, other rounds 2, retry like its pair, dlt 1, batches 2, events 4', () => {
    const c = defaultPartitionConfig();
    expect(partitionsForTopic(c, 'zkp.v24.0.r0.c1')).to.equal(4);
    expect(partitionsForTopic(c, 'zkp.v24.0.r0.c1.retry')).to.equal(4);
    expect(partitionsForTopic(c, 'zkp.v24.0.r1.c3')).to.equal(2);
    expect(partitionsForTopic(c, 'zkp.v24.0.r2.c3.retry')).to.equal(2);
    expect(partitionsForTopic(c, 'zkp.v24.0.r5.c1')).to.equal(2);
    expect(partitionsForTopic(c, 'zkp.v24.0.dlt')).to.equal(1);
    expect(partitionsForTopic(c, 'zkp.v24.0.batches')).to.equal(2);
    for (const k of ['proofs-landed', 'aggregation-ready', 'final-proofs']) expect(partitionsForTopic(c, `zkp.v24.0.${k}`)).to.equal(4);
    expect(() => partitionsForTopic(c, 'other')).to.throw(/unknown topic/);
  });

  it('per-pair overrides win over the round default', () => {
    const c = validatePartitionConfig({ ...base, pairOverrides: { '(1,0)': 12 } });
    expect(partitionsForPair(c, { round: AggregationRound.BasicCircuits, circuitId: 1 })).to.equal(12);
    expect(partitionsForTopic(c, 'zkp.v1.0.r0.c1.retry')).to.equal(12);
    expect(partitionsForPair(c, { round: AggregationRound.BasicCircuits, circuitId: 2 })).to.equal(4);
    const d = withPartitionOverrides(c, { pairs: [[{ round: AggregationRound.Scheduler, circuitId: 1 }, 3]], dlt: 2 });
    expect(partitionsForTopic(d, 'zkp.v1.0.r4.c1')).to.equal(3);
    expect(partitionsForTopic(d, 'zkp.v1.0.r0.c1')).to.equal(12);
    expect(d.dlt).to.equal(2);
  });

  it('validates, naming every problem', () => {
    let message = '';
    try {
      validatePartitionConfig({
        byRound: { '0': 4, '1': 0, '2': 2, '3': 2, '4': 2, '7': 1 },
        pairOverrides: { '(2,2)': 3, '(1,0)': 1.5, 'x': 1 },
        dlt: 1,
        batches: 2,
        events: 4,
        extra: true,
      });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).to.contain('unknown key "extra"');
    expect(message).to.contain('byRound: unknown round "7"');
    expect(message).to.contain('byRound: round 5 missing');
    expect(message).to.contain('byRound["1"] must be an integer between 1 and');
    expect(message).to.contain('pairOverrides: unknown pair (2,2)');
    expect(message).to.contain('pairOverrides["(1,0)"] must be an integer');
    expect(message).to.contain('pairOverrides: malformed pair "x"');
    expect(() => validatePartitionConfig({ ...base, dlt: 0 })).to.throw(/dlt must be an integer between 1/);
  });

  it('loads from a file named by option or environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'partitions-'));
    const file = join(dir, 'p.json');
    writeFileSync(file, JSON.stringify({ ...base, batches: 6 }));
    expect(loadPartitionConfig({ file }).batches).to.equal(6);
    expect(loadPartitionConfig({ env: { ZKP_PARTITIONS_FILE: file } }).batches).to.equal(6);
    expect(loadPartitionConfig({ env: {} }).batches).to.equal(2);
    writeFileSync(file, JSON.stringify({ ...base, batches: -1 }));
    expect(() => loadPartitionConfig({ file })).to.throw(/p\.json: invalid partitions config/);
  });
});
