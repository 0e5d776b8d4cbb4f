#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pck_and_tcb;
mod quote_parse;
mod relaunch;
mod verify_negative;
mod verify_samples;
