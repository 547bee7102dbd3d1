//! Implements `accord:policy@0.2.0`: must be refused with a version error.
wit_bindgen::generate!({ path: "wit", world: "preflight-policy" });

struct Future;

impl exports::accord::policy::dispatch_preflight::Guest for Future {
    fn check(_step: u32) -> bool {
        true
    }
}

export!(Future);
