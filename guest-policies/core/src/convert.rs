//! One description of how each contract type maps to the Rust types a
//! bindings generator makes from `wit/policy.wit`, expanded by the host on
//! wasmtime's `bindgen!` types and by each guest on its `wit-bindgen` ones.
//!
//! The two generators emit distinct types (the host's and a guest's are
//! not even compiled for the same target), but with the same names, fields
//! and cases. So the mapping is written once here, as a macro each side
//! invokes on its own generated modules; it produces [`Convert`] in both
//! directions (the host lowers inputs and lifts answers, a guest the
//! reverse). Every record is destructured without `..` and every enum
//! matched without `_`: a field or case added to the contract or to
//! [`crate::types`] and not here fails to compile on both sides.
//!
//! ```ignore
//! accord_policy_core::wit_conversions!(types = crate::accord::policy::types);
//! accord_policy_core::wit_conversions!(
//!     match_strategy = crate::exports::accord::policy::match_strategy
//! );
//! ```

/// A value of one side of the contract turned into the other side's type:
/// a plain contract type of this crate into a generated one, or back.
pub trait Convert<T> {
    /// The same value as a `T`.
    fn convert(self) -> T;
}

/// Scalars and strings are the same type on both sides.
macro_rules! same_on_both_sides {
    ($($t:ty),*) => {
        $(impl Convert<$t> for $t {
            fn convert(self) -> $t {
                self
            }
        })*
    };
}

same_on_both_sides!(String, bool, u32, i64);

impl<A: Convert<B>, B> Convert<Option<B>> for Option<A> {
    fn convert(self) -> Option<B> {
        self.map(Convert::convert)
    }
}

impl<A: Convert<B>, B> Convert<Vec<B>> for Vec<A> {
    fn convert(self) -> Vec<B> {
        self.into_iter().map(Convert::convert).collect()
    }
}

/// Implements [`Convert`] both ways between this crate's contract types
/// and the generated types of one WIT interface, whose module is given by
/// path: `types`, `match_strategy`, `late_accept_routing` or
/// `dispatch_preflight` (a guest invokes `types` and its own slot's).
#[macro_export]
macro_rules! wit_conversions {
    (types = $($path:ident)::+) => {
        const _: () = {
            use $($path)::+ as wit;
            $crate::__convert_enum!(wit::SignalSource = SignalSource {
                Webhook, Polling, EngineAlreadyConnected, ReplyInferred, ManualResync,
            });
            $crate::__convert_record!(wit::AcceptSignal = AcceptSignal {
                source, linkedin_account_id, member_id, public_identifier, profile_url,
                full_name, observed_at,
            });
            $crate::__convert_record!(wit::ProspectIdentity = ProspectIdentity {
                profile_url, member_id, sales_nav_lead_url, public_identifier,
                invited_provider_id,
            });
            $crate::__convert_enum!(wit::CampaignStatus = CampaignStatus {
                Draft, Running, Paused, Completed, Stopped,
            });
            $crate::__convert_enum!(wit::AccountStatus = AccountStatus {
                Connected, Disconnected, Restricted, Connecting,
            });
            $crate::__convert_enum!(wit::LinkedinStatus = LinkedinStatus {
                NotInvited, Invited, Connected, Replied, ConditionSkipped, Unreachable,
            });
            $crate::__convert_variant!(wit::CampaignStep = CampaignStep {
                unit: [SendInvite, SendMessage],
                value: [WaitAccept { days }, Wait { days }],
                record: [Condition(ConditionBranches) { if_accepted, otherwise }],
            });
            $crate::__convert_enum!(wit::WorkflowState = WorkflowState {
                Pending, Active, WaitingAccept, TimedOut, ConditionSkipped, Completed, Stopped,
            });
            $crate::__convert_record!(wit::InviteInfo = InviteInfo { provider_id, sent_at });
            $crate::__convert_record!(wit::Enrollment = Enrollment {
                enrollment_id, campaign_id, identity, invite, campaign_status, linkedin_status,
                step_index, workflow_state, accepted_at, replied_at, late_accept_observed_at,
                late_accept_followup_sent_at,
            });
            $crate::__convert_record!(wit::Campaign = Campaign { campaign_id, status, steps });
        };
    };
    (match_strategy = $($path:ident)::+) => {
        const _: () = {
            use $($path)::+ as wit;
            $crate::__convert_record!(wit::Matched = Matched { enrollment_id, strategy });
            $crate::__convert_record!(wit::MatchOutcome = MatchOutcome { matches, trace });
        };
    };
    (late_accept_routing = $($path:ident)::+) => {
        const _: () = {
            use $($path)::+ as wit;
            $crate::__convert_enum!(wit::StampOnlyReason = StampOnlyReason {
                CampaignStopped, NoFollowupStep, UnsafeState, PolicyDeclined, PolicyError,
            });
            $crate::__convert_enum!(wit::IgnoreReason = IgnoreReason {
                AlreadyStamped, Replied, Stopped, NotInvited,
            });
            $crate::__convert_variant!(wit::RoutingDecision = Route {
                unit: [Advance],
                value: [LateAutoFire { step_index }],
                record: [
                    StampOnly(StampOnlyDetail) { reason, detail },
                    Ignore(IgnoreDetail) { reason, detail },
                ],
            });
            $crate::__convert_record!(wit::RoutingInput = RoutingInput {
                signal, enrollment, campaign, now,
            });
        };
    };
    (dispatch_preflight = $($path:ident)::+) => {
        const _: () = {
            use $($path)::+ as wit;
            $crate::__convert_enum!(wit::DispatchSource = DispatchSource {
                InTimeAdvance, LateAutoFire, HealLate, HealStuck, SkipRetry, Resume,
            });
            $crate::__convert_enum!(wit::SkipReason = SkipReason {
                AccountNotConnected, CampaignPaused, CampaignNotRunning, AlreadySent,
                ActiveJobExists, ProspectReplied, ConditionStepSkipped, ConcurrentAdvance,
                NotConnectedToProspect, InvalidStep, PolicyError,
            });
            $crate::__convert_record!(wit::PreflightInput = PreflightInput {
                source, enrollment_id, campaign_id, step_index, step, account_status,
                campaign_status, linkedin_status, already_sent_at, replied_at,
                active_job_exists, now,
            });
            $crate::__convert_variant!(wit::PreflightDecision = PreflightDecision {
                unit: [],
                value: [],
                record: [
                    Enqueue(Enqueue) { step_index, not_before },
                    Skip(Skip) { reason, recoverable, detail },
                ],
            });
        };
    };
}

/// A record: the same fields on both sides, each converted.
#[doc(hidden)]
#[macro_export]
macro_rules! __convert_record {
    ($w:ident :: $wit:ident = $core:ident { $($field:ident),* $(,)? }) => {
        impl $crate::convert::Convert<$w::$wit> for $crate::$core {
            fn convert(self) -> $w::$wit {
                let $crate::$core { $($field),* } = self;
                $w::$wit { $($field: $crate::convert::Convert::convert($field)),* }
            }
        }
        impl $crate::convert::Convert<$crate::$core> for $w::$wit {
            fn convert(self) -> $crate::$core {
                let $w::$wit { $($field),* } = self;
                $crate::$core { $($field: $crate::convert::Convert::convert($field)),* }
            }
        }
    };
}

/// An enum: the same cases on both sides, none carrying a value.
#[doc(hidden)]
#[macro_export]
macro_rules! __convert_enum {
    ($w:ident :: $wit:ident = $core:ident { $($case:ident),* $(,)? }) => {
        impl $crate::convert::Convert<$w::$wit> for $crate::$core {
            fn convert(self) -> $w::$wit {
                match self {
                    $($crate::$core::$case => $w::$wit::$case),*
                }
            }
        }
        impl $crate::convert::Convert<$crate::$core> for $w::$wit {
            fn convert(self) -> $crate::$core {
                match self {
                    $($w::$wit::$case => $crate::$core::$case),*
                }
            }
        }
    };
}

/// A WIT variant. Its cases carry nothing (`unit`), one value that the
/// contract type names as its only field (`value`), or a record whose
/// fields the contract type holds in the case itself (`record`, with the
/// record's generated name in parentheses).
#[doc(hidden)]
#[macro_export]
macro_rules! __convert_variant {
    ($w:ident :: $wit:ident = $core:ident {
        unit: [$($unit:ident),* $(,)?],
        value: [$($value:ident { $value_field:ident }),* $(,)?],
        record: [$($record:ident ( $payload:ident ) { $($field:ident),* $(,)? }),* $(,)?] $(,)?
    }) => {
        impl $crate::convert::Convert<$w::$wit> for $crate::$core {
            fn convert(self) -> $w::$wit {
                match self {
                    $($crate::$core::$unit => $w::$wit::$unit,)*
                    $($crate::$core::$value { $value_field } => {
                        $w::$wit::$value($crate::convert::Convert::convert($value_field))
                    })*
                    $($crate::$core::$record { $($field),* } => $w::$wit::$record($w::$payload {
                        $($field: $crate::convert::Convert::convert($field)),*
                    }),)*
                }
            }
        }
        impl $crate::convert::Convert<$crate::$core> for $w::$wit {
            fn convert(self) -> $crate::$core {
                match self {
                    $($w::$wit::$unit => $crate::$core::$unit,)*
                    $($w::$wit::$value($value_field) => $crate::$core::$value {
                        $value_field: $crate::convert::Convert::convert($value_field),
                    },)*
                    $($w::$wit::$record($w::$payload { $($field),* }) => $crate::$core::$record {
                        $($field: $crate::convert::Convert::convert($field)),*
                    },)*
                }
            }
        }
    };
}
