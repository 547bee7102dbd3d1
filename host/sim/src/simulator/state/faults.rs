//! Fault knobs: injected failures (the next calls on a path answer an
//! error, possibly after acting) and forced catalogued errors for an
//! action towards a person. The HTTP layer asks `take_fault` and the
//! answers ask `forced_error`; apart so a healthy answer reads alone.

use super::SimWorld;
use super::wire::SimFailure;

/// An action a forced error applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimAction {
    /// `POST /api/v1/users/invite`.
    Invite,
    /// `POST /api/v1/chats` and `POST /api/v1/chats/{id}/messages`.
    Message,
    /// `GET /api/v1/users/{identifier}`.
    Profile,
}

/// Failures injected into the next matching calls.
#[derive(Debug, Clone)]
pub(super) struct Fault {
    /// Matching calls still let through before the fault applies.
    pub(super) pass: u32,
    pub(super) remaining: u32,
    pub(super) failure: SimFailure,
    /// The call is carried out before the failure is answered (a timeout
    /// after acting): the caller cannot tell it happened.
    pub(super) acts: bool,
    /// `None`: any path; else a route template or concrete path, optionally
    /// prefixed by a method (`POST /api/v1/users/invite`).
    pub(super) scope: Option<String>,
}

/// A catalogued error answered for an action until cleared.
#[derive(Debug, Clone)]
pub(super) struct Forced {
    pub(super) action: SimAction,
    pub(super) person: Option<usize>,
    pub(super) kind: String,
}

impl SimWorld {
    /// The next `n` calls (matching `scope`, if given) answer `failure`.
    pub fn add_fault(&mut self, n: u32, failure: SimFailure, scope: Option<&str>) {
        self.push_fault(0, n, failure, scope, false);
    }

    /// Like [`SimWorld::add_fault`], but the call is carried out first and
    /// its answer replaced by the failure (a timeout after acting).
    pub fn add_fault_after_acting(&mut self, n: u32, failure: SimFailure, scope: Option<&str>) {
        self.push_fault(0, n, failure, scope, true);
    }

    /// After `pass` matching calls are answered normally, the next `n`
    /// answer `failure` (e.g. page 2 of a list fails, page 1 does not).
    pub fn add_fault_after(&mut self, pass: u32, n: u32, failure: SimFailure, scope: Option<&str>) {
        self.push_fault(pass, n, failure, scope, false);
    }

    fn push_fault(
        &mut self,
        pass: u32,
        n: u32,
        failure: SimFailure,
        scope: Option<&str>,
        acts: bool,
    ) {
        if n > 0 {
            self.faults.push(Fault {
                pass,
                remaining: n,
                failure,
                acts,
                scope: scope.map(str::to_string),
            });
        }
    }

    /// Removes every pending fault.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// `action` towards `person` (or anyone, when `None`) answers the
    /// catalogued error `kind` until cleared. False if the person is unknown.
    pub fn force_error(&mut self, action: SimAction, person: Option<&str>, kind: &str) -> bool {
        let person = match person {
            Some(p) => match self.find_person(p) {
                Some(i) => Some(i),
                None => return false,
            },
            None => None,
        };
        self.forced.push(Forced {
            action,
            person,
            kind: kind.trim_start_matches("errors/").to_string(),
        });
        true
    }

    /// Removes every forced error.
    pub fn clear_forced(&mut self) {
        self.forced.clear();
    }

    /// Takes one unit of the first fault matching the call: the failure,
    /// and whether the call is carried out before it is answered.
    pub fn take_fault(
        &mut self,
        method: &str,
        path: &str,
        route: &str,
    ) -> Option<(SimFailure, bool)> {
        let pos = self.faults.iter().position(|f| match &f.scope {
            None => true,
            Some(scope) => {
                let (m, p) = match scope.split_once(' ') {
                    Some((m, p)) => (Some(m), p),
                    None => (None, scope.as_str()),
                };
                m.is_none_or(|m| m.eq_ignore_ascii_case(method)) && (p == path || p == route)
            }
        })?;
        let fault = &mut self.faults[pos];
        if fault.pass > 0 {
            fault.pass -= 1;
            return None;
        }
        fault.remaining -= 1;
        let taken = (fault.failure.clone(), fault.acts);
        if fault.remaining == 0 {
            self.faults.remove(pos);
        }
        Some(taken)
    }

    pub(super) fn forced_error(
        &self,
        action: SimAction,
        person: Option<usize>,
    ) -> Result<(), SimFailure> {
        match self
            .forced
            .iter()
            .find(|f| f.action == action && (f.person.is_none() || f.person == person))
        {
            Some(f) => Err(SimFailure::known(&f.kind, "forced by the simulator")),
            None => Ok(()),
        }
    }
}
