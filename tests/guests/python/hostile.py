"""A Python policy that misbehaves on demand, in all three slots; the mode
is the signal's full name (match), or the enrollment id (routing,
pre-flight). "loop" never returns, "grow" allocates until memory runs
out, "raise" raises; any other mode decides normally (keys ["hostile"],
advance, enqueue now)."""

from typing import List

from wit_world import exports
from wit_world.exports.dispatch_preflight import (
    Enqueue,
    PreflightDecision,
    PreflightDecision_Enqueue,
    PreflightInput,
)
from wit_world.exports.late_accept_routing import (
    RoutingDecision,
    RoutingDecision_Advance,
    RoutingInput,
)
from wit_world.exports.match_strategy import MatchOutcome
from wit_world.imports.types import AcceptSignal, Enrollment, ProspectIdentity


def misbehave(mode: str) -> None:
    if mode == "loop":
        n = 0
        while True:
            n += 1
    if mode == "grow":
        hoard = []
        while True:
            # A fresh MiB each time, kept alive: memory grows until the cap.
            hoard.append(bytearray(1 << 20))
    if mode == "raise":
        raise RuntimeError("hostile guest raised on purpose")


class MatchStrategy(exports.MatchStrategy):
    def prospect_keys(self, identity: ProspectIdentity) -> List[str]:
        misbehave(identity.public_identifier or "")
        return ["hostile"]

    def signal_keys(self, signal: AcceptSignal) -> List[str]:
        misbehave(signal.full_name or "")
        return ["hostile"]

    def resolve(self, signal: AcceptSignal, candidates: List[Enrollment]) -> MatchOutcome:
        misbehave(signal.full_name or "")
        return MatchOutcome(matches=[], trace=[])


class LateAcceptRouting(exports.LateAcceptRouting):
    def route(self, input: RoutingInput) -> RoutingDecision:
        misbehave(input.enrollment.enrollment_id)
        return RoutingDecision_Advance()


class DispatchPreflight(exports.DispatchPreflight):
    def check(self, input: PreflightInput) -> PreflightDecision:
        misbehave(input.enrollment_id)
        return PreflightDecision_Enqueue(Enqueue(input.step_index, input.now))
