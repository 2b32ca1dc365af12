import { expect } from 'chai';
import { installSignalHandlers } from '../../processor';

describe('processor/signals', () => {
  it('aborts on SIGTERM and removes its handlers on dispose', () => {
    const before = process.listenerCount('SIGTERM');
    const seen: string[] = [];
    const handlers = installSignalHandlers({ onSignal: (signal, repeated) => seen.push(`${signal}:${repeated}`) });
    expect(process.listenerCount('SIGTERM')).to.equal(before + 1);
    expect(handlers.signal.aborted).to.equal(false);
    process.emit('SIGTERM', 'SIGTERM');
    expect(handlers.signal.aborted).to.equal(true);
    expect(seen).to.deep.equal(['SIGTERM:false']);
    handlers.dispose();
    expect(process.listenerCount('SIGTERM')).to.equal(before);
  });

  it('aborts a given controller on SIGINT', () => {
    const controller = new AbortController();
    const handlers = installSignalHandlers({ controller, signals: ['SIGINT'], forceExitOnRepeat: false });
    process.emit('SIGINT', 'SIGINT');
    process.emit('SIGINT', 'SIGINT'); // repeated: no exit when told not to
    handlers.dispose();
    expect(controller.signal.aborted).to.equal(true);
  });
});
