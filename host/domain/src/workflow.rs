//! Campaign workflow stepping, as a pure function of the steps, the
//! position and what just happened. The engine and the accept pipeline
//! persist what it returns.

use crate::clock::{DAY_MS, Millis};
use crate::domain::StepDef;
use accord_policy_core::WorkflowState;

/// What the enrollment must do at its new position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAction {
    /// Enqueue a send_invite job for this step.
    SendInvite,
    /// Enqueue a send_message job for this step (through pre-flight).
    SendMessage,
    /// Nothing until `next_run_at` (a wait, a wait_accept) or forever (an end).
    None,
}

/// Where an enrollment lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Landing {
    /// The step index (== steps.len() at the end).
    pub step_index: u32,
    /// The workflow state there.
    pub state: WorkflowState,
    /// When the step is due (wait end, wait_accept timeout).
    pub next_run_at: Option<Millis>,
    /// The job to enqueue, if any.
    pub action: StepAction,
}

/// Enters step `index` at `now`. `accepted` says whether the accept is
/// stamped, which decides wait_accept (skipped when accepted) and
/// conditions. Conditions take no time, so entering one enters its target.
pub fn enter(steps: &[StepDef], index: u32, now: Millis, accepted: bool) -> Landing {
    let mut index = index;
    // Branches only point forward (validated), so this ends in ≤ len hops.
    for _ in 0..=steps.len() {
        let Some(step) = steps.get(index as usize) else {
            return end(steps, WorkflowState::Completed);
        };
        match step {
            StepDef::SendInvite { .. } => {
                return at(index, WorkflowState::Active, None, StepAction::SendInvite);
            }
            StepDef::SendMessage { .. } => {
                return at(index, WorkflowState::Active, None, StepAction::SendMessage);
            }
            StepDef::Wait { days } => {
                return at(
                    index,
                    WorkflowState::Active,
                    Some(now + *days as i64 * DAY_MS),
                    StepAction::None,
                );
            }
            StepDef::WaitAccept { days } if !accepted => {
                return at(
                    index,
                    WorkflowState::WaitingAccept,
                    Some(now + *days as i64 * DAY_MS),
                    StepAction::None,
                );
            }
            StepDef::WaitAccept { .. } => index += 1,
            StepDef::Condition {
                if_accepted,
                otherwise,
            } => match (accepted, otherwise) {
                (true, _) => index = *if_accepted,
                (false, Some(o)) => index = *o,
                (false, None) => return end(steps, WorkflowState::ConditionSkipped),
            },
        }
    }
    end(steps, WorkflowState::Completed)
}

/// After a wait_accept at `index` timed out: a condition right after it
/// takes its false branch; anything else ends the workflow as timed out
/// (a message to a non-connection would fail, and retrying it is the
/// retry storm the engine must never start).
pub fn after_timeout(steps: &[StepDef], index: u32, now: Millis) -> Landing {
    let next = index + 1;
    match steps.get(next as usize) {
        Some(StepDef::Condition { .. }) => enter(steps, next, now, false),
        _ => end(steps, WorkflowState::TimedOut),
    }
}

fn at(
    step_index: u32,
    state: WorkflowState,
    next_run_at: Option<Millis>,
    action: StepAction,
) -> Landing {
    Landing {
        step_index,
        state,
        next_run_at,
        action,
    }
}

fn end(steps: &[StepDef], state: WorkflowState) -> Landing {
    Landing {
        step_index: steps.len() as u32,
        state,
        next_run_at: None,
        action: StepAction::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Vec<StepDef> {
        vec![
            StepDef::SendInvite { note: None },
            StepDef::WaitAccept { days: 7 },
            StepDef::Condition {
                if_accepted: 3,
                otherwise: None,
            },
            StepDef::SendMessage { text: "hi".into() },
            StepDef::Wait { days: 3 },
            StepDef::SendMessage {
                text: "again".into(),
            },
        ]
    }

    #[test]
    fn an_accept_during_wait_accept_reaches_the_message() {
        let l = enter(&example(), 2, 0, true);
        assert_eq!((l.step_index, l.action), (3, StepAction::SendMessage));
    }

    #[test]
    fn a_timeout_routes_to_condition_skipped() {
        let l = after_timeout(&example(), 1, 0);
        assert_eq!(
            (l.step_index, l.state),
            (6, WorkflowState::ConditionSkipped)
        );
    }

    #[test]
    fn waits_set_their_due_time_and_the_end_completes() {
        let l = enter(&example(), 4, 1_000, true);
        assert_eq!(l.next_run_at, Some(1_000 + 3 * DAY_MS));
        assert_eq!(
            enter(&example(), 6, 0, true).state,
            WorkflowState::Completed
        );
        let w = enter(&example(), 1, 0, false);
        assert_eq!(
            (w.state, w.next_run_at),
            (WorkflowState::WaitingAccept, Some(7 * DAY_MS))
        );
    }

    #[test]
    fn a_timeout_without_condition_ends_timed_out() {
        let steps = vec![
            StepDef::SendInvite { note: None },
            StepDef::WaitAccept { days: 1 },
            StepDef::SendMessage { text: "x".into() },
        ];
        assert_eq!(after_timeout(&steps, 1, 0).state, WorkflowState::TimedOut);
    }
}
