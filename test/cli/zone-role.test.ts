import { expect } from 'chai';
import { parseArgs, UsageError } from '../../cli/args';
import { zoneRoleOf } from '../../cli/zone-role';

const of = (command: 'prover' | 'wvg', ...argv: string[]) => zoneRoleOf(parseArgs(argv), command);

describe('cli/zone-role', () => {
  it('keeps the combined stage by default, with or without a zone', () => {
    expect(of('prover', '--instance', 'p')).to.deep.equal({ role: 'combined', zone: null });
    expect(of('prover', '--zone', 'a')).to.deep.equal({ role: 'combined', zone: 'a' });
  });

  it('runs the split roles with their zone', () => {
    expect(of('prover', '--split', '--zone', 'eu-west1-b')).to.deep.equal({ role: 'prover', zone: 'eu-west1-b' });
    expect(of('prover', '--zone', 'b', '--split')).to.deep.equal({ role: 'prover', zone: 'b' });
    expect(of('wvg', '--zone', 'a', '--group', '1')).to.deep.equal({ role: 'witness-vector-generator', zone: 'a' });
  });

  it('refuses a split role without a zone, and zones that are not topic-safe', () => {
    expect(() => of('prover', '--split')).to.throw(UsageError, /needs --zone/);
    expect(() => of('wvg')).to.throw(UsageError, /needs --zone/);
    for (const bad of ['A', 'a.b', 'a_b', '-a']) expect(() => of('wvg', '--zone', bad), bad).to.throw(UsageError, /--zone/);
    expect(() => of('wvg', '--zone')).to.throw(UsageError);
    expect(() => of('wvg', '--zone', 'a', '--split')).to.throw(UsageError, /prover flag/);
    expect(() => of('prover', '--split', 'yes', '--zone', 'a')).to.throw(UsageError, /no value/);
  });
});
