//! What tuneguard, running as root on a host where other users run processes and own
//! files, may trust: one home per kind of decision, so a reviewer reads the whole policy
//! in one place (docs/security.md is the threat model and says how each rule is tested).
//!
//! - `owner`: whether a path is under root's sole control (owned by root, not writable
//!   by group or others, and the same for every directory above it): the sshd StrictModes
//!   and sudo rule, used for what may be executed, the state directory and site profiles.
//! - `exec`: which program tuneguard may execute (nginx found through a process, in
//!   PATH, or named with `--nginx-bin`) and which process's command line it may believe.
//! - `tree`: what may be read: files below a directory held open, links followed only
//!   inside it, regular files only, opened without blocking, read up to a cap per kind.
//! - `profiles`: which site profiles may be read: `<root>/etc/tuneguard/profiles.d`, each
//!   profile in it and every directory up to `--root` under root's sole control.
//! - `state`: the state directory and every file read or written in it (root only,
//!   0700, no links followed, no FIFOs), and that apply, rollback and recover run as root.
//! - `journal`: what a journal may say before recover or rollback acts on it.
//! - `binary`: which program file's bytes are believed (the nginx version, read from
//!   the binary, never by running it): root's alone, inside `--root` when given.
//! - `capture`: where `capture -o` may write (a new directory or archive of root's).
//! - `archive`: what a capture archive (`--capture FILE.tar.gz`, hostile input) may hold
//!   and how it is extracted: entry by entry, by our rules, into a private directory.
//! - `netns`: which namespace files `--all-netns` opens to enter (/run/netns only while
//!   root's alone, never a link or a FIFO, only nsfs files, still the namespace found).

pub mod archive;
pub mod binary;
pub mod capture;
pub mod exec;
pub mod journal;
pub mod netns;
pub mod owner;
pub mod profiles;
pub mod state;
pub mod tree;
