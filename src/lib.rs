//! tuneguard: audit and fix the Linux and nginx settings that decide whether a server
//! accepts, keeps and closes TCP connections well.
//!
//! Shape: `host` reads, `audit` decides, `report` tells. `catalog` says what
//! every key means; `profile` says what a kind of server needs.

pub mod ansible;
pub mod audit;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod host;
pub mod kversion;
pub mod observe;
pub mod plan;
pub mod profile;
pub mod report;
pub mod safety;
pub mod suggest;
pub mod txn;
pub mod words;
