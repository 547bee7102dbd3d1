//! Misbehaviours shared by the hostile guests, selected by a mode string
//! carried in the input. Each returns normally only to report what the
//! sandbox let it see.
#![allow(dead_code)]

use std::hint::black_box;

/// Runs the misbehaviour named `mode`; returns a report string for the
/// modes that observe the sandbox, `None` for "benign".
pub fn misbehave(mode: &str) -> Option<String> {
    match mode {
        "loop" => loop {
            black_box(0u8);
        },
        "grow" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                // Allocation only (no fill): memory grows fast, fuel barely moves.
                let mut block = Vec::<u8>::with_capacity(1 << 20);
                block.push(1);
                hoard.push(block);
                black_box(&hoard);
            }
        }
        "recurse" => Some(recurse(black_box(1)).to_string()),
        "panic" => panic!("hostile guest panicked on purpose"),
        "file" => Some(match std::fs::read_to_string("/etc/passwd") {
            Ok(text) => format!("file:read:{}", text.len()),
            Err(e) => format!("file:denied:{:?}", e.kind()),
        }),
        "env" => Some(format!(
            "env:{}",
            std::env::vars().count() + std::env::args().count()
        )),
        "clock" => Some(format!(
            "clock:{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(u64::MAX)
        )),
        "exit" => std::process::exit(3),
        // The standard library's sleep: a monotonic-clock subscription the
        // guest blocks on.
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_secs(10));
            Some("slept".into())
        }
        _ => None,
    }
}

#[allow(unconditional_recursion)]
fn recurse(n: u64) -> u64 {
    let frame = black_box([n; 64]);
    recurse(frame[0] + 1) + frame[63]
}

/// A string of `bytes` bytes.
pub fn huge(bytes: usize) -> String {
    "x".repeat(bytes)
}
