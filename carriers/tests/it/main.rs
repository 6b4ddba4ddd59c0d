//! The carrier formats' tests, in one test binary: golden fixtures, every mapped code, error
//! cases and properties that parse and split never panic, one module per format.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken assumptions

mod support;

mod csv_feed;
mod dhl;
mod direct;
mod fedex;
mod fixtures;
mod royalmail;
mod ups;
mod usps;
mod x12;
