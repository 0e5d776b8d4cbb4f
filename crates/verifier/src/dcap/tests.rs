#![allow(clippy::unwrap_used, clippy::expect_used)]

mod quote_parse;
mod verify_negative;
mod verify_samples;
