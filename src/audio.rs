//! The audio thread's side, free of any plugin framework: the [`player`] (one block's policy: cuts,
//! panic, bypass, capture, the voice), the [`scheduler`] (beats → samples, the book of sounding
//! notes) and the built-in [`voice`]. Nothing here allocates, locks, logs or waits (except the
//! bounded offline lockstep, see `bridge::Lockstep`).

pub mod player;
pub mod scheduler;
pub(crate) mod voice;
