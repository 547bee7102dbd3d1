// A JavaScript policy that misbehaves on demand, in all three slots; the
// mode is the signal's full name (match), or the enrollment id (routing,
// pre-flight). "loop" never returns, "grow" allocates until memory runs
// out, "raise" throws; any other mode decides normally (keys ["hostile"],
// advance, enqueue now).

/** @param {string} mode */
function misbehave(mode) {
  if (mode === 'loop') {
    let n = 0;
    for (;;) n++;
  }
  if (mode === 'grow') {
    const hoard = [];
    // A fresh MiB each time, written so it is really backed, kept alive.
    for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
  }
  if (mode === 'raise') {
    throw new Error('hostile guest raised on purpose');
  }
}

export const matchStrategy = {
  prospectKeys(identity) {
    misbehave(identity.publicIdentifier ?? '');
    return ['hostile'];
  },
  signalKeys(signal) {
    misbehave(signal.fullName ?? '');
    return ['hostile'];
  },
  resolve(signal, candidates) {
    misbehave(signal.fullName ?? '');
    return { matches: [], trace: [] };
  },
};

export const lateAcceptRouting = {
  route(input) {
    misbehave(input.enrollment.enrollmentId);
    return { tag: 'advance' };
  },
};

export const dispatchPreflight = {
  check(input) {
    misbehave(input.enrollmentId);
    return { tag: 'enqueue', val: { stepIndex: input.stepIndex, notBefore: input.now } };
  },
};
