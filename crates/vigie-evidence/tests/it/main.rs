//! Integration tests of vigie-evidence: a golden export verified whole, then
//! broken in every way the format must catch.

mod forgery;
mod golden;
mod mutation;
mod structure;
