//! Test support shared by several integration-test binaries, each of which declares `mod common;`
//! at its root (so no support module includes a source file by path). What a binary does not
//! use of it is allowed to be dead there.

#![allow(dead_code)]

pub mod targets;
pub mod vrrp_states;
