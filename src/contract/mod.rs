//! The definitions as a contract both teams sign: the glossary (`glossary`),
//! approval status and sign-off (`approval`), checks against the data (`check`), and
//! the impact of a change (`diff`).

pub mod approval;
pub mod check;
pub mod diff;
pub mod glossary;
