// Which stage a prover-side process runs, from its flags: `prover` alone is the combined stage;
// `prover --split --zone Z` proves only zone Z's hand-offs; `wvg --zone Z` generates witness
// vectors for zone Z's provers (docs/pipeline.md, "Zones").
import type { ProverRole } from '../consumers/prover-process';
import { isValidZone } from '../topics/naming';
import { ParsedArgs, UsageError, stringFlag } from './args';

export interface ZoneRole {
  role: ProverRole;
  zone: string | null;
}

export function zoneRoleOf(args: ParsedArgs, command: 'prover' | 'wvg'): ZoneRole {
  if (command === 'wvg' && args.flags.has('split')) throw new UsageError('--split is a prover flag; a wvg is always split');
  const zone = args.flags.has('zone') ? stringFlag(args, 'zone', '') : null;
  if (zone !== null && !isValidZone(zone)) throw new UsageError(`--zone "${zone}": use 1-32 of [a-z0-9-], starting and ending with a letter or digit`);
  const role: ProverRole = command === 'wvg' ? 'witness-vector-generator' : args.flags.get('split') === true ? 'prover' : 'combined';
  if (command === 'prover' && args.flags.has('split') && args.flags.get('split') !== true) throw new UsageError('--split takes no value');
  if (role !== 'combined' && zone === null) throw new UsageError(`${command === 'wvg' ? 'wvg' : 'prover --split'} needs --zone Z`);
  return { role, zone };
}
