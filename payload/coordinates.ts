// Rules about where a proof sits, shared by every payload: the same coordinates, their
// description in errors, and which children a job of each level may aggregate.
import { formatVersion } from '../lib/protocol-version';
import { AggregationRound, basicIdForLeaf, isLeafCircuitId } from '../topics/catalog';
import { JobCoordinates, ProofRejectedError } from './payload';

export function sameCoordinates(a: JobCoordinates, b: JobCoordinates): boolean {
  return (
    a.protocolVersion.minor === b.protocolVersion.minor &&
    a.protocolVersion.patch === b.protocolVersion.patch &&
    a.batchNumber === b.batchNumber &&
    a.round === b.round &&
    a.circuitId === b.circuitId &&
    a.depth === b.depth &&
    a.sequence === b.sequence
  );
}

export function describeCoordinates(c: JobCoordinates): string {
  return `${formatVersion(c.protocolVersion)} batch ${c.batchNumber} r${c.round} c${c.circuitId} d${c.depth} s${c.sequence}`;
}

/** Throws ProofRejectedError unless a proof at `child` is of the level, batch, version and type `job` aggregates. */
export function assertChildPlacement(job: JobCoordinates, child: JobCoordinates): void {
  const expectedRound = job.round === AggregationRound.NodeAggregation && job.depth > 0 ? job.round : job.round - 1;
  if (child.round !== expectedRound) throw new ProofRejectedError(`${describeCoordinates(job)} cannot take a round ${child.round} proof`);
  if (child.batchNumber !== job.batchNumber) throw new ProofRejectedError(`child proof of batch ${child.batchNumber} given to batch ${job.batchNumber}`);
  if (child.protocolVersion.minor !== job.protocolVersion.minor || child.protocolVersion.patch !== job.protocolVersion.patch) {
    throw new ProofRejectedError('child proof of another protocol version');
  }
  if (job.round === AggregationRound.LeafAggregation && child.circuitId !== basicIdForLeaf(job.circuitId)) {
    throw new ProofRejectedError(`leaf c${job.circuitId} cannot take a proof of basic circuit c${child.circuitId}`);
  }
  if (job.round === AggregationRound.NodeAggregation) {
    if (child.circuitId !== job.circuitId) throw new ProofRejectedError(`node c${job.circuitId} cannot take a proof of c${child.circuitId}`);
    if (job.depth > 0 && child.depth !== job.depth - 1) throw new ProofRejectedError(`node at depth ${job.depth} cannot take depth ${child.depth}`);
  }
  if (job.round === AggregationRound.RecursionTip && !isLeafCircuitId(child.circuitId)) {
    throw new ProofRejectedError(`recursion tip cannot take a proof of c${child.circuitId}`);
  }
}
