// What the main job proves when no flag says otherwise. The native payload's defaults are sized
// to finish in a few minutes on two cores (small arities, two circuit types, a few instances
// per batch); the digest payload's to show the pipeline's shape at a few hundred jobs a batch.
import { Geometry, validateGeometry } from '../topics/geometry';
import { ParsedArgs, UsageError, intFlag, listFlag, stringFlag } from './args';

export type PayloadName = 'digest' | 'native';
export const PAYLOADS: readonly PayloadName[] = ['native', 'digest'];

export interface LocalRunShape {
  payload: PayloadName;
  batches: number;
  basicJobsPerBatch: number;
  /** Basic circuit types in the batches; undefined = every type. */
  circuitIds: number[] | undefined;
  geometry: Geometry;
}

const NATIVE_DEFAULTS = { basicJobsPerBatch: 6, circuitIds: [1, 3], leafArity: 2, nodeArity: 2 };
const DIGEST_DEFAULTS = { basicJobsPerBatch: 300 };

export function payloadNameOf(args: ParsedArgs, fallback: PayloadName): PayloadName {
  const name = stringFlag(args, 'payload', fallback);
  if (!(PAYLOADS as readonly string[]).includes(name)) throw new UsageError(`unknown payload "${name}" (available: ${PAYLOADS.join(', ')})`);
  return name as PayloadName;
}

/** The main job's run: flags over the payload's defaults over `base` (the geometry file and environment). */
export function localRunShape(args: ParsedArgs, base: Geometry): LocalRunShape {
  const payload = payloadNameOf(args, 'native');
  const batches = intFlag(args, 'batches', 3, 1);
  if (payload === 'digest') {
    return {
      payload,
      batches,
      basicJobsPerBatch: intFlag(args, 'basic-jobs', DIGEST_DEFAULTS.basicJobsPerBatch, 1),
      circuitIds: listFlag(args, 'circuit-ids'),
      geometry: geometryOf(args, base),
    };
  }
  const circuitIds = listFlag(args, 'circuit-ids') ?? NATIVE_DEFAULTS.circuitIds;
  const small = { leafArity: NATIVE_DEFAULTS.leafArity, nodeArity: NATIVE_DEFAULTS.nodeArity, tipCapacity: circuitIds.length };
  return {
    payload,
    batches,
    basicJobsPerBatch: intFlag(args, 'basic-jobs', NATIVE_DEFAULTS.basicJobsPerBatch, 1),
    circuitIds,
    geometry: geometryOf(args, validateGeometry(small, base)),
  };
}

function geometryOf(args: ParsedArgs, base: Geometry): Geometry {
  try {
    return validateGeometry(
      {
        leafArity: intFlag(args, 'leaf-arity', base.leafArity, 2),
        nodeArity: intFlag(args, 'node-arity', base.nodeArity, 2),
        tipCapacity: intFlag(args, 'tip-capacity', base.tipCapacity, 1),
      },
      base,
    );
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError((e as Error).message);
  }
}
