//! The `gluey` binary's library half: the command line, `dev` mode, and the simulators that
//! `dev` and the end-to-end tests share (FedEx, UPS, DHL and a direct integrator pushing
//! credentialed events, a sample customer endpoint that verifies what it receives).

pub mod bench;
pub mod cli;
pub mod dev;
