// Operator functions: batch status, topic lag, prover groups, dead letters and requeueing,
// stuck-work detection, replays. The CLI is cli/ops.ts; see docs/operations.md.
export * from './context';
export * from './batch-runs';
export * from './kafka-read';
export * from './lag';
export * from './groups';
export * from './status';
export * from './dead-letters';
export * from './stuck';
export * from './replay';
export * from './produce';
export * from './stuck-watch';
