//! TFLite reading on hostile input; real models are checked in tests/framework.rs.

use crate::testing::scan;

#[test]
fn truncations_never_panic() {
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/benign/tflite_small.tflite"
    ))
    .unwrap();
    for cut in 0..sample.len() {
        let _ = scan(&sample[..cut]);
    }
    let mut flipped = sample.clone();
    for i in 8..flipped.len() {
        flipped[i] ^= 0x5a;
        let _ = scan(&flipped);
        flipped[i] ^= 0x5a;
    }
}
