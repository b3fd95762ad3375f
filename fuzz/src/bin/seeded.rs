//! Runs `ferry_fuzz::check` on pseudo-random inputs from a fixed seed for
//! a number of seconds (first argument, default 60): the fuzz target's
//! property, on toolchains where libFuzzer is not available.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use ferry_fuzz::SeededInputs;

fn main() {
    let seconds: u64 = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 60,
        Some(Ok(seconds)) => seconds,
        Some(Err(_)) => {
            eprintln!("usage: seeded [SECONDS]");
            std::process::exit(2);
        }
    };
    let seed = 0x5eed_f3a7;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut checked, mut accepted) = (0u64, 0u64);
    for input in SeededInputs::new(seed) {
        accepted += u64::from(ferry_fuzz::check(&input));
        checked += 1;
        // The clock is read every 1,024 inputs; at least a few thousand run.
        if checked % 1024 == 0 && checked >= 4096 && Instant::now() >= deadline {
            break;
        }
    }
    println!(
        "seeded run: {checked} inputs from seed {seed:#x} in {seconds}s ({accepted} accepted by \
         the coercion, encoded and decoded back); the property held"
    );
}
