// @ts-check
/**
 * Accord's default dispatch pre-flight, in JavaScript.
 *
 * A port of the Rust default (guest-policies/core/src/defaults.rs,
 * `preflight`) that passes the same fixtures
 * (guest-policies/preflight-default/fixtures/). The step must be a message,
 * the prospect must not have replied, the source's "already sent" column
 * must be empty, the account connected, the campaign running (completed is
 * allowed for the late-accept sources), the prospect a 1st-degree
 * connection, and no job may be queued for (enrollment, step).
 *
 * Built with componentize-js (`npm run build`); the types come from
 * wit/policy.wit by `jco guest-types` (`npm run types`).
 */

/** @typedef {import('accord:policy/dispatch-preflight@0.1.0').PreflightInput} PreflightInput */
/** @typedef {import('accord:policy/dispatch-preflight@0.1.0').PreflightDecision} PreflightDecision */
/** @typedef {import('accord:policy/dispatch-preflight@0.1.0').SkipReason} SkipReason */

/**
 * @param {SkipReason} reason
 * @param {boolean} recoverable
 * @param {string} detail
 * @returns {PreflightDecision}
 */
function skip(reason, recoverable, detail) {
  return { tag: 'skip', val: { reason, recoverable, detail } };
}

/**
 * The slot's default decision, as a plain function over the bindings.
 * @param {PreflightInput} input
 * @returns {PreflightDecision}
 */
export function preflight(input) {
  if (input.step.tag !== 'send-message') {
    return skip('invalid-step', false, 'only send_message steps are dispatched');
  }
  if (input.repliedAt != null || input.linkedinStatus === 'replied') {
    return skip('prospect-replied', false, 'the prospect replied; automation stops');
  }
  if (input.alreadySentAt != null) {
    return skip('already-sent', false, `already sent at ${input.alreadySentAt}`);
  }
  if (input.accountStatus !== 'connected') {
    return skip('account-not-connected', true, 'the LinkedIn account is not connected');
  }
  // A late accept may still send its one follow-up once every enrollment
  // of the campaign finished: the accept came after the workflow ended.
  const lateSource = input.source === 'late-auto-fire' || input.source === 'heal-late';
  const status = input.campaignStatus;
  if (status === 'paused') {
    return skip('campaign-paused', true, 'the campaign is paused');
  }
  if (!(status === 'running' || (status === 'completed' && lateSource))) {
    return skip('campaign-not-running', false, `the campaign is ${status}`);
  }
  if (input.linkedinStatus !== 'connected') {
    return skip('not-connected-to-prospect', false, 'messages go only to 1st-degree connections');
  }
  if (input.activeJobExists) {
    return skip('active-job-exists', false, 'a job for this step is already queued');
  }
  return { tag: 'enqueue', val: { stepIndex: input.stepIndex, notBefore: input.now } };
}

/** The export of the `preflight-policy` world. */
export const dispatchPreflight = {
  /**
   * @param {PreflightInput} input
   * @returns {PreflightDecision}
   */
  check(input) {
    return preflight(input);
  },
};
