// @ts-check
/**
 * Accord's default late-accept routing, in JavaScript.
 *
 * A port of the Rust default (guest-policies/core/src/defaults.rs, `route`)
 * that passes the same fixtures (guest-policies/routing-default/fixtures/):
 *
 * - replied (a reply-inferred signal too: the reply itself is the
 *   evidence), already stamped, stopped or unreachable: ignore or stamp only;
 * - still before or on its wait-accept step in a running or paused
 *   campaign: advance (in time);
 * - past wait-accept (timed out, condition-skipped, completed, or further
 *   along the false branch), or the campaign completed: fire the follow-up
 *   message late, or stamp only when there is none;
 * - a stopped or draft campaign: stamp only.
 *
 * Built with componentize-js (`npm run build`); the types come from
 * wit/policy.wit by `jco guest-types` (`npm run types`).
 */

/** @typedef {import('accord:policy/late-accept-routing@0.1.0').RoutingInput} RoutingInput */
/** @typedef {import('accord:policy/late-accept-routing@0.1.0').RoutingDecision} RoutingDecision */
/** @typedef {import('accord:policy/late-accept-routing@0.1.0').IgnoreReason} IgnoreReason */
/** @typedef {import('accord:policy/late-accept-routing@0.1.0').StampOnlyReason} StampOnlyReason */
/** @typedef {import('accord:policy/types@0.1.0').CampaignStep} CampaignStep */

/**
 * @param {IgnoreReason} reason
 * @param {string} detail
 * @returns {RoutingDecision}
 */
function ignore(reason, detail) {
  return { tag: 'ignore', val: { reason, detail } };
}

/**
 * @param {StampOnlyReason} reason
 * @param {string} detail
 * @returns {RoutingDecision}
 */
function stampOnly(reason, detail) {
  return { tag: 'stamp-only', val: { reason, detail } };
}

/**
 * @param {CampaignStep[]} steps
 * @returns {number | undefined}
 */
function firstWaitAccept(steps) {
  const i = steps.findIndex((s) => s.tag === 'wait-accept');
  return i < 0 ? undefined : i;
}

/**
 * The message an accept unlocks: the accepted branch of the first
 * condition after wait-accept if it is a message, else the first message
 * after wait-accept.
 * @param {CampaignStep[]} steps
 * @param {number | undefined} waitAccept
 * @returns {number | undefined}
 */
export function followupStep(steps, waitAccept) {
  /** @param {number} i */
  const isMessage = (i) => steps[i]?.tag === 'send-message';
  const start = waitAccept === undefined ? 0 : waitAccept + 1;
  for (let i = start; i < steps.length; i++) {
    const step = steps[i];
    if (step.tag === 'condition' && isMessage(step.val.ifAccepted)) {
      return step.val.ifAccepted;
    }
    if (step.tag === 'send-message') {
      return i;
    }
  }
  return undefined;
}

/**
 * The slot's default decision, as a plain function over the bindings.
 * @param {RoutingInput} input
 * @returns {RoutingDecision}
 */
export function route(input) {
  const e = input.enrollment;
  // The enrollment is passed as it was before this accept, so for a
  // reply-inferred accept its repliedAt may still be empty: the signal
  // is the reply, and a reply stops automation.
  if (e.repliedAt != null || e.linkedinStatus === 'replied' || input.signal.source === 'reply-inferred') {
    return ignore('replied', 'the prospect already replied');
  }
  if (e.acceptedAt != null || e.lateAcceptObservedAt != null) {
    return ignore('already-stamped', 'the accept is already recorded');
  }
  if (e.workflowState === 'stopped') {
    return ignore('stopped', 'the enrollment left automation');
  }
  if (e.linkedinStatus === 'unreachable') {
    return stampOnly('unsafe-state', 'the provider reported the prospect unreachable; no automatic message');
  }
  const status = input.campaign.status;
  if (status === 'stopped') {
    return stampOnly('campaign-stopped', 'the campaign was stopped');
  }
  if (status === 'draft') {
    return stampOnly('unsafe-state', 'the campaign is a draft');
  }
  const waitAccept = firstWaitAccept(input.campaign.steps);
  const inTime =
    status !== 'completed' &&
    (e.workflowState === 'pending' || e.workflowState === 'active' || e.workflowState === 'waiting-accept') &&
    (waitAccept === undefined || e.stepIndex <= waitAccept);
  if (inTime) {
    return { tag: 'advance' };
  }
  const stepIndex = followupStep(input.campaign.steps, waitAccept);
  if (stepIndex === undefined) {
    return stampOnly('no-followup-step', 'no send_message step follows the accept in this workflow');
  }
  return { tag: 'late-auto-fire', val: stepIndex };
}

/** The export of the `routing-policy` world. */
export const lateAcceptRouting = {
  /**
   * @param {RoutingInput} input
   * @returns {RoutingDecision}
   */
  route(input) {
    return route(input);
  },
};
