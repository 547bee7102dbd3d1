//! Hot swap under concurrency: calls in flight finish on the module they
//! started with, new calls use the new one, none fail.

use crate::support::*;
use accord::policy::{PolicyRegistry, Slot};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[test]
fn eight_deciders_and_a_hundred_swaps_lose_nothing() {
    let rt = Arc::new(runtime());
    let registry = Arc::new(PolicyRegistry::with_defaults(rt.clone()).unwrap());
    let old = registry.active(Slot::Match);
    let new = guest_module(&rt, "hostile_match", Slot::Match);
    let expected: HashMap<String, &str> = [
        (old.sha256().to_string(), "invite-bridge"),
        (new.sha256().to_string(), "hostile"),
    ]
    .into();
    let stop = Arc::new(AtomicBool::new(false));

    let deciders: Vec<_> = (0..8)
        .map(|_| {
            let (registry, stop, expected) = (registry.clone(), stop.clone(), expected.clone());
            std::thread::spawn(move || {
                let (mut calls, mut seen) = (0u32, HashMap::<String, u32>::new());
                let candidates = [enrollment("e1")];
                while !stop.load(Ordering::Relaxed) || calls < 20 {
                    let d = registry.resolve(&signal("Julien"), &candidates);
                    assert!(
                        d.error.is_none(),
                        "a call failed during a swap: {:?}",
                        d.error
                    );
                    let strategy = expected
                        .get(&*d.module_sha256)
                        .expect("decided by the old or the new module");
                    assert_eq!(d.value.matches.len(), 1);
                    assert_eq!(
                        &d.value.matches[0].strategy, strategy,
                        "decision and module agree"
                    );
                    *seen.entry(d.module_sha256.to_string()).or_default() += 1;
                    calls += 1;
                }
                seen
            })
        })
        .collect();

    for i in 0..100 {
        let next = if i % 2 == 0 { new.clone() } else { old.clone() };
        let previous = registry.activate(next);
        assert_ne!(previous.sha256(), registry.active(Slot::Match).sha256());
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
    stop.store(true, Ordering::Relaxed);

    let mut total: HashMap<String, u32> = HashMap::new();
    for d in deciders {
        for (sha, n) in d.join().expect("no decider panicked") {
            *total.entry(sha).or_default() += n;
        }
    }
    assert_eq!(total.len(), 2, "both modules decided: {total:?}");
    assert_eq!(
        registry.active(Slot::Match).sha256(),
        old.sha256(),
        "100 swaps end on the old module"
    );
}
