"""Accord's default dispatch pre-flight, in Python.

A port of the Rust default (guest-policies/core/src/defaults.rs,
`preflight`) that passes the same fixtures
(guest-policies/preflight-default/fixtures/). The step must be a message,
the prospect must not have replied, the source's "already sent" column
must be empty, the account connected, the campaign running (completed is
allowed for the late-accept sources), the prospect a 1st-degree
connection, and no job may be queued for (enrollment, step).

Built with componentize-py (build.sh), which generates the module
`wit_world` it imports from wit/policy.wit.
"""

from wit_world import exports
from wit_world.exports.dispatch_preflight import (
    DispatchSource,
    Enqueue,
    PreflightDecision,
    PreflightDecision_Enqueue,
    PreflightDecision_Skip,
    PreflightInput,
    Skip,
    SkipReason,
)
from wit_world.imports.types import (
    AccountStatus,
    CampaignStatus,
    CampaignStep_SendMessage,
    LinkedinStatus,
)


def skip(reason: SkipReason, recoverable: bool, detail: str) -> PreflightDecision:
    return PreflightDecision_Skip(Skip(reason, recoverable, detail))


def preflight(input: PreflightInput) -> PreflightDecision:
    """The slot's default decision, as a plain function over the bindings."""
    if not isinstance(input.step, CampaignStep_SendMessage):
        return skip(SkipReason.INVALID_STEP, False, "only send_message steps are dispatched")
    if input.replied_at is not None or input.linkedin_status == LinkedinStatus.REPLIED:
        return skip(SkipReason.PROSPECT_REPLIED, False, "the prospect replied; automation stops")
    if input.already_sent_at is not None:
        return skip(SkipReason.ALREADY_SENT, False, f"already sent at {input.already_sent_at}")
    if input.account_status != AccountStatus.CONNECTED:
        return skip(SkipReason.ACCOUNT_NOT_CONNECTED, True, "the LinkedIn account is not connected")
    # A late accept may still send its one follow-up once every enrollment
    # of the campaign finished: the accept came after the workflow ended.
    late_source = input.source in (DispatchSource.LATE_AUTO_FIRE, DispatchSource.HEAL_LATE)
    status = input.campaign_status
    if status == CampaignStatus.PAUSED:
        return skip(SkipReason.CAMPAIGN_PAUSED, True, "the campaign is paused")
    if not (status == CampaignStatus.RUNNING or (status == CampaignStatus.COMPLETED and late_source)):
        return skip(SkipReason.CAMPAIGN_NOT_RUNNING, False, f"the campaign is {status.name.lower()}")
    if input.linkedin_status != LinkedinStatus.CONNECTED:
        return skip(SkipReason.NOT_CONNECTED_TO_PROSPECT, False, "messages go only to 1st-degree connections")
    if input.active_job_exists:
        return skip(SkipReason.ACTIVE_JOB_EXISTS, False, "a job for this step is already queued")
    return PreflightDecision_Enqueue(Enqueue(input.step_index, input.now))


class DispatchPreflight(exports.DispatchPreflight):
    def check(self, input: PreflightInput) -> PreflightDecision:
        return preflight(input)
