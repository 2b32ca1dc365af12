/**
 * Wires process signals (SIGTERM from the orchestrator, SIGINT from a terminal) to an
 * AbortSignal for `JobRunner.run()`. The first signal aborts; a second one, while the runner
 * is still draining, exits the process at once (exit code 128 + signal number) unless
 * `forceExitOnRepeat` is false.
 */

export interface SignalHandlers {
  signal: AbortSignal;
  /** Removes the handlers (the signal stays as it is). */
  dispose(): void;
}

export interface SignalHandlerOptions {
  signals?: NodeJS.Signals[];
  controller?: AbortController;
  forceExitOnRepeat?: boolean;
  /** Told which signal arrived (for a log line). */
  onSignal?: (signal: NodeJS.Signals, repeated: boolean) => void;
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 };

export function installSignalHandlers(options: SignalHandlerOptions = {}): SignalHandlers {
  const { signals = ['SIGTERM', 'SIGINT'], controller = new AbortController(), forceExitOnRepeat = true } = options;
  const handler = (received: NodeJS.Signals): void => {
    const repeated = controller.signal.aborted;
    options.onSignal?.(received, repeated);
    if (!repeated) {
      controller.abort(new Error(`received ${received}`));
    } else if (forceExitOnRepeat) {
      process.exit(128 + (SIGNAL_NUMBERS[received] ?? 0));
    }
  };
  for (const name of signals) process.on(name, handler);
  return {
    signal: controller.signal,
    dispose: () => {
      for (const name of signals) process.off(name, handler);
    },
  };
}
