import { expect } from 'chai';
import { MESSAGE_NAMES, getCodec } from '../../schemas';
import { REQUIRED_FIELDS } from '../../schemas/compat';
import { SAMPLES } from './support/samples';

type FieldedType = { fields: { name: string }[] };

describe('schemas/types', () => {
  // The samples are typed with the interfaces of schemas/types.ts (object literals: no missing
  // and no extra properties), so equal key sets keep interfaces and schemas in step.
  it('each interface has exactly the fields of its schema, in order', () => {
    for (const name of MESSAGE_NAMES) {
      const fields = (getCodec().registry.message(name)!.current.type as unknown as FieldedType).fields.map((f) => f.name);
      for (const s of SAMPLES.filter((x) => x.name === name)) {
        expect(Object.keys(s.value), name).to.deep.equal(fields);
      }
    }
  });

  it('every message carries protocol_version, batch_number and job_id', () => {
    for (const name of MESSAGE_NAMES) {
      const fields = (getCodec().registry.message(name)!.current.type as unknown as FieldedType).fields.map((f) => f.name);
      expect(fields.slice(0, 3), name).to.deep.equal([...REQUIRED_FIELDS]);
    }
  });

  it('all schemas live in the zkp.pipeline namespace', () => {
    for (const e of getCodec().registry.entries()) expect(e.fullName).to.equal(`zkp.pipeline.${e.name}`);
  });
});
