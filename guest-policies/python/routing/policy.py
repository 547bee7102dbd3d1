"""Accord's default late-accept routing, in Python.

A port of the Rust default (guest-policies/core/src/defaults.rs, `route`)
that passes the same fixtures (guest-policies/routing-default/fixtures/):

- replied (a reply-inferred signal too: the reply itself is the
  evidence), already stamped, stopped or unreachable: ignore or stamp only;
- still before or on its wait-accept step in a running or paused
  campaign: advance (in time);
- past wait-accept (timed out, condition-skipped, completed, or further
  along the false branch), or the campaign completed: fire the follow-up
  message late, or stamp only when there is none;
- a stopped or draft campaign: stamp only.

Built with componentize-py (build.sh), which generates the module
`wit_world` it imports from wit/policy.wit.
"""

from typing import List, Optional

from wit_world import exports
from wit_world.exports.late_accept_routing import (
    IgnoreDetail,
    IgnoreReason,
    RoutingDecision,
    RoutingDecision_Advance,
    RoutingDecision_Ignore,
    RoutingDecision_LateAutoFire,
    RoutingDecision_StampOnly,
    RoutingInput,
    StampOnlyDetail,
    StampOnlyReason,
)
from wit_world.imports.types import (
    CampaignStatus,
    CampaignStep,
    CampaignStep_Condition,
    CampaignStep_SendMessage,
    CampaignStep_WaitAccept,
    LinkedinStatus,
    SignalSource,
    WorkflowState,
)


def ignore(reason: IgnoreReason, detail: str) -> RoutingDecision:
    return RoutingDecision_Ignore(IgnoreDetail(reason, detail))


def stamp_only(reason: StampOnlyReason, detail: str) -> RoutingDecision:
    return RoutingDecision_StampOnly(StampOnlyDetail(reason, detail))


def first_wait_accept(steps: List[CampaignStep]) -> Optional[int]:
    for i, step in enumerate(steps):
        if isinstance(step, CampaignStep_WaitAccept):
            return i
    return None


def followup_step(steps: List[CampaignStep], wait_accept: Optional[int]) -> Optional[int]:
    """The message an accept unlocks: the accepted branch of the first
    condition after wait-accept if it is a message, else the first
    message after wait-accept."""

    def is_message(i: int) -> bool:
        return 0 <= i < len(steps) and isinstance(steps[i], CampaignStep_SendMessage)

    start = 0 if wait_accept is None else wait_accept + 1
    for i in range(start, len(steps)):
        step = steps[i]
        if isinstance(step, CampaignStep_Condition) and is_message(step.value.if_accepted):
            return step.value.if_accepted
        if isinstance(step, CampaignStep_SendMessage):
            return i
    return None


def route(input: RoutingInput) -> RoutingDecision:
    """The slot's default decision, as a plain function over the bindings."""
    e = input.enrollment
    # The enrollment is passed as it was before this accept, so for a
    # reply-inferred accept its replied_at may still be empty: the signal
    # is the reply, and a reply stops automation.
    if (
        e.replied_at is not None
        or e.linkedin_status == LinkedinStatus.REPLIED
        or input.signal.source == SignalSource.REPLY_INFERRED
    ):
        return ignore(IgnoreReason.REPLIED, "the prospect already replied")
    if e.accepted_at is not None or e.late_accept_observed_at is not None:
        return ignore(IgnoreReason.ALREADY_STAMPED, "the accept is already recorded")
    if e.workflow_state == WorkflowState.STOPPED:
        return ignore(IgnoreReason.STOPPED, "the enrollment left automation")
    if e.linkedin_status == LinkedinStatus.UNREACHABLE:
        return stamp_only(
            StampOnlyReason.UNSAFE_STATE,
            "the provider reported the prospect unreachable; no automatic message",
        )
    status = input.campaign.status
    if status == CampaignStatus.STOPPED:
        return stamp_only(StampOnlyReason.CAMPAIGN_STOPPED, "the campaign was stopped")
    if status == CampaignStatus.DRAFT:
        return stamp_only(StampOnlyReason.UNSAFE_STATE, "the campaign is a draft")
    wait_accept = first_wait_accept(input.campaign.steps)
    in_time = (
        status != CampaignStatus.COMPLETED
        and e.workflow_state
        in (WorkflowState.PENDING, WorkflowState.ACTIVE, WorkflowState.WAITING_ACCEPT)
        and (wait_accept is None or e.step_index <= wait_accept)
    )
    if in_time:
        return RoutingDecision_Advance()
    step_index = followup_step(input.campaign.steps, wait_accept)
    if step_index is None:
        return stamp_only(
            StampOnlyReason.NO_FOLLOWUP_STEP,
            "no send_message step follows the accept in this workflow",
        )
    return RoutingDecision_LateAutoFire(step_index)


class LateAcceptRouting(exports.LateAcceptRouting):
    def route(self, input: RoutingInput) -> RoutingDecision:
        return route(input)
