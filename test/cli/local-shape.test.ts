import { expect } from 'chai';
import { parseArgs, UsageError } from '../../cli/args';
import { localRunShape } from '../../cli/local-shape';
import { DEFAULT_GEOMETRY } from '../../topics/geometry';

const shape = (...argv: string[]) => localRunShape(parseArgs(argv), DEFAULT_GEOMETRY);

describe('cli/local-shape: what the main job proves', () => {
  it('defaults to the native payload, sized small: two types, arities 2/2, a tip for exactly those types', () => {
    expect(shape()).to.deep.equal({
      payload: 'native',
      batches: 3,
      basicJobsPerBatch: 6,
      circuitIds: [1, 3],
      geometry: { leafArity: 2, nodeArity: 2, tipCapacity: 2 },
    });
  });

  it('sizes the native tip to the circuit ids given, and lets flags override every default', () => {
    expect(shape('--circuit-ids', '1,2,5').geometry.tipCapacity).to.equal(3);
    expect(shape('--batches', '1', '--basic-jobs', '9', '--leaf-arity', '3', '--node-arity', '4', '--tip-capacity', '5')).to.deep.include({
      batches: 1,
      basicJobsPerBatch: 9,
      geometry: { leafArity: 3, nodeArity: 4, tipCapacity: 5 },
    });
  });

  it('keeps the digest defaults: every type, a few hundred jobs, the base geometry', () => {
    expect(shape('--payload', 'digest')).to.deep.equal({
      payload: 'digest',
      batches: 3,
      basicJobsPerBatch: 300,
      circuitIds: undefined,
      geometry: DEFAULT_GEOMETRY,
    });
    expect(localRunShape(parseArgs(['--payload', 'digest']), { leafArity: 8, nodeArity: 3, tipCapacity: 20 }).geometry.leafArity).to.equal(8);
  });

  it('refuses an unknown payload and an arity below 2 with a usage error', () => {
    expect(() => shape('--payload', 'snark')).to.throw(UsageError, /unknown payload "snark" \(available: native, digest\)/);
    expect(() => shape('--leaf-arity', '1')).to.throw(UsageError, /leaf-arity/);
  });
});
