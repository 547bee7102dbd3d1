"""Accord's default match strategy, in Python.

A port of the Rust default (guest-policies/core/src/defaults.rs and
linkedin.rs) that passes the same fixtures
(guest-policies/match-default/fixtures/). Keys: exact provider ids
(`pid:`), the member number decoded from an `ACo…`/`ACw…` id (`num:`) and
normalised vanity slugs (`slug:`). `resolve` matches each candidate by the
first strategy that applies: invite bridge, member id, Sales Navigator
decode, public identifier.

Built with componentize-py (build.sh), which generates the module
`wit_world` it imports from wit/policy.wit.
"""

from typing import List, Optional, Tuple

from wit_world import exports
from wit_world.exports.match_strategy import Matched, MatchOutcome
from wit_world.imports.host import Level, log
from wit_world.imports.types import AcceptSignal, Enrollment, ProspectIdentity

INVITE_BRIDGE = "invite-bridge"
MEMBER_ID = "member-id"
SALES_NAV_DECODE = "sales-nav-decode"
PUBLIC_IDENTIFIER = "public-identifier"

# What a LinkedIn URL points at once normalised: ("slug", lowercased slug)
# or ("id", provider id, case kept: ids are case-sensitive).
Ref = Tuple[str, str]

BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def is_member_id(s: str) -> bool:
    """Whether `s` looks like a provider member id (`ACo…` or `ACw…`)."""
    return len(s) >= 12 and all(c in BASE64URL for c in s) and s[:3] in ("ACo", "ACw")


def decode_member_number(id: str) -> Optional[int]:
    """The numeric member id inside an `ACo…`/`ACw…` id: base64url-decode
    the first 12 characters and read bytes 2..8 as a big-endian number.
    Classic and Sales Navigator ids of one person share it."""
    if not is_member_id(id):
        return None
    bits = 0
    for c in id[:12]:
        bits = (bits << 6) | BASE64URL.index(c)
    data = bits.to_bytes(9, "big")
    number = int.from_bytes(data[2:8], "big")
    return number if number != 0 else None


def percent_decode(s: str) -> str:
    raw = s.encode("utf-8")
    out = bytearray()
    i = 0
    hexdigits = b"0123456789abcdefABCDEF"
    while i < len(raw):
        if raw[i] == 0x25 and i + 2 < len(raw) and raw[i + 1] in hexdigits and raw[i + 2] in hexdigits:
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
            continue
        out.append(raw[i])
        i += 1
    return out.decode("utf-8", errors="replace")


def normalize_slug(raw: str) -> Optional[Ref]:
    """A slug as LinkedIn compares them: percent-decoded and lowercased; a
    provider id in slug position is kept as an id."""
    decoded = percent_decode(raw.strip().strip("/"))
    if not decoded:
        return None
    if is_member_id(decoded):
        return ("id", decoded)
    return ("slug", decoded.lower())


def legacy_pub_slug(name: str, rest: List[str]) -> Optional[Ref]:
    """`/pub/first-last/1a/2b3/4c5` is the legacy form of
    `/in/first-last-4c52b31a`."""
    slug = percent_decode(name)
    if rest:
        slug += "-" + "".join(reversed(rest))
    return normalize_slug(slug)


def parse_profile_url(url: str) -> Optional[Ref]:
    """Normalises a profile or Sales Navigator URL: any scheme or none, any
    `*.linkedin.com` host, trailing slash, query and fragment,
    percent-encoding, `/in/` and legacy `/pub/` paths, `/sales/lead/<id>,…`
    and `/sales/people/<id>,…`."""
    url = url.strip()
    without_scheme = url
    if "://" in url:
        scheme, rest = url.split("://", 1)
        if "/" not in scheme:
            without_scheme = rest
    if "/" not in without_scheme:
        return None
    host, path = without_scheme.split("/", 1)
    host = host.rsplit("@", 1)[-1].split(":", 1)[0]
    # ASCII-only lowercasing, as hosts are compared.
    host = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in host)
    if host != "linkedin.com" and not host.endswith(".linkedin.com"):
        return None
    for stop in ("?", "#"):
        path = path.split(stop, 1)[0]
    segments = [s for s in path.split("/") if s]
    if len(segments) >= 2 and segments[0] == "in":
        return normalize_slug(segments[1])
    if len(segments) >= 2 and segments[0] == "pub":
        return legacy_pub_slug(segments[1], segments[2:])
    if len(segments) >= 3 and segments[0] == "sales" and segments[1] in ("lead", "people"):
        # Exports often percent-encode the commas (`%2CNAME_SEARCH%2C…`).
        id = percent_decode(segments[2]).split(",", 1)[0]
        return ("id", id) if is_member_id(id) else None
    return None


class Ids:
    """The identifiers of one side of a match, normalised, in first-seen
    order."""

    def __init__(self) -> None:
        self.provider_ids: List[str] = []
        self.numbers: List[int] = []
        self.slugs: List[str] = []

    def add_provider_id(self, id: str) -> None:
        id = id.strip()
        if not id:
            return
        number = decode_member_number(id)
        if number is not None and number not in self.numbers:
            self.numbers.append(number)
        if id not in self.provider_ids:
            self.provider_ids.append(id)

    def add_ref(self, ref: Optional[Ref]) -> None:
        if ref is None:
            return
        kind, value = ref
        if kind == "slug":
            if value not in self.slugs:
                self.slugs.append(value)
        else:
            self.add_provider_id(value)

    @staticmethod
    def of_identity(identity: ProspectIdentity) -> "Ids":
        ids = Ids()
        if identity.member_id is not None:
            ids.add_provider_id(identity.member_id)
        if identity.sales_nav_lead_url is not None:
            url = identity.sales_nav_lead_url
            ref = parse_profile_url(url)
            if ref is None:
                # A bare lead id is accepted too; anything else that is not
                # a LinkedIn URL is no key at all.
                bare = normalize_slug(url)
                ref = bare if bare is not None and bare[0] == "id" else None
            ids.add_ref(ref)
        if identity.profile_url is not None:
            ids.add_ref(parse_profile_url(identity.profile_url))
        if identity.public_identifier is not None:
            ids.add_ref(normalize_slug(identity.public_identifier))
        if identity.invited_provider_id is not None:
            ids.add_provider_id(identity.invited_provider_id)
        return ids

    @staticmethod
    def of_signal(signal: AcceptSignal) -> "Ids":
        ids = Ids()
        if signal.member_id is not None:
            ids.add_provider_id(signal.member_id)
        if signal.public_identifier is not None:
            ids.add_ref(normalize_slug(signal.public_identifier))
        if signal.profile_url is not None:
            ids.add_ref(parse_profile_url(signal.profile_url))
        return ids

    def keys(self) -> List[str]:
        return (
            ["pid:" + id for id in self.provider_ids]
            + ["num:" + str(n) for n in self.numbers]
            + ["slug:" + s for s in self.slugs]
        )


def match_one(seen: Ids, candidate: Enrollment) -> Optional[str]:
    identity = candidate.identity
    invited = []
    if candidate.invite is not None:
        invited.append(candidate.invite.provider_id)
    if identity.invited_provider_id is not None:
        invited.append(identity.invited_provider_id)
    if any(id in seen.provider_ids for id in invited):
        return INVITE_BRIDGE
    direct = identity.member_id is not None and identity.member_id.strip() in seen.provider_ids
    if not direct and identity.profile_url is not None:
        ref = parse_profile_url(identity.profile_url)
        direct = ref is not None and ref[0] == "id" and ref[1].strip() in seen.provider_ids
    if direct:
        return MEMBER_ID
    all = Ids.of_identity(identity)
    if any(n in seen.numbers for n in all.numbers):
        return SALES_NAV_DECODE
    if any(s in seen.slugs for s in all.slugs):
        return PUBLIC_IDENTIFIER
    return None


def prospect_keys(identity: ProspectIdentity) -> List[str]:
    """Exact provider ids, decoded member numbers and normalised slugs of
    everything the identity holds."""
    return Ids.of_identity(identity).keys()


def signal_keys(signal: AcceptSignal) -> List[str]:
    """The signal's keys, in the same key space as `prospect_keys`."""
    return Ids.of_signal(signal).keys()


def resolve(signal: AcceptSignal, candidates: List[Enrollment]) -> MatchOutcome:
    """Every candidate that matches by the first strategy that applies."""
    seen = Ids.of_signal(signal)
    outcome = MatchOutcome(matches=[], trace=[])
    for candidate in candidates:
        if any(m.enrollment_id == candidate.enrollment_id for m in outcome.matches):
            continue
        strategy = match_one(seen, candidate)
        if strategy is None:
            outcome.trace.append(f"{candidate.enrollment_id}: shares a key but no strategy matched")
        else:
            outcome.trace.append(f"{candidate.enrollment_id}: matched by {strategy}")
            outcome.matches.append(Matched(candidate.enrollment_id, strategy))
    if not candidates:
        outcome.trace.append("no candidates share a key with the signal")
    return outcome


class MatchStrategy(exports.MatchStrategy):
    def prospect_keys(self, identity: ProspectIdentity) -> List[str]:
        return prospect_keys(identity)

    def signal_keys(self, signal: AcceptSignal) -> List[str]:
        return signal_keys(signal)

    def resolve(self, signal: AcceptSignal, candidates: List[Enrollment]) -> MatchOutcome:
        outcome = resolve(signal, candidates)
        if not outcome.matches:
            log(Level.INFO, "no strategy matched any candidate")
        return outcome
