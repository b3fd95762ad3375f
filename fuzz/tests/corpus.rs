//! The fuzz target's property on a fixed, reproducible set of inputs, so
//! that `cargo test` checks it on any toolchain.

#[test]
fn property_holds_on_seeded_inputs() {
    let accepted = ferry_fuzz::SeededInputs::new(1)
        .take(20_000)
        .filter(|input| ferry_fuzz::check(input))
        .count();
    // The generator must reach the encoder often, or it tests nothing.
    assert!(accepted > 2_000, "only {accepted} inputs accepted");
}

#[test]
fn property_holds_on_every_short_input() {
    // Every type and storage class, with every single-byte payload.
    for type_byte in 0..=u8::MAX {
        for class in 0..5 * 32 {
            for payload in [&[][..], b"0", b"1", b"-", b"\xff", b"\0"] {
                let mut input = vec![type_byte, 3, 1, class];
                input.extend_from_slice(payload);
                let _ = ferry_fuzz::check(&input);
                let mut input = vec![type_byte, class];
                input.extend_from_slice(payload);
                let _ = ferry_fuzz::check(&input);
            }
        }
    }
}
